"""Counts, contention, throughput and latency of a history."""

from __future__ import annotations

import bisect
import heapq
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from race_harness.checkers.result import Stats
from race_harness.events import Operation
from tests.reference_checker.index import HistoryIndex

HISTOGRAM_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def histogram(sorted_ms: Sequence[float]) -> dict[str, int]:
    """Counts per bucket of a 1-2-5 series; every value lands in exactly one bucket."""
    counts = dict.fromkeys([*(str(b) for b in HISTOGRAM_BOUNDS_MS), "inf"], 0)
    for value in sorted_ms:
        bucket = next((str(b) for b in HISTOGRAM_BOUNDS_MS if value <= b), "inf")
        counts[bucket] += 1
    return counts


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def overlapping_pairs(ops: Sequence[Operation]) -> int:
    """Pairs of operations on the same entity whose [start, end] intervals overlap (sweep, n log n)."""
    by_entity: dict[int, list[Operation]] = defaultdict(list)
    for op in ops:
        by_entity[op.entity].append(op)
    total = 0
    for group in by_entity.values():
        active: list[float] = []  # min-heap of end times of ops that started earlier
        for op in sorted(group, key=lambda o: o.start):
            while active and active[0] < op.start:
                heapq.heappop(active)
            total += len(active)
            heapq.heappush(active, math.inf if op.end is None else op.end)
    return total


def raced_and_in_flight(writes: Sequence[Operation]) -> tuple[int, float]:
    """Settled writes during which another write to their entity was acknowledged, and the median
    writes to one entity in flight as a settled write ended (plain lists and bisect, per entity)."""
    by_entity: dict[int, list[Operation]] = defaultdict(list)
    for op in writes:
        by_entity[op.entity].append(op)
    raced = 0
    flight: list[int] = []
    for group in by_entity.values():
        acked = sorted(o.end for o in group if o.type == "ok" and o.end is not None)
        starts = sorted(o.start for o in group)
        ends = sorted(math.inf if o.end is None else o.end for o in group)
        for w in group:
            if w.type == "info" or w.end is None:
                continue
            raced += bisect.bisect_left(acked, w.end) > bisect.bisect_right(acked, w.start)
            flight.append(bisect.bisect_right(starts, w.end) - bisect.bisect_left(ends, w.end))
    return raced, float(statistics.median(flight)) if flight else 0.0


def same_read_groups(ops: Sequence[Operation]) -> list[list[Operation]]:
    """Acknowledged writes grouped by the exact version of the entity they read (groups of 2+)."""
    return HistoryIndex(ops).same_read_groups


def compute_stats(ops: Sequence[Operation], index: HistoryIndex | None = None) -> Stats:
    index = index or HistoryIndex(ops)
    writes = [op for op in ops if op.role == "writer"]
    outcome = Counter(op.type for op in writes)
    reasons = Counter(op.reason or "unknown" for op in writes if op.type == "fail")
    retries = sum(op.attempts - 1 for op in writes)
    # every attempt but a final success was refused: a conflict or a database abort
    conflicts = sum(op.attempts - (1 if op.type == "ok" else 0) for op in writes if op.type != "info")
    latencies = sorted((op.end - op.start) / 1e6 for op in writes if op.type == "ok" and op.end is not None)
    ends = [op.end for op in writes if op.end is not None]
    duration = (max(ends) - min(op.start for op in writes)) / 1e9 if ends else 0.0
    raced, in_flight = raced_and_in_flight(writes)
    return Stats(
        writes=len(writes),
        ok=outcome["ok"],
        fail=outcome["fail"],
        info=outcome["info"],
        reads=len(ops) - len(writes),
        conflicts=conflicts,
        retries=retries,
        fail_reasons=dict(reasons),
        overlapping_write_pairs=overlapping_pairs(writes),
        raced_writes=raced,
        in_flight_p50=in_flight,
        same_read_pairs=sum(len(g) * (len(g) - 1) // 2 for g in index.same_read_groups),
        duration_s=duration,
        ops_per_s=outcome["ok"] / duration if duration > 0 else 0.0,
        latency_p50_ms=percentile(latencies, 50),
        latency_p99_ms=percentile(latencies, 99),
        latency_histogram_ms=histogram(latencies),
    )
