"""The lost-update oracle on literal histories: each test is one small story with a known answer."""

from __future__ import annotations

from race_harness.checkers import check
from race_harness.checkers.lost_update import check_lost_updates

from .histories import Story

IMAGE = {"name": "orig", "size": "0"}


def kinds(result_anomalies: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(a.kind for a in result_anomalies)


def test_full_row_clobber_is_lost_and_names_the_clobberer() -> None:
    s = Story({1: dict(IMAGE)})
    t1 = s.write(1, 0, 10, sets={"name": "a1"}, written={"name": "a1", "size": "0"})
    t2 = s.write(2, 1, 20, sets={"size": "b2"}, written={"name": "orig", "size": "b2"})
    result = check(s.ops, s.initial, {1: {"name": "orig", "size": "b2"}})
    assert result.verdict == "lost-updates"
    lost = [a for a in result.anomalies if a.kind == "lost-update"]
    assert len(lost) == 1 and lost[0].field == "name"
    assert lost[0].ops == (t1.id, t2.id)
    assert "the initial value" in lost[0].explanation and f"op {t2.id}" in lost[0].explanation
    assert result.lost_writes == 1 and result.acknowledged == 2
    # the direct witness agrees: both read the initial version and both wrote `name`
    assert "same-read-overwrite" in kinds(result.anomalies)


def test_final_value_from_a_write_that_completed_before_w_started_means_w_is_lost() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 5, sets={"name": "early"})
    s.write(2, 10, 20, sets={"name": "late"})  # real time: early, then late
    result = check(s.ops, s.initial, {1: {"name": "early", "size": "0"}})
    assert result.verdict == "lost-updates"
    assert "completed at 0.0050 s, before op 1 was invoked" in result.anomalies[0].explanation


def test_concurrent_blind_writes_to_one_field_are_not_lost() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "x"})
    s.write(2, 5, 15, sets={"name": "y"})  # overlaps: either order is a legal serialization
    for final in ("x", "y"):
        result = check(s.ops, s.initial, {1: {"name": final, "size": "0"}})
        assert result.verdict == "no-lost-updates", final
        assert result.lost_writes == 0


def test_partial_updates_of_different_fields_from_the_same_read_are_not_a_loss() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "a"})
    s.write(2, 1, 11, sets={"size": "b"})
    result = check(s.ops, s.initial, {1: {"name": "a", "size": "b"}})
    assert result.verdict == "no-lost-updates"
    assert result.stats.same_read_pairs == 1  # they raced, and nothing was lost


def test_info_write_is_never_lost_and_may_be_the_producer() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "maybe"}, type="info")
    s.write(2, 1, 11, sets={"size": "b"}, written={"size": "b"})
    gone = check(s.ops, s.initial, {1: {"name": "orig", "size": "b"}})
    # nothing lost; and no pass either: only a write of unknown outcome ran beside the acknowledged one
    assert gone.lost_writes == 0 and gone.verdict == "inconclusive" and gone.stats.raced_writes == 0
    applied = check(s.ops, s.initial, {1: {"name": "maybe", "size": "b"}})
    assert applied.lost_writes == 0 and not applied.anomalies


def test_an_info_write_that_never_completed_stays_concurrent_with_everything_after_it() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, None, sets={"name": "pending"}, type="info")
    s.write(2, 50, 60, sets={"name": "later"})
    # the pending write may have landed after op 1: its value being final is legal
    result = check(s.ops, s.initial, {1: {"name": "pending", "size": "0"}})
    assert result.lost_writes == 0


def test_metadata_key_deleted_by_a_stale_diff_is_lost() -> None:
    s = Story({1: {"kv:role": "web"}})
    add_a = s.write(1, 0, 10, sets={"kv:a": "1"})
    # Nova: session 2 read {role} before key a existed, merged in b, and the DB diff deleted a
    s.write(2, 1, 20, sets={"kv:b": "2"}, read={"kv:role": "web"}, written={"kv:a": None, "kv:b": "2"})
    result = check(s.ops, s.initial, {1: {"kv:role": "web", "kv:b": "2"}})
    assert result.verdict == "lost-updates"
    lost = next(a for a in result.anomalies if a.kind == "lost-update")
    assert lost.ops[0] == add_a.id and lost.field == "kv:a"
    assert "deleted it" in lost.explanation and "key 'a'" in lost.explanation


def test_key_removed_by_an_update_all_that_could_follow_is_not_lost() -> None:
    s = Story({1: {"kv:role": "web"}})
    s.write(1, 0, 10, sets={"kv:a": "1"})
    s.write(
        2,
        5,
        20,
        sets={"kv:z": "9"},
        replace_children=True,
        written={"kv:role": None, "kv:a": None, "kv:z": "9"},
    )
    result = check(s.ops, s.initial, {1: {"kv:z": "9"}})
    assert result.lost_writes == 0, result.anomalies


