"""Receipts resolve writes of unknown outcome: ``info`` becomes ``ok`` with its receipt, else ``fail``."""

from __future__ import annotations

from race_harness.checkers import check
from race_harness.history import History
from race_harness.model import Intent
from race_harness.runner.receipts import receipt_key, resolve


def _increments(outcomes: list[str]) -> History:
    """Session 0 increments n by one per outcome, in order."""
    history = History()
    for outcome in outcomes:
        index = history.invoke(0, "writer", "increment", 1, Intent(increments={"n": 1}))
        history.complete(index, outcome, written={"n": None} if outcome != "fail" else None)  # type: ignore[arg-type]
    return history


def test_each_unknown_write_takes_the_outcome_its_receipt_proves() -> None:
    history = _increments(["ok", "info", "fail", "info"])
    resolved, count = resolve(history, {receipt_key(0, 0), receipt_key(0, 1)})
    assert count == 2
    assert [op.type for op in resolved.operations()] == ["ok", "ok", "fail", "fail"]
    notes = [op.error for op in resolved.operations()]
    assert notes[1] is not None and "its receipt was found" in notes[1]
    assert notes[3] is not None and "no receipt" in notes[3]
    assert [ev.time for ev in resolved.events] == [ev.time for ev in history.events]


def test_a_counter_undecided_by_an_unknown_increment_is_decided_by_its_receipt() -> None:
    history = _increments(["ok", "info", "ok"])
    initial, final = {1: {"n": 0}}, {1: {"n": 2}}  # two of three: the unknown one, or an acknowledged one lost?
    assert any(a.kind == "counter-undecided" for a in check(history, initial, final).anomalies)
    not_committed, _ = resolve(history, {receipt_key(0, 0), receipt_key(0, 2)})
    assert not check(not_committed, initial, final).anomalies
    committed, _ = resolve(history, {receipt_key(0, n) for n in range(3)})  # three committed, the counter moved 2
    assert check(committed, initial, final).verdict == "lost-updates"


def test_receipt_keys_follow_each_session_own_writes_not_readers_or_other_sessions() -> None:
    history = History()
    a = history.invoke(0, "writer", "increment", 1, Intent(increments={"n": 1}))
    r = history.invoke(5, "reader", "read", 1)
    b = history.invoke(1, "writer", "increment", 1, Intent(increments={"n": 1}))
    history.complete(r, "ok")
    history.complete(a, "ok")
    history.complete(b, "info")
    c = history.invoke(1, "writer", "increment", 1, Intent(increments={"n": 1}))
    history.complete(c, "info")
    resolved, count = resolve(history, {receipt_key(1, 1)})
    assert count == 2
    assert [(op.process, op.type) for op in resolved.operations()] == [(0, "ok"), (5, "ok"), (1, "fail"), (1, "ok")]
