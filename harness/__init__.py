"""race-harness: reproduce and regression-test lost updates on real databases.

Data flows one way: scenario + strategy + database -> runner -> history -> checker -> result -> report.
"""

from race_harness.checkers import Anomaly, CheckResult, Stats, Verdict, check
from race_harness.databases import Backend, ScratchDatabase, mask_url, resolve, resolve_all
from race_harness.errors import DatabaseError, DatabaseUnreachableError, HarnessError, UnknownNameError, UsageError
from race_harness.explore import LostUpdateFound, assert_no_lost_updates, schedules
from race_harness.history import Event, History, Operation
from race_harness.matrix import CellResult, run_cell, run_matrix
from race_harness.model import EntitySchema, Intent, Snapshot
from race_harness.runner import RunConfig, RunRecord, run_stress
from race_harness.runner.schedule import ScheduleResult, ScheduleRunner
from race_harness.scenario import (
    NamedSchedule,
    Scenario,
    SecondBursts,
    WriteOp,
    WriterContext,
    get_scenario,
    scenario_names,
)
from race_harness.schedule import Schedule
from race_harness.strategies import Conflict, FinishOnCommit, Saved, SaveOnCommit, Strategy, available, get_strategy

__all__ = [
    "Anomaly",
    "Backend",
    "CellResult",
    "CheckResult",
    "Conflict",
    "DatabaseError",
    "DatabaseUnreachableError",
    "EntitySchema",
    "Event",
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
    "get_scenario",
    "get_strategy",
    "mask_url",
    "resolve",
    "resolve_all",
    "run_cell",
    "run_matrix",
    "run_stress",
    "scenario_names",
    "schedules",
]
