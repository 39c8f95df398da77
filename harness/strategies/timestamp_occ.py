"""``timestamp-occ[:P]``: optimistic concurrency on ``updated_at`` with P fractional digits (0-6).

``UPDATE ... SET updated_at = :now WHERE id = :id AND updated_at = :seen``. With P = 0 (MySQL's
``DATETIME`` without a precision, the proposed Glance fix) two writes within one second store the
same ``updated_at``, so the second write's check passes against a value it did not read from the
first: the lost update survives the "fix". P = 6 (``DATETIME(6)``) closes that window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from race_harness.defaults import Bug, Expectation
from race_harness.errors import UsageError
from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy, full_row_write


class TimestampOCC(Strategy):
    name = "timestamp-occ"
    summary = "full-row write guarded by WHERE updated_at = :seen; :P = column precision 0..6 (default 6)"
    token = "updated_at"

    def __init__(self, param: str | None = None) -> None:
        precision = 6 if param is None else param
        if isinstance(precision, str):
            if not (precision.isascii() and precision.isdigit() and 0 <= int(precision) <= 6):
                raise UsageError(
                    f"expected a precision from 0 to 6 (fractional digits of updated_at) but got timestamp-occ:{param}"
                )
            precision = int(precision)
        self.timestamp_precision = precision

    def expected_against(self, bug: Bug) -> Expectation | None:
        """Whole seconds (precision 0) let two writes in one second both pass the check: any kind of
        bug is then lost; finer precision keeps them apart."""
        return "lost" if self.timestamp_precision == 0 else "none"

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.timestamp_precision}"

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        return full_row_write(conn, tables, snapshot, intent, now, check={"updated_at": snapshot.updated_at})
