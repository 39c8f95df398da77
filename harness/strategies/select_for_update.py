"""``select-for-update``: pessimistic locking. Read with ``SELECT ... FOR UPDATE`` in the write
transaction, so a second writer waits at its read until the first commits, then sees its change.

Needs read and write in one transaction (scope ``single`` is forced). SQLite has no row locks; there
the transaction begins ``IMMEDIATE``, taking the database write lock before the read.

The lock is taken in a statement of its own, and the entity is read after it. A single
``SELECT ... JOIN children ... FOR UPDATE OF parent`` loses updates on PostgreSQL READ COMMITTED
(this harness caught it: 85/200 Glance and 176/200 Nova writes lost): after waiting for the lock,
PostgreSQL re-reads the locked row but returns the joined child rows from the statement's old
snapshot, so the write-back drops the other request's keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy, full_row_write


class SelectForUpdate(Strategy):
    loses_to = frozenset()
    name = "select-for-update"
    summary = "SELECT ... FOR UPDATE, then the full-row write, in one transaction"
    scope = "single"
    lock_on_read = True
    proof = "overlap"  # writers queue on the lock: they overlap in time and never conflict

    def load(self, conn: Connection, tables: Tables, entity: int) -> Snapshot | None:
        p = tables.parent
        if conn.execute(select(p.c.id).where(p.c.id == entity).with_for_update()).first() is None:
            return None
        # a new statement: under READ COMMITTED it sees everything committed before the lock was granted
        return tables.snapshot(conn, entity)

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        return full_row_write(conn, tables, snapshot, intent, now)
