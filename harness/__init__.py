"""race-harness: reproduce and regression-test lost updates on real databases.

Data flows one way: scenario + strategy + database -> runner -> history -> checker -> result -> report.

The public API below is imported on first use (PEP 562), so that ``import race_harness`` (which the
pytest plugin's load and ``race-harness --help`` do) costs next to nothing in a project that has the
package installed but does not use it in this run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_EXPORTS = {
    "Alembic": "race_harness.app_setup",
    "Anomaly": "race_harness.checkers",
    "AppOperation": "race_harness.operations",
    "Backend": "race_harness.databases",
    "CellResult": "race_harness.matrix",
    "CheckResult": "race_harness.checkers",
    "Children": "race_harness.entity",
    "Command": "race_harness.app_setup",
    "Conflict": "race_harness.strategies",
    "DatabaseError": "race_harness.errors",
    "DatabaseUnreachableError": "race_harness.errors",
    "Entity": "race_harness.entity",
    "EntitySchema": "race_harness.model",
    "Event": "race_harness.events",
    "FinishOnCommit": "race_harness.strategies",
    "HarnessError": "race_harness.errors",
    "History": "race_harness.history",
    "Intent": "race_harness.model",
    "LostUpdateFound": "race_harness.explore",
    "NamedSchedule": "race_harness.scenario",
    "Operation": "race_harness.events",
    "RunConfig": "race_harness.runner",
    "RunRecord": "race_harness.runner",
    "SaveOnCommit": "race_harness.strategies",
    "Saved": "race_harness.strategies",
    "Scenario": "race_harness.scenario",
    "Schedule": "race_harness.schedule",
    "ScheduleResult": "race_harness.runner.schedule",
    "ScheduleRunner": "race_harness.runner.schedule",
    "Exploration": "race_harness.runner.explorer",
    "explore_statements": "race_harness.runner.explorer",
    "ScratchDatabase": "race_harness.databases",
    "SecondBursts": "race_harness.scenario",
    "Snapshot": "race_harness.model",
    "Stats": "race_harness.checkers",
    "Strategy": "race_harness.strategies",
    "UnknownNameError": "race_harness.errors",
    "UsageError": "race_harness.errors",
    "Verdict": "race_harness.checkers",
    "WriteOp": "race_harness.operations",
    "WriterContext": "race_harness.operations",
    "assert_no_lost_updates": "race_harness.explore",
    "available": "race_harness.strategies",
    "check": "race_harness.checkers",
    "get_scenario": "race_harness.scenario",
    "get_strategy": "race_harness.strategies",
    "mask_url": "race_harness.errors",
    "operation": "race_harness.operations",
    "resolve": "race_harness.databases",
    "resolve_all": "race_harness.databases",
    "run_cell": "race_harness.matrix",
    "run_matrix": "race_harness.matrix",
    "run_stress": "race_harness.runner",
    "scenario_names": "race_harness.scenario",
    "schedule_settings": "race_harness.explore",
    "schedules": "race_harness.explore",
}

__all__ = [
    "Alembic",
    "Anomaly",
    "AppOperation",
    "Backend",
    "CellResult",
    "CheckResult",
    "Children",
    "Command",
    "Conflict",
    "DatabaseError",
    "DatabaseUnreachableError",
    "Entity",
    "EntitySchema",
    "Event",
    "Exploration",
    "FinishOnCommit",
    "HarnessError",
    "History",
    "Intent",
    "LostUpdateFound",
    "NamedSchedule",
    "Operation",
    "RunConfig",
    "RunRecord",
    "SaveOnCommit",
    "Saved",
    "Scenario",
    "Schedule",
    "ScheduleResult",
    "ScheduleRunner",
    "ScratchDatabase",
    "SecondBursts",
    "Snapshot",
    "Stats",
    "Strategy",
    "UnknownNameError",
    "UsageError",
    "Verdict",
    "WriteOp",
    "WriterContext",
    "assert_no_lost_updates",
    "available",
    "check",
    "explore_statements",
    "get_scenario",
    "get_strategy",
    "mask_url",
    "operation",
    "resolve",
    "resolve_all",
    "run_cell",
    "run_matrix",
    "run_stress",
    "scenario_names",
    "schedule_settings",
    "schedules",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("race-harness")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'race_harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # the same names, for type checkers and IDEs (tests/unit/test_public_api.py keeps them in step)
    from race_harness.app_setup import Alembic, Command
    from race_harness.checkers import Anomaly, CheckResult, Stats, Verdict, check
    from race_harness.databases import Backend, ScratchDatabase, resolve, resolve_all
    from race_harness.entity import Children, Entity
    from race_harness.errors import (
        DatabaseError,
        DatabaseUnreachableError,
        HarnessError,
        UnknownNameError,
        UsageError,
        mask_url,
    )
    from race_harness.events import Event, Operation
    from race_harness.explore import LostUpdateFound, assert_no_lost_updates, schedule_settings, schedules
    from race_harness.history import History
    from race_harness.matrix import CellResult, run_cell, run_matrix
    from race_harness.model import EntitySchema, Intent, Snapshot
    from race_harness.operations import AppOperation, WriteOp, WriterContext, operation
    from race_harness.runner import RunConfig, RunRecord, run_stress
    from race_harness.runner.explorer import Exploration, explore_statements
    from race_harness.runner.schedule import ScheduleResult, ScheduleRunner
    from race_harness.scenario import NamedSchedule, Scenario, SecondBursts, get_scenario, scenario_names
    from race_harness.schedule import Schedule
    from race_harness.strategies import Conflict, FinishOnCommit, Saved, SaveOnCommit, Strategy, available, get_strategy
