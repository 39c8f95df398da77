"""The witnesses that read what each write stored, on literal histories (times in milliseconds):
a stale write-back a later write covers, a child row removed unasked, counters changed both ways,
counters that moved too far, and the scenario's own invariants. Each case is also judged by the
reference checker, which must agree."""

from __future__ import annotations

from race_harness.checkers import CheckResult, Predicate, check
from race_harness.model import State
from tests.reference_checker import check as reference_check
from tests.unit.histories import Story


def _both(s: Story, final: dict[int, State], invariants: dict[str, Predicate] | None = None) -> CheckResult:
    got = check(s.ops, s.initial, final, invariants=invariants)
    want = reference_check(s.ops, s.initial, final, invariants=invariants)
    assert (got.verdict, got.lost_writes, got.anomalies) == (want.verdict, want.lost_writes, want.anomalies)
    assert got.checker_errors == want.checker_errors
    return got


def kinds(result: CheckResult) -> list[str]:
    return [a.kind for a in result.anomalies]


NOTE = {"title": "t0", "body": "b0"}


def _covered_stale_write_back(times: bool) -> Story:
    """A sets the title; B, from the read it took before A committed, writes the whole note back after
    A was acknowledged; C later sets the title again, so the final state looks clean."""
    s = Story({1: dict(NOTE)})
    at = (lambda ms: ms) if times else (lambda ms: None)
    s.write(0, 0, 10, sets={"title": "A"}, read_at=at(1), write_at=at(5))  # a partial write: title only
    s.write(
        1, 0.5, 14, sets={"body": "B"}, written={"title": "t0", "body": "B"}, read_at=at(2), write_at=at(12)
    )  # B wrote back the title it read
    s.write(2, 20, 25, sets={"title": "C"}, read={"title": "t0", "body": "B"}, read_at=at(21), write_at=at(22))
    return s


def test_a_stale_write_back_that_a_later_write_covers_is_lost() -> None:
    s = _covered_stale_write_back(times=True)
    result = _both(s, {1: {"title": "C", "body": "B"}})
    assert result.verdict == "lost-updates" and result.lost_writes == 1
    assert "lost-update" not in kinds(result)  # the final state alone shows nothing
    (stale,) = [a for a in result.anomalies if a.kind == "stale-write"]
    assert stale.ops == (0, 1) and stale.field == "title"
    assert stale.explanation.startswith("op 1 (session B, update) stored title = 't0', the initial value, at 0.0120 s")
    assert "(its statement: UPDATE notes SET title = ? -- by session 1)" in stale.explanation
    assert "after op 0 (session A, update) had set title = 'A' and been acknowledged at 0.0100 s" in stale.explanation


def test_without_the_time_of_writing_the_same_history_proves_nothing_lost() -> None:
    """What the witness adds: the final state and the same-read pair (one-sided here) see nothing."""
    result = _both(_covered_stale_write_back(times=False), {1: {"title": "C", "body": "B"}})
    assert result.verdict == "no-lost-updates" and result.lost_writes == 0


def test_a_write_back_of_a_value_no_write_replaced_is_not_stale() -> None:
    s = Story({1: dict(NOTE)})
    s.write(0, 0, 10, sets={"title": "A"}, written={"title": "A", "body": "b0"}, read_at=1, write_at=5)
    s.write(
        1,
        11,
        20,
        sets={"body": "B"},
        read={"title": "A", "body": "b0"},
        written={"title": "A", "body": "B"},
        read_at=12,
        write_at=15,
    )
    assert _both(s, {1: {"title": "A", "body": "B"}}).anomalies == []


def test_a_child_row_removed_unasked_is_lost() -> None:
    s = Story({1: {"kv:keep": ""}})
    s.write(0, 0, 10, sets={"kv:a": ""}, read_at=1, write_at=5)
    s.write(1, 0.5, 14, sets={"kv:b": ""}, written={"kv:b": "", "kv:a": None}, read_at=2, write_at=12)
    result = _both(s, {1: {"kv:keep": "", "kv:b": ""}})
    (removed,) = [a for a in result.anomalies if a.kind == "removed-child"]
    assert removed.ops == (0, 1) and removed.field == "kv:a" and result.verdict == "lost-updates"
    assert "deleted key 'a', which its request did not ask to remove" in removed.explanation


