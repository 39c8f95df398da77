"""``serializable-retry``: read and write in one SERIALIZABLE transaction, retry what the database
aborts (SQLSTATE 40001 on PostgreSQL, deadlock 1213 / lock wait timeout 1205 on MySQL and MariaDB,
SQLITE_BUSY), up to ``--max-attempts`` attempts with backoff. The write is the plain full-row write:
the isolation level does the protecting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy, full_row_write


class SerializableRetry(Strategy):
    loses_to = frozenset()
    name = "serializable-retry"
    summary = "one SERIALIZABLE transaction, aborted attempts retried (40001 / 1213 / 1205 / busy)"
    scope = "single"
    isolation = "serializable"
    retry_reasons = frozenset({"serialization", "deadlock", "lock-timeout", "busy"})

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        return full_row_write(conn, tables, snapshot, intent, now)
