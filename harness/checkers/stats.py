"""Counts, contention, throughput and latency of a history."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from race_harness.checkers.result import Stats
from race_harness.events import Operation
from race_harness.optable import I64, Bool, OpTable, distinct
from race_harness.recorder import FAIL, INFO, NEVER, NONE, OK

HISTOGRAM_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def histogram(sorted_ms: Sequence[float]) -> dict[str, int]:
    """Counts per bucket of a 1-2-5 series; every value lands in exactly one bucket."""
    # bucket i holds values in (bound[i-1], bound[i]]: the first bound that is >= the value
    bucket = np.searchsorted(HISTOGRAM_BOUNDS_MS, sorted_ms, side="left")
    counts = np.bincount(bucket, minlength=len(HISTOGRAM_BOUNDS_MS) + 1)
    return dict(zip([*(str(b) for b in HISTOGRAM_BOUNDS_MS), "inf"], (int(c) for c in counts), strict=True))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; 0.0 when empty."""
    if not len(sorted_values):
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def overlapping_pairs(ops: Sequence[Operation]) -> int:
    """Pairs of operations on the same entity whose [start, end] intervals overlap."""
    table = OpTable.of(ops)
    return overlapping(table.entity, table.start, table.end)


def overlapping(entity: I64, start: I64, end: I64) -> int:
    """Pairs on one entity whose intervals overlap, in n log n.

    Two intervals overlap unless one ends before the other starts, so per entity the answer is
    C(n, 2) minus, for each interval, how many intervals end before it starts.
    """
    total = 0
    for e in distinct(entity):
        mine = entity == e
        ends = np.sort(end[mine])
        n = len(ends)
        total += n * (n - 1) // 2 - int(np.searchsorted(ends, start[mine], side="left").sum())
    return total


def raced_and_in_flight(entity: I64, start: I64, end: I64, ok: Bool, settled: Bool) -> tuple[int, float]:
    """Contention measured, not configured: how many settled writes saw another write to their entity
    acknowledged while they ran (had they read at their start, that read was stale by their end), and
    the median number of writes to one entity in flight (itself included) when a settled write ended.

    Both come from the history's times alone, so they mean the same for every strategy and for an
    application's own functions; an unfinished write (``NEVER``) stays in flight to the end.
    """
    raced = 0
    in_flight: list[I64] = []
    for e in distinct(entity):
        mine = entity == e
        acked = np.sort(end[mine & ok])
        ends, starts = np.sort(end[mine]), np.sort(start[mine])
        s, t = start[mine & settled], end[mine & settled]
        # acknowledgements strictly inside (start, end): a write's own end is not inside its interval
        raced += int((np.searchsorted(acked, t, side="left") > np.searchsorted(acked, s, side="right")).sum())
        in_flight.append(np.searchsorted(starts, t, side="right") - np.searchsorted(ends, t, side="left"))
    flight = np.concatenate(in_flight) if in_flight else np.zeros(0, dtype=np.int64)
    return raced, float(np.median(flight)) if len(flight) else 0.0


def compute_stats(table: OpTable) -> Stats:
    w = table.writer
    kind = table.type[w]
    attempts = table.attempts[w]
    start, end = table.start[w], table.end[w]
    ok, fail = kind == OK, kind == FAIL
    reasons = table.reason[w][fail]
    codes, counts = np.unique(reasons, return_counts=True)
    fail_reasons = {("unknown" if r == NONE else table.reasons[r]): int(c) for r, c in zip(codes, counts, strict=True)}
    # every attempt but a final success was refused: a conflict or a database abort
    settled = kind != INFO
    conflicts = int(attempts[settled].sum() - ok.sum())
    done = end != NEVER
    latencies = np.sort((end[ok & done] - start[ok & done]) / 1e6)
    duration = (int(end[done].max()) - int(start.min())) / 1e9 if done.any() else 0.0
    same_read = table.read_state[w & (table.type == OK) & (table.read_state != NONE)]
    groups = np.bincount(same_read) if len(same_read) else np.zeros(0, dtype=np.int64)
    n_ok = int(ok.sum())
    raced, in_flight = raced_and_in_flight(table.entity[w], start, end, ok, settled)
    return Stats(
        writes=int(w.sum()),
        ok=n_ok,
        fail=int(fail.sum()),
        info=int((kind == INFO).sum()),
        reads=table.n - int(w.sum()),
        conflicts=conflicts,
        retries=int((attempts - 1).sum()),
        fail_reasons=dict(sorted(fail_reasons.items(), key=lambda kv: -kv[1])),
        overlapping_write_pairs=overlapping(table.entity[w], start, end),
        raced_writes=raced,
        in_flight_p50=in_flight,
        same_read_pairs=int((groups * (groups - 1) // 2).sum()),
        duration_s=duration,
        ops_per_s=n_ok / duration if duration > 0 else 0.0,
        latency_p50_ms=percentile(latencies, 50),  # type: ignore[arg-type]
        latency_p99_ms=percentile(latencies, 99),  # type: ignore[arg-type]
        latency_histogram_ms=histogram(latencies),  # type: ignore[arg-type]
    )
