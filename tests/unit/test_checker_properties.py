"""Properties of the oracle over generated histories (Hypothesis).

- a serial history, each write reading the state the previous one left, never shows a lost update,
  whatever strategy shape (full row or dirty fields) the writes had;
- re-running the last write from a stale read with a full-row write always does.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from race_harness.checkers import check
from race_harness.model import Intent

from .histories import Story

FIELDS = ["a", "b", "c", "kv:x", "kv:y"]
writes = st.lists(st.tuples(st.sampled_from(FIELDS), st.booleans()), min_size=2, max_size=12)


def serial(plan: list[tuple[str, bool]]) -> tuple[Story, dict[str, object]]:
    s = Story({1: {"a": "0", "b": "0", "c": "0", "kv:x": "0"}})
    state = dict(s.initial[1])
    for i, (fld, full_row) in enumerate(plan):
        value = f"v{i}"
        new = Intent(sets={fld: value}).apply(state)
        written = dict(new) if full_row else {fld: value}
        s.write(i, i * 10, i * 10 + 5, sets={fld: value}, read=state, written=written, version=i + 1)
        state = new
    return s, state


@given(writes)
def test_serial_histories_lose_nothing(plan: list[tuple[str, bool]]) -> None:
    s, final = serial(plan)
    result = check(s.ops, s.initial, {1: final})  # type: ignore[dict-item]
    assert result.lost_writes == 0
    assert not [a for a in result.anomalies if a.kind != "failed-write-applied"]


@given(writes, st.sampled_from(FIELDS[:3]))
def test_a_stale_full_row_write_after_a_change_is_caught(plan: list[tuple[str, bool]], fld: str) -> None:
    s, _ = serial(plan)
    last = s.ops[-1]
    changed = next(iter(last.intent.sets))  # type: ignore[union-attr]
    if changed == fld:
        return
    # a writer that read the state before `last` committed, writes every field after it
    stale = dict(last.read.state)  # type: ignore[union-attr]
    stale_target = Intent(sets={fld: "late"}).apply(stale)
    s.write(99, last.start + 1, last.end + 10, sets={fld: "late"}, read=stale, written=stale_target)  # type: ignore[operator]
    result = check(s.ops, s.initial, {1: stale_target})
    assert result.verdict == "lost-updates"
    assert any(a.kind == "lost-update" and a.ops[0] == last.id for a in result.anomalies)
