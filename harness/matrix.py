"""Run scenarios x strategies x databases and judge each cell against the scenario's declaration."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from race_harness.checkers import CHECKERS, CheckResult, check
from race_harness.databases.base import Backend
from race_harness.defaults import Expectation
from race_harness.history import History
from race_harness.runner import CellPlan, RunConfig, plan_cell, run_stress
from race_harness.scenario import Scenario
from race_harness.strategies.base import Strategy
from race_harness.tally import Judged, Standing, standing

Shown = Literal["lost", "none", "inconclusive", "n/a"]
SHOWN: dict[str, Shown] = {"lost-updates": "lost", "no-lost-updates": "none", "inconclusive": "inconclusive"}


@dataclass
class CellResult:
    scenario: str
    strategy: str
    database: str
    expected: Expectation | Literal["n/a"] | None
    result: CheckResult | None  # None: not run (n/a)
    wall_s: float = 0.0  # the run, without the application's own schema set-up (setup_s)
    setup_s: float | None = None  # how long the application's migrations took, when they made the schema
    harness_errors: list[str] = field(default_factory=list)
    history: History | None = None
    initial: dict[int, dict[str, object]] = field(default_factory=dict)
    final: dict[int, dict[str, object]] = field(default_factory=dict)
    plan: CellPlan | None = None
    requested: tuple[str | None, str] = (None, "separate")  # isolation and scope the run asked for
    writers_in: str = "threads"
    not_run: str | None = None  # why the cell is n/a

    @property
    def shown(self) -> Shown:
        return "n/a" if self.result is None else SHOWN[self.result.verdict]

    @property
    def standing(self) -> Standing:
        return standing(self.expected, self.shown)

    @property
    def unsafe(self) -> bool:
        """A strategy declared safe for this scenario lost an update: the run fails (exit 1)."""
        return self.standing == "unsafe"

    @property
    def not_reproduced(self) -> bool:
        """A cell declared to lose updates did not (none, or proved nothing): a reproduction that
        stopped reproducing, never a pass (exit 5)."""
        return self.standing == "not-reproduced"

    @property
    def matches(self) -> bool | None:
        if self.expected in (None, "n/a") or self.result is None:
            return None
        return self.shown == self.expected

    @property
    def name(self) -> str:
        """How a reader finds the cell: scenario x strategy x database, then what was asked when not the default."""
        asked = [a for a in (self.requested[0], None if self.requested[1] == "separate" else self.requested[1]) if a]
        if self.writers_in == "processes":
            asked.append("processes")
        return f"{self.scenario} x {self.strategy} x {self.database}" + (f" ({', '.join(asked)})" if asked else "")

    @property
    def judged(self) -> Judged:
        r = self.result
        figure = f"{self.shown} {r.lost_writes}/{r.acknowledged}" if r is not None and self.shown == "lost" else ""
        return Judged(self.name, None if self.expected == "n/a" else self.expected, self.shown, figure)


Progress = Callable[[int, int, str, "CellResult | None"], None]


def run_cell(scenario: Scenario, strategy: Strategy, backend: Backend, config: RunConfig) -> CellResult:
    expected = scenario.expectation(strategy, processes=config.processes)
    cell = CellResult(scenario.name, strategy.spec, backend.label, expected, None)
    cell.writers_in = "processes" if config.processes else "threads"
    cell.requested = (config.isolation, config.scope)
    plan = plan_cell(strategy, backend, config)
    if isinstance(plan, str):
        cell.expected, cell.not_run = "n/a", plan
        return cell
    cell.plan = plan
    if expected == "lost" and plan.scope == "single":
        # declared for separate transactions; in one transaction the database's isolation decides
        # (PostgreSQL REPEATABLE READ refuses, InnoDB REPEATABLE READ loses): see the P4 table
        cell.expected = expected = None
    if expected == "n/a":
        cell.not_run = f"{scenario.name} is not a scenario for {strategy.spec}"
        return cell
    started = time.monotonic()
    record = run_stress(scenario, strategy, backend, config, plan)
    result = check(
        record.history,
        record.initial,
        record.final,
        token=strategy.token,
        invariants=scenario.invariants,
        checkers=(*CHECKERS, *scenario.checkers),
    )
    if record.harness_errors:
        result.checker_errors.extend(f"runner: {e}" for e in record.harness_errors)
        if result.verdict == "no-lost-updates":
            result.verdict = "inconclusive"  # a session crashed: the run is not evidence of safety
    not_expressible = result.stats.fail_reasons.get("not-expressible", 0)
    if not_expressible:
        cell.expected, cell.not_run = "n/a", f"{strategy.spec} cannot express {not_expressible} of the writes"
        return cell
    cell.result = result
    cell.setup_s = record.setup_s
    cell.wall_s = time.monotonic() - started - (record.setup_s or 0.0)
    cell.harness_errors = record.harness_errors
    cell.history = record.history
    cell.initial = {e: dict(s) for e, s in record.initial.items()}
    cell.final = {e: dict(s) for e, s in record.final.items()}
    return cell


def run_matrix(
    scenarios: Sequence[Scenario],
    strategies: Sequence[Strategy],
    backends: Sequence[Backend],
    configs: Sequence[RunConfig],
    progress: Progress | None = None,
) -> list[CellResult]:
    """Every database x run configuration (isolation, scope) x scenario x strategy."""
    cells = [(b, c, sc, st) for b in backends for c in configs for sc in scenarios for st in strategies]
    out: list[CellResult] = []
    for i, (backend, config, scenario, strategy) in enumerate(cells, 1):
        variant = "".join(f" [{v}]" for v in (config.isolation, config.scope) if v and v != "separate")
        name = f"{scenario.name} x {strategy.spec} x {backend.label}{variant}"
        if progress:
            progress(i, len(cells), name, None)
        cell = run_cell(scenario, strategy, backend, config)
        out.append(cell)
        if progress:
            progress(i, len(cells), name, cell)
    return out
