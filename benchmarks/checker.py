"""Checker throughput on generated histories of 10^4 to 10^6 operations, and how its time grows.

Two histories (see :mod:`benchmarks.histories`): Glance's image update applied full-row (lost
updates everywhere, so evidence is built and explained) and the counter under version OCC (clean,
half the writes refused). Timed apart:

- recording: ``History(events)``, which pairs the events into operations and writes them into the
  columns the checker reads, exactly what ``History`` does as each event is recorded during a run;
- checking: ``check(history)``, the whole verdict with its evidence, from those columns; three
  times, the median shown beside the first (which also faults in fresh memory for its arrays).

The reference, measured in the same run, is one linear pass over the same operations that touches
what every checker must (type, entity, read, written): "check = k passes" says how far the checker
is from the floor of reading its input, on this machine, whatever its speed.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from benchmarks.common import median, section, table
from benchmarks.histories import Apply, generate
from race_harness.checkers import Token, check
from race_harness.events import Operation
from race_harness.history import History
from race_harness.scenario import get_scenario

T = TypeVar("T")
CHECK_RUNS = 3
HISTORIES: list[tuple[str, Apply]] = [("glance_image_update", "full-row"), ("counter", "version-occ")]


def _linear_pass(ops: list[Operation]) -> int:
    touched = 0
    for op in ops:
        touched += len(op.written) + (op.read is not None) + (op.type == "ok") + op.entity
    return touched


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(quick: bool) -> None:
    sizes = [10**4, 10**5] if quick else [10**4, 10**5, 10**6]
    section("checker throughput", f"generated histories of {', '.join(f'{n:,}' for n in sizes)} operations")
    rows = []
    for name, apply in HISTORIES:
        scenario = get_scenario(name)
        per_op_at_smallest = None
        for n in sizes:
            gen = generate(scenario, n, apply=apply)
            events = gen.history.events
            record_s, history = _timed(partial(History, events, gen.history.origin))
            token: Token | None = "version" if apply == "version-occ" else None
            # the first check also pays for faulting in fresh memory for its arrays, which on this
            # VM costs more than the work itself at 10^6; the median of three is the steady state
            runs = [_timed(partial(check, history, gen.initial, gen.final, token=token)) for _ in range(CHECK_RUNS)]
            first_s, result = runs[0]
            check_s = median([s for s, _ in runs])
            ref_s, _ = _timed(partial(_linear_pass, history.operations()))
            per_op = check_s / n
            per_op_at_smallest = per_op_at_smallest or per_op
            rows.append(
                (
                    f"{name} {apply}",
                    f"{n:,}",
                    f"{result.verdict} ({result.lost_writes} lost)",
                    f"{n / record_s:,.0f}",
                    f"{n / check_s:,.0f}",
                    f"{n / first_s:,.0f}",
                    f"{n / (record_s + check_s):,.0f}",
                    f"{per_op / per_op_at_smallest:.2f}",
                    f"{check_s / ref_s:.0f}",
                )
            )
    table(
        rows,
        [
            "history",
            "ops",
            "verdict",
            "record ops/s",
            f"check ops/s (median of {CHECK_RUNS})",
            "first check",
            "record+check",
            "time/op vs 10^4",
            "check/pass",
        ],
    )
    print("   target: check >= 1,000,000 ops/s at 10^6, time/op flat (linear growth)")
    print(
        "   record: History(events), the work a run's History does as each operation completes "
        "(pairing, and the columns check reads)"
    )
