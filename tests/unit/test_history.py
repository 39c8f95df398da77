from __future__ import annotations

from pathlib import Path

from race_harness.history import History
from race_harness.model import Intent, Snapshot
from race_harness.recorder import NEVER, OK


def test_invocations_pair_with_completions_and_unfinished_ones_read_back_as_info(tmp_path: Path) -> None:
    h = History()
    a = h.invoke(1, "writer", "update", 7, Intent(sets={"name": "s1.0"}))
    b = h.invoke(2, "writer", "update", 7, Intent(sets={"kv:k": "s2.0"}, replace_children=True))
    h.complete(a, "ok", read=Snapshot(7, {"name": "x"}, 3, None), written={"name": "s1.0", "kv:k": None})
    r = h.invoke(3, "reader", "read", 7)
    h.complete(r, "fail", reason="deadlock", attempts=2)
    ops = h.operations()
    assert [op.type for op in ops] == ["ok", "info", "fail"]
    assert ops[1].id == b and ops[1].end is None and ops[1].error == "never completed"
    assert ops[0].start < ops[0].end  # type: ignore[operator]
    path = tmp_path / "h.jsonl"
    h.write_jsonl(path)
    assert len(path.read_text().splitlines()) == 5
    again = History.read_jsonl(path).operations()
    assert again == ops


def test_a_session_that_invokes_again_without_completing_leaves_the_first_op_indeterminate() -> None:
    h = History()
    h.invoke(1, "writer", "update", 1, Intent(sets={"a": "1"}))
    second = h.invoke(1, "writer", "update", 1, Intent(sets={"a": "2"}))
    h.complete(second, "ok")
    assert [op.type for op in h.operations()] == ["info", "ok"]


def test_columns_follow_the_history_as_it_is_recorded() -> None:
    h = History()
    first = h.invoke(1, "writer", "update", 1, Intent(sets={"a": "1"}))
    h.invoke(2, "reader", "read", 1)
    table = h.table()  # one still open: counted as never completed
    assert table.n == 2 and sorted(table.end.tolist())[-1] == NEVER
    h.complete(first, "ok", written={"a": "1"})
    h.invoke(1, "writer", "update", 1, Intent(sets={"a": "2"}))  # recording goes on after a table
    again = h.table()
    assert again.n == 3 and table.n == 2  # the first table is unchanged
    assert sorted(again.id.tolist()) == [op.id for op in h.operations()]
    assert again.type.tolist().count(OK) == 1


def test_columns_written_when_a_verdict_asks_are_those_of_the_whole_history_read_at_once() -> None:
    """A live history writes its operations into the columns only when a table is asked for (not in
    the writers' threads); the result must be the table a history built from the same events has."""
    h = History()
    for n in range(40):
        op = h.invoke(n % 4, "writer", "update", 1 + n % 3, Intent(sets={"a": str(n)}))
        ok = n % 5 != 0
        read = Snapshot(1 + n % 3, {"a": str(n - 1)}, n, None)
        if ok:
            h.complete(op, "ok", read=read, written={"a": str(n), "b": "kept"})
        else:
            h.complete(op, "fail", read=read, reason="conflict")
        if n == 17:
            h.table()  # a verdict asked midway: the rest goes in at the next one
    live, whole = h.table(), History(h.events).table()
    for column in ("id", "process", "entity", "start", "end", "type", "flags", "read_state", "reason"):
        assert getattr(live, column).tolist() == getattr(whole, column).tolist(), column
