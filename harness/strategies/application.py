"""``app``: the application's own code is the strategy. Each write calls the function the scenario's
operation declares (:func:`race_harness.operation`); the harness only drives and records it
(:mod:`race_harness.runner.app_steps`). It runs application scenarios only, and they run nothing else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from race_harness.errors import HarnessError
from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy


class Application(Strategy):
    name = "app"
    summary = "the application's own functions, called as they are (application scenarios only)"
    proof = "overlap"

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        raise HarnessError("the app strategy calls the application's functions; it has no save of its own")
