"""Receipts: what turns a write of unknown outcome into a known one after a fault.

A COMMIT whose connection died may or may not have committed, so the write ends ``info`` and the
checker can neither count it as applied nor as lost; a counter cell with one such increment can
only be undecided. Under a nemesis each strategy write therefore also inserts a receipt, the
operation's key, in its own transaction: the receipt exists after the run exactly when that
transaction committed. The final read reads them back, and each ``info`` write becomes ``ok``
(its receipt is there) or ``fail`` (it is not): a verdict instead of a shrug.

Only the harness's own strategy writes carry receipts; an application's call runs its own
transactions, which the harness does not add to.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from sqlalchemy import Column, Connection, MetaData, String, Table, insert, select

from race_harness.events import Event
from race_harness.history import History

METADATA = MetaData()
RECEIPTS = Table("race_harness_receipt", METADATA, Column("op", String(32), primary_key=True))
RESOLVED_COMMITTED = "committed: its receipt was found after the run"
RESOLVED_NOT_COMMITTED = "not committed: no receipt was found after the run"


def receipt_key(session: int, seq: int) -> str:
    """The receipt of a session's ``seq``-th write operation (0-based): the same key in a writer
    process and in the merged history, where it is that session's ``seq``-th writer invocation."""
    return f"{session}.{seq}"


def create_receipts(conn: Connection) -> None:
    METADATA.create_all(conn)


def write_receipt(conn: Connection, key: str) -> None:
    """In the write's own transaction, before its COMMIT."""
    conn.execute(insert(RECEIPTS).values(op=key))


def read_receipts(conn: Connection) -> set[str]:
    return set(conn.scalars(select(RECEIPTS.c.op)))


def resolve(history: History, committed: Collection[str]) -> tuple[History, int]:
    """The history with each writer's ``info`` completion made ``ok`` or ``fail`` by its receipt, and
    how many were resolved. Nothing else changes: times, what was read and written, the error."""
    seen: dict[int, int] = {}  # session -> writer invocations so far
    open_keys: dict[int, str] = {}  # session -> the key of its open writer invocation
    events: list[Event] = []
    resolved = 0
    for ev in history.events:
        if ev.role == "writer" and ev.type == "invoke":
            seq = seen.get(ev.process, 0)
            seen[ev.process] = seq + 1
            open_keys[ev.process] = receipt_key(ev.process, seq)
        elif ev.role == "writer":
            key = open_keys.pop(ev.process, None)
            if ev.type == "info" and key is not None:
                found = key in committed
                note = RESOLVED_COMMITTED if found else RESOLVED_NOT_COMMITTED
                ev = replace(
                    ev,
                    type="ok" if found else "fail",
                    written=ev.written if found else None,
                    reason=None if found else ev.reason or "not-committed",
                    error=f"{ev.error}; {note}" if ev.error else note,
                )
                resolved += 1
        events.append(ev)
    out = History(events, history.origin)
    out.faults = list(history.faults)
    return out, resolved


__all__ = ["RECEIPTS", "create_receipts", "read_receipts", "receipt_key", "resolve", "write_receipt"]
