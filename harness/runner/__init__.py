"""Runners drive sessions against a database and write the history."""

from race_harness.defaults import ISOLATIONS, SCOPES, Isolation, Scope
from race_harness.runner.config import ConflictPolicy, RunConfig
from race_harness.runner.stress import CellPlan, RunRecord, StressRun, plan_cell, run_stress

__all__ = [
    "ISOLATIONS",
    "SCOPES",
    "CellPlan",
    "ConflictPolicy",
    "Isolation",
    "RunConfig",
    "RunRecord",
    "Scope",
    "StressRun",
    "plan_cell",
    "run_stress",
]
