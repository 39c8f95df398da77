from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from race_harness.checkers.stats import histogram, overlapping_pairs, percentile
from race_harness.history import Operation


def op(i: int, start: int, end: int | None, entity: int = 1) -> Operation:
    return Operation(i, i, "writer", "w", entity, "ok", start, end)


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


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) == 0.0


def test_histogram_puts_every_latency_in_one_bucket() -> None:
    counts = histogram([0.5, 1.0, 1.5, 7.0, 5000.0, 9000.0])
    assert counts["1"] == 2 and counts["2"] == 1 and counts["10"] == 1 and counts["5000"] == 1 and counts["inf"] == 1
    assert sum(counts.values()) == 6
