"""How often a default stress run catches an application's lost update, and what watching costs.

Each row is one shape of naive application code (``race_harness.examples``), run as ``race-harness
run`` runs it (200 writes, 8 writers, 2 readers, the default think time) with seeds 0..N-1 on each
database:

- detected: runs whose verdict is ``lost`` for the naive code (the target is every run), and beside
  it the runs in which the final state alone showed a loss (what the checker judged by before it
  read each call's own statements);
- false: runs whose verdict is ``lost`` for the fixed code (the target is none), and how many of
  them proved nothing (inconclusive);
- bundled: the same for the bundled ``full-row`` strategy on the bundled scenario of the same
  shape, the reference the application path is measured against in the same run.

Then the statement hooks' cost: one application call (``documents_core.save``: a read, an UPDATE,
two COMMITs) timed as the harness runs it (its statements seen, its reads and writes witnessed) and
called plainly on an engine with no hooks, in the same process on the same database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.common import median, section, start_backend, table
from race_harness.databases import Backend
from race_harness.matrix import run_cell
from race_harness.runner import RunConfig
from race_harness.runner.app_steps import AppSteps
from race_harness.scenario import Scenario, get_scenario
from race_harness.strategies import get_strategy


@dataclass(frozen=True)
class Row:
    shape: str
    naive: str
    fixed: str
    bundled: str | None  # scenario x full-row of the same shape


ROWS = (
    Row("fields, 1 key (Core save)", "documents_core:SCENARIO", "documents_core:FIXED", "glance_image_update"),
    Row("fields, 4 keys (Core save)", "documents_core:SCENARIO_4", "documents_core:FIXED_4", None),
    Row("fields, 1 key (ORM merge)", "glance_orm:SCENARIO", "glance_orm:FIXED", "glance_image_update"),
    Row("counter, +1 and -2", "counter_core:BOTH_WAYS", "counter_core:BOTH_WAYS_FIXED", "counter"),
    Row("child set written whole", "nova_core:SCENARIO", "nova_core:FIXED", "nova_server_metadata"),
)


def _example(ref: str) -> Scenario:
    return get_scenario(f"race_harness.examples.{ref}")


FINAL_STATE = frozenset({"lost-update", "counter-lost"})  # what the final state alone shows


@dataclass
class Rate:
    lost: int = 0  # runs judged lost
    final_state: int = 0  # runs the final state alone shows a loss in (the oracle before the witnesses)
    inconclusive: int = 0


def _rate(scenario: Scenario, strategy: str, backend: Backend, seeds: int) -> Rate:
    """Verdicts over ``seeds`` default stress runs."""
    rate = Rate()
    for seed in range(seeds):
        cell = run_cell(scenario, get_strategy(strategy), backend, RunConfig(seed=seed))
        assert cell.result is not None, cell.not_run
        rate.lost += cell.result.verdict == "lost-updates"
        rate.final_state += any(a.kind in FINAL_STATE for a in cell.result.anomalies)
        rate.inconclusive += cell.result.verdict == "inconclusive"
    return rate


def _hook_cost(backend: Backend, calls: int) -> tuple[float, float]:
    """(microseconds per call unhooked, hooked) for documents_core.save on a scratch database."""
    from race_harness.examples import documents_core

    scenario = _example("documents_core:SCENARIO")
    tables = scenario.tables(6)
    with backend.create_database() as scratch:
        # two engines made alike: the harness installs its statement hooks on the one it runs calls on
        hooked, plain = scratch.engine(1), scratch.engine(1)
        try:
            with hooked.begin() as conn:
                tables.create(conn)
            plain_times, hooked_times = [], []
            with plain.connect() as p, hooked.connect() as h:
                for i in range(calls):
                    t0 = time.perf_counter()
                    documents_core.save(p, 1, title=f"p{i}")
                    plain_times.append(time.perf_counter() - t0)
                    op = scenario.schedule_write(i, "retitle", 2)
                    t0 = time.perf_counter()
                    outcome = AppSteps(backend, tables, h, op).run_through(lambda: None)
                    hooked_times.append(time.perf_counter() - t0)
                    assert outcome.type == "ok" and outcome.written, outcome
        finally:
            plain.dispose()
            hooked.dispose()
    return median(plain_times) * 1e6, median(hooked_times) * 1e6


def bench(dbs: list[str], quick: bool) -> None:
    seeds = 2 if quick else 20
    section(
        "lost-update detection in default stress runs",
        f"{seeds} seeds per row and database; naive application code (race_harness.examples) vs its fix, "
        "and the bundled full-row strategy on the bundled scenario of the same shape",
    )
    rows = []
    costs = []
    for spec in dbs:
        backend = start_backend(spec)
        try:
            for row in ROWS:
                found = _rate(_example(row.naive), "app", backend, seeds)
                false = _rate(_example(row.fixed), "app", backend, seeds)
                unproven = f" ({false.inconclusive} proved nothing)" if false.inconclusive else ""
                bundled = "-"
                if row.bundled is not None:
                    bundled = f"{_rate(get_scenario(row.bundled), 'full-row', backend, seeds).lost}/{seeds}"
                rows.append(
                    [
                        row.shape,
                        backend.label,
                        f"{found.lost}/{seeds}",
                        f"{found.final_state}/{seeds}",
                        f"{false.lost}/{seeds}{unproven}",
                        bundled,
                    ]
                )
            unhooked, hooked = _hook_cost(backend, 20 if quick else 300)
            costs.append([backend.label, f"{unhooked:.0f}", f"{hooked:.0f}", f"{hooked / unhooked:.2f}x"])
        finally:
            backend.close()
    table(rows, ["shape", "database", "naive: lost", "(final state alone)", "fixed: lost", "bundled full-row: lost"])
    section("statement hooks' cost", "one documents_core.save call (read, UPDATE, 2 COMMITs), median")
    table(costs, ["database", "plain call (us)", "as the harness runs it (us)", "ratio"])