def test_key_removed_by_an_update_all_that_finished_before_the_write_began_is_lost() -> None:
    s = Story({1: {"kv:role": "web"}})
    s.write(2, 0, 5, sets={"kv:z": "9"}, replace_children=True, written={"kv:role": None, "kv:z": "9"})
    s.write(1, 10, 20, sets={"kv:a": "1"}, read={"kv:z": "9"})
    result = check(s.ops, s.initial, {1: {"kv:z": "9"}})
    assert result.lost_writes == 1


def test_an_update_all_that_ends_the_instant_the_write_begins_could_still_follow_it() -> None:
    # "completed before" is strict: equal clock readings cannot order the two
    s = Story({1: {"kv:role": "web"}})
    s.write(2, 0, 10, sets={"kv:z": "9"}, replace_children=True, written={"kv:role": None, "kv:z": "9"})
    s.write(1, 10, 20, sets={"kv:a": "1"}, read={"kv:z": "9"})
    assert check(s.ops, s.initial, {1: {"kv:z": "9"}}).lost_writes == 0


def test_counter_shortfall_is_lost_and_surplus_is_duplicated() -> None:
    s = Story({1: {"n": 0}})
    for i in range(3):
        s.write(i, i, i + 10, increments={"n": 1}, read={"n": 0}, written={"n": 1})
    s.write(9, 0, 30, increments={"n": 1}, type="info", written={})
    lost = check(s.ops, s.initial, {1: {"n": 1}})
    assert lost.verdict == "lost-updates" and lost.lost_writes == 2 and lost.acknowledged == 3
    fine = check_lost_updates(s.ops, s.initial, {1: {"n": 4}})  # 3 acknowledged + 1 unknown applied
    assert not [a for a in fine.anomalies if a.kind.startswith("counter")]
    dup = check_lost_updates(s.ops, s.initial, {1: {"n": 5}})
    assert [a.kind for a in dup.anomalies if a.kind.startswith("counter")] == ["counter-duplicated"]


def test_no_overlap_means_inconclusive_never_a_pass() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "a"})
    s.write(2, 20, 30, sets={"size": "b"}, read={"name": "a", "size": "0"}, version=2)
    result = check(s.ops, s.initial, {1: {"name": "a", "size": "b"}})
    assert result.verdict == "inconclusive"
    assert result.stats.overlapping_write_pairs == 0 and result.stats.raced_writes == 0


def test_failed_write_whose_value_is_final_is_reported() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "ghost"}, type="fail", reason="conflict")
    s.write(2, 1, 11, sets={"size": "b"})
    result = check(s.ops, s.initial, {1: {"name": "ghost", "size": "b"}})
    assert "failed-write-applied" in kinds(result.anomalies)


def test_value_that_no_write_produced_is_reported_not_ignored() -> None:
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "a"})
    s.write(2, 1, 11, sets={"size": "b"})
    result = check(s.ops, s.initial, {1: {"name": "bogus", "size": "b"}})
    assert "unexplained-value" in kinds(result.anomalies)


def test_a_crashing_checker_yields_inconclusive_not_a_pass() -> None:
    s = Story({1: {"n": "not a number"}})
    s.write(1, 0, 10, increments={"n": 1}, written={"n": 1})
    s.write(2, 1, 11, increments={"n": 1}, written={"n": 1})
    result = check(s.ops, s.initial, {1: {"n": "still not a number"}})
    assert result.verdict == "inconclusive"
    assert result.checker_errors and "lost-update" in result.checker_errors[0]


def test_reader_invariants() -> None:
    s = Story({1: {"n": 0}})
    s.write(1, 0, 10, increments={"n": 1}, written={"n": 1})
    s.write(2, 0, 12, increments={"n": 1}, read={"n": 1}, written={"n": 2}, version=2)
    s.read(5, 11, 11.5, {"n": 2}, version=3)
    s.read(5, 13, 13.5, {"n": 1}, version=3)  # counter went backwards for this reader
    result = check(s.ops, s.initial, {1: {"n": 2}}, token="version")
    names = sorted({a.kind for a in result.invariant_violations})
    assert names == ["invariant:monotonic-reads", "invariant:one-committed-state"]


