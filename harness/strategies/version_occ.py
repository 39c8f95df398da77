"""``version-occ``: optimistic concurrency on an integer version column.

``UPDATE ... SET version = version + 1 WHERE id = :id AND version = :seen``; no matched row means
someone committed since the read: a conflict. The write itself is the full-row write, so this is
the fix layered on Glance's existing save path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy, full_row_write


class VersionOCC(Strategy):
    loses_to = frozenset()
    name = "version-occ"
    summary = "full-row write guarded by WHERE version = :seen, version = version + 1"
    token = "version"

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        return full_row_write(
            conn,
            tables,
            snapshot,
            intent,
            now,
            check={"version": snapshot.version},
            bump_version=True,
        )
