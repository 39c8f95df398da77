from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from race_harness.checkers.stats import compute_stats, histogram, overlapping_pairs, percentile
from race_harness.events import Operation, Outcome
from race_harness.optable import OpTable
from tests.reference_checker.stats import raced_and_in_flight as reference_raced


def op(i: int, start: int, end: int | None, entity: int = 1, type: Outcome = "ok") -> Operation:
    return Operation(i, i, "writer", "w", entity, "info" if end is None else type, start, end)


intervals = st.lists(
    st.tuples(st.integers(0, 50), st.one_of(st.none(), st.integers(0, 50)), st.integers(1, 2)), max_size=25
)


@given(intervals)
def test_overlap_sweep_matches_brute_force(raw: list[tuple[int, int | None, int]]) -> None:
    ops = [op(i, s, None if e is None else s + e, ent) for i, (s, e, ent) in enumerate(raw)]

    def overlaps(a: Operation, b: Operation) -> bool:
        a_end = float("inf") if a.end is None else a.end
        b_end = float("inf") if b.end is None else b.end
        return a.entity == b.entity and a.start <= b_end and b.start <= a_end

    brute = sum(overlaps(a, b) for i, a in enumerate(ops) for b in ops[i + 1 :])
    assert overlapping_pairs(ops) == brute


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 30), st.integers(1, 2), st.sampled_from(["ok", "fail"]))))
def test_raced_and_in_flight_match_the_pairwise_definition(raw: list[tuple[int, int, int, Outcome]]) -> None:
    # distinct times, as a monotonic nanosecond clock gives them: ties would make "inside" ambiguous
    ops = [op(i, 4 * s + 1, 4 * (s + e) + 2 + (i % 2), ent, t) for i, (s, e, ent, t) in enumerate(raw)]
    stats = compute_stats(OpTable.of(ops))
    assert (stats.raced_writes, stats.in_flight_p50) == reference_raced(ops)


def test_writes_that_overlap_but_saw_no_acknowledgement_did_not_race() -> None:
    """Two refused writes overlap (the old structural figure counted them) yet nothing was acknowledged
    while either ran; an acknowledged write inside a longer one makes that one raced."""
    apart = [op(0, 0, 10, type="fail"), op(1, 5, 15, type="fail"), op(2, 20, 30)]
    stats = compute_stats(OpTable.of(apart))
    assert stats.overlapping_write_pairs == 1 and stats.raced_writes == 0
    inside = [op(0, 0, 30, type="fail"), op(1, 5, 15), op(2, 10, 20)]
    stats = compute_stats(OpTable.of(inside))
    assert stats.raced_writes == 2  # op 0 saw op 1's acknowledgement; op 2 saw it too
    assert stats.in_flight_p50 == 2.0  # at 15: ops 0, 1, 2 -> 3; at 20: 0, 2 -> 2; at 30: 0 -> 1


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) == 0.0


def test_histogram_puts_every_latency_in_one_bucket() -> None:
    counts = histogram([0.5, 1.0, 1.5, 7.0, 5000.0, 9000.0])
    assert counts["1"] == 2 and counts["2"] == 1 and counts["10"] == 1 and counts["5000"] == 1 and counts["inf"] == 1
    assert sum(counts.values()) == 6