def test_reads_must_trace_to_writes_invoked_before_them() -> None:
    s = Story({1: dict(IMAGE)})
    s.read(5, 0, 1, {"name": "future", "size": "0"})
    s.write(1, 2, 10, sets={"name": "future"})
    s.write(2, 3, 11, sets={"size": "x"}, type="fail", reason="conflict")
    s.read(6, 12, 13, {"name": "future", "size": "x"})
    result = check(s.ops, s.initial, {1: {"name": "future", "size": "0"}})
    explanations = " ".join(a.explanation for a in result.invariant_violations)
    assert "invoked only after the read completed" in explanations
    assert "reported as not applied" in explanations


def _counter_story(outcomes: list[str]) -> Story:
    """Increments of n by 1, each overlapping the next (so the run had contention)."""
    s = Story({1: {"n": 0}})
    for i, outcome in enumerate(outcomes):
        s.write(i, i * 5, i * 5 + 8, increments={"n": 1}, type=outcome, written={})  # type: ignore[arg-type]
    return s


def test_counter_with_unknown_increments_is_decided_only_outside_the_undecided_band() -> None:
    """2 acknowledged, 2 unknown: growth 2..3 may hide a loss behind a committed unknown one."""
    from tests.reference_checker import check as reference_check

    s = _counter_story(["ok", "ok", "info", "info"])
    # 5: more than every increment there was: applied twice, which fails the verdict as a loss does
    expected = {1: "lost-updates", 2: "inconclusive", 3: "inconclusive", 4: "no-lost-updates", 5: "lost-updates"}
    for growth, verdict in expected.items():
        for checker in (check, reference_check):
            result = checker(s.ops, s.initial, {1: {"n": growth}})
            assert result.verdict == verdict, (growth, checker.__module__)
        if verdict == "inconclusive":
            (undecided,) = [a for a in result.anomalies if a.kind == "counter-undecided"]
            assert f"up to {4 - growth} acknowledged increments may be lost" in undecided.explanation
    assert "counter-duplicated" in kinds(check(s.ops, s.initial, {1: {"n": 5}}).anomalies)


def _safe_story() -> tuple[Story, dict[int, dict[str, object]]]:
    """Two raced writes to different fields, both kept: a pass."""
    s = Story({1: dict(IMAGE)})
    s.write(1, 0, 10, sets={"name": "a1"}, written={"name": "a1"})
    s.write(2, 1, 20, sets={"size": "b2"}, written={"size": "b2"})
    return s, {1: {"name": "a1", "size": "b2"}}


def test_checkers_compose_a_new_kind_of_check_without_editing_the_core() -> None:
    from race_harness.checkers import CHECKERS, Anomaly, Checker, Findings

    s, final = _safe_story()
    assert check(s.ops, s.initial, final).verdict == "no-lost-updates"

    def never_size_b2(inputs: object) -> Findings:
        bad = Anomaly("broken-invariant", 1, "size", (), "size must never be b2")
        return Findings(anomalies=[bad] if final[1]["size"] == "b2" else [])

    failing = check(s.ops, s.initial, final, checkers=(*CHECKERS, Checker("no-b2", never_size_b2)))
    assert failing.verdict == "lost-updates" and failing.failures[0].explanation == "size must never be b2"


def test_a_composed_checker_that_crashes_makes_a_passing_run_inconclusive() -> None:
    from race_harness.checkers import CHECKERS, Checker, Findings

    def crashes(inputs: object) -> Findings:
        raise ZeroDivisionError("the checker's own bug")

    s, final = _safe_story()
    result = check(s.ops, s.initial, final, checkers=(*CHECKERS, Checker("fragile", crashes)))
    assert result.verdict == "inconclusive"
    assert result.checker_errors == ["fragile: ZeroDivisionError: the checker's own bug"]
    assert result.stats.raced_writes > 0  # the other checkers' findings are kept


def test_a_checker_names_the_kinds_of_its_findings_that_fail_a_run() -> None:
    from race_harness.checkers import CHECKERS, Anomaly, Checker, Findings

    def slow(inputs: object) -> Findings:
        return Findings(anomalies=[Anomaly("too-many-attempts", 1, None, (1,), "op 1 took 9 attempts")])

    s, final = _safe_story()
    noted = check(s.ops, s.initial, final, checkers=(*CHECKERS, Checker("attempts", slow)))
    assert noted.verdict == "no-lost-updates" and noted.failures == []  # evidence only
    failing = check(
        s.ops,
        s.initial,
        final,
        checkers=(*CHECKERS, Checker("attempts", slow, fails_on=frozenset({"too-many-attempts"}))),
    )
    assert failing.verdict == "lost-updates" and [a.kind for a in failing.failures] == ["too-many-attempts"]
    assert failing.failing_kinds == ("too-many-attempts",)
