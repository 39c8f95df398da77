"""Time to the first lost update of Glance's bug (``glance_image_update`` x ``full-row``).

- stress mode: a default run (8 writers, 2 readers, the scenario's op count) from nothing to a
  checked verdict: scratch database, tables, the run, the checker. Also the moment, inside the run,
  at which the first clobbering write committed. Median over repeats.
- schedule mode: the scenario's named minimal schedule on a ScheduleRunner that is already open
  (its scratch database made once, tables reloaded per schedule), run to a checked verdict.

The reference, measured in the same run on the same runner, is a one-session schedule
(``A.read A.write``): reload, one write, check. The two-session schedule that loses an update pays
that floor plus the second session and the step hand-offs.
"""

from __future__ import annotations

import time

from benchmarks.common import BenchError, median, section, start_backend, table
from race_harness.checkers import check
from race_harness.events import Operation
from race_harness.runner import RunConfig, run_stress
from race_harness.runner.schedule import ScheduleRunner
from race_harness.scenario import get_scenario
from race_harness.strategies import get_strategy

SCENARIO = "glance_image_update"
STRATEGY = "full-row"


def _first_clobber_s(ops: list[Operation], ids: list[tuple[int, ...]]) -> float:
    """When the earliest loss became a fact: the clobbering write's commit (else the lost write's)."""
    by_id = {op.id: op for op in ops}
    times = []
    for pair in ids:
        ends = [by_id[i].end for i in pair if by_id[i].end is not None]
        times.append(max(e for e in ends if e is not None))
    return min(times) / 1e9


def bench(dbs: list[str], quick: bool) -> None:
    repeats = 3 if quick else 9
    scenario, strategy = get_scenario(SCENARIO), get_strategy(STRATEGY)
    section(
        "time to first lost update",
        f"{SCENARIO} x {STRATEGY}; stress: median of {repeats} default runs; schedule: "
        f"'{next(iter(scenario.schedules.values())).text}', median of {repeats * 5}",
    )
    rows = []
    for spec in dbs:
        backend = start_backend(spec)
        try:
            verdicts, ttv, inside = [], [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                record = run_stress(scenario, strategy, backend, RunConfig())
                ops = record.history.operations()
                result = check(record.history, record.initial, record.final, token=strategy.token)
                ttv.append(time.perf_counter() - t0)
                verdicts.append(result.verdict == "lost-updates")
                lost = [a.ops for a in result.anomalies if a.kind == "lost-update" and a.ops]
                if lost:
                    inside.append(_first_clobber_s(ops, lost))
            named = next(iter(scenario.schedules.values()))
            sched, found = [], 0
            with ScheduleRunner(backend) as runner:
                runner.run(named.text, scenario, strategy)  # warm: engine, tables, prepared statements
                for _ in range(repeats * 5):
                    t0 = time.perf_counter()
                    res = runner.run(named.text, scenario, strategy)
                    sched.append(time.perf_counter() - t0)
                    found += res.lost
                one_write = _one_session_s(runner)
            if not any(verdicts):
                raise BenchError(f"no stress run on {backend.label} found the lost update")
            rows.append(
                (
                    backend.label,
                    f"{sum(verdicts)}/{repeats}",
                    f"{median(ttv) * 1000:.0f} ms",
                    f"{median(inside) * 1000:.0f} ms" if inside else "-",
                    f"{found}/{repeats * 5}",
                    f"{median(sched) * 1000:.1f} ms",
                    f"{one_write * 1000:.2f} ms",
                    f"{median(sched) / one_write:.1f}x",
                )
            )
        finally:
            backend.close()
    table(
        rows,
        [
            "database",
            "stress found",
            "stress: verdict",
            "first clobber at",
            "schedule found",
            "schedule: verdict",
            "1 session (ref)",
            "schedule/ref",
        ],
    )
    print("   targets: stress verdict < 1000 ms median, schedule < 100 ms")


def _one_session_s(runner: ScheduleRunner) -> float:
    """Median time of a one-session schedule (read, write, commit, check) on the same runner."""
    scenario, strategy = get_scenario(SCENARIO), get_strategy(STRATEGY)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        runner.run("A.read A.write", scenario, strategy)
        times.append(time.perf_counter() - t0)
    return median(times)
