"""``process-lock``: an in-process lock around read-modify-write, the fix first proposed for the Nova
bug. It serializes writers that are threads of one process and protects nothing across processes:
run with ``--processes`` and it loses updates like ``full-row``."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection

from race_harness.model import Intent, Snapshot
from race_harness.schema import Tables
from race_harness.strategies.base import SaveResult, Strategy, full_row_write

_LOCK = threading.Lock()  # one per process, which is the point


class ProcessLock(Strategy):
    loses_to = frozenset()  # within one process; with writer processes it loses (one_process_only)
    name = "process-lock"
    summary = "threading.Lock around load + save: safe for threads, not for processes"
    one_process_only = True
    proof = "overlap"

    def guard(self) -> AbstractContextManager[object]:
        return _LOCK

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        return full_row_write(conn, tables, snapshot, intent, now)
