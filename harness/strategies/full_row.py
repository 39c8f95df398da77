"""``full-row``: write back every column of the object that was loaded (Glance bug 1371728)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy, full_row_write


class FullRow(Strategy):
    loses_to = frozenset({"clobbered-field", "lost-increment"})  # writes back every column it read
    name = "full-row"
    summary = "UPDATE every column from the loaded object; child rows diffed against it (the bug)"

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        return full_row_write(conn, tables, snapshot, intent, now)