def test_lost_changes_of_both_signs_that_cancel_out_are_still_caught() -> None:
    """+1 lost behind a -1, and a -1 lost behind a +1: the sum is right, the stored values are not."""
    s = Story({1: {"n": 5}})
    s.write(0, 0, 4, increments={"n": 1}, written={"n": 6}, read={"n": 5}, read_at=1, write_at=3)
    s.write(1, 0.5, 7, increments={"n": -1}, written={"n": 4}, read={"n": 5}, read_at=2, write_at=6)
    s.write(2, 10, 15, increments={"n": -1}, written={"n": 3}, read={"n": 4}, read_at=12, write_at=14)
    s.write(3, 10.5, 18, increments={"n": 1}, written={"n": 5}, read={"n": 4}, read_at=13, write_at=16)
    result = _both(s, {1: {"n": 5}})
    assert "counter-lost" not in kinds(result)  # the arithmetic alone sees nothing
    assert "same-read-overwrite" not in kinds(result)  # a counter changed both ways names no version
    assert [a.ops for a in result.anomalies if a.kind == "stale-write"] == [(0, 1), (2, 3)]
    assert result.verdict == "lost-updates" and result.lost_writes == 2


def test_a_lost_decrement_fails() -> None:
    s = Story({1: {"stock": 10}})
    for i in range(3):
        s.write(i, i * 5, i * 5 + 8, increments={"stock": -1}, written={})
    result = _both(s, {1: {"stock": 9}})
    (lost,) = result.anomalies
    assert lost.kind == "counter-lost" and result.verdict == "lost-updates" and result.lost_writes == 2
    assert "went from 10 to 9 (-1) but the acknowledged decrements add up to -3" in lost.explanation


def test_a_duplicated_increment_fails() -> None:
    s = Story({1: {"n": 0}})
    for i in range(2):
        s.write(i, i * 5, i * 5 + 8, increments={"n": 1}, written={})
    result = _both(s, {1: {"n": 3}})
    (dup,) = result.anomalies
    assert dup.kind == "counter-duplicated" and result.verdict == "lost-updates"
    assert "moved 1 further than every change that may have committed, so some were applied twice" in dup.explanation


def test_a_broken_invariant_fails_and_a_crashing_one_proves_nothing() -> None:
    s = Story({1: {"stock": 1}})
    s.write(0, 0, 10, increments={"stock": -1}, written={})
    s.write(1, 1, 11, increments={"stock": -1}, written={})
    s.read(9, 12, 13, {"stock": -1})
    never_negative = {"stock never below zero": lambda state: int(state["stock"]) >= 0}
    result = _both(s, {1: {"stock": -1}}, never_negative)
    broken = [a for a in result.anomalies if a.kind == "broken-invariant"]
    assert [a.ops for a in broken] == [(2,), ()] and result.verdict == "lost-updates"
    assert "op 2 (session J, read) read stock=-1 at 0.0130 s: the invariant 'stock never below zero' is broken" in (
        broken[0].explanation
    )
    crashing = _both(s, {1: {"stock": -1}}, {"bad": lambda state: state["nope"]})
    assert crashing.verdict == "inconclusive"
    assert crashing.checker_errors == ["declared invariants: the invariant 'bad' raised KeyError: 'nope'"]


def test_two_blind_writes_of_one_field_after_one_read_lose_nothing() -> None:
    """Both set the title and wrote the body back unchanged: the later title wins, as in any order."""
    s = Story({1: dict(NOTE)})
    s.write(0, 0, 10, sets={"title": "A"}, written={"title": "A", "body": "b0"})
    s.write(1, 1, 12, sets={"title": "B"}, written={"title": "B", "body": "b0"})
    result = _both(s, {1: {"title": "B", "body": "b0"}})
    assert result.verdict == "no-lost-updates" and result.anomalies == []
