"""Short stress bursts of an application that connects itself: what several test modules ask of one."""

from __future__ import annotations

from dataclasses import replace

from race_harness import RunConfig, Scenario, get_strategy, run_cell
from race_harness.databases import Backend

BURST = RunConfig(writers=8, readers=1, ops=8, think_ms=50)


def a_burst_loses(scenario: Scenario, backend: Backend, burst: RunConfig = BURST, tries: int = 4) -> None:
    """One of ``tries`` bursts (seeds 0, 1, ...) loses an update; none may crash a session."""
    for seed in range(tries):
        cell = run_cell(scenario, get_strategy("app"), backend, replace(burst, seed=seed))
        assert cell.result is not None and not cell.harness_errors, cell.harness_errors
        if cell.result.verdict == "lost-updates":
            return
    raise AssertionError(f"{tries} bursts lost nothing: {cell.result}")
