"""A save's last write (:class:`SaveOnCommit`, :class:`FinishOnCommit`), run on its own or sent
together with COMMIT.

On one hot row every write transaction holds the row lock from its UPDATE until its COMMIT. Run
one after the other, that window holds a round trip plus whatever the client does in between: with
the GIL shared by many sessions, milliseconds. Sent as one query, ``UPDATE ...; COMMIT``, the
window is the server's own work, as for a stored procedure.

Why one simple-protocol query and not psycopg's pipeline mode: both make one round trip inside the
lock window, but the pipeline also syncs again on exit and wakes the client several times per
transaction; measured on 8 threads, the harness spent 282 us of CPU per transaction with the
pipeline and 224 us with the single query. The parameters are bound client-side by psycopg's
``ClientCursor``, which quotes them with libpq's escaping.

The history stays exact. A write that matched no row is still a conflict (``fail``): it was the
transaction's only write, so its COMMIT committed nothing. Errors are told apart by what the server
did: when a statement of a multi-statement query fails, the server skips the rest (the COMMIT) and
the transaction is left in error, so the write is definitely not applied; any other error is the
COMMIT's own, judged as a lone COMMIT's would be (``info`` unless the error proves an abort).
"""

from __future__ import annotations

import psycopg
from psycopg import pq
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from race_harness.databases.direct import compiled, psycopg_connection, reused_cursor, sqlalchemy_error
from race_harness.strategies.base import Conflict, FinishOnCommit, Saved, SaveOnCommit

LastWrite = SaveOnCommit | FinishOnCommit


class StatementFailed(Exception):
    """The last write itself failed; the server skipped the COMMIT sent behind it."""

    def __init__(self, error: DBAPIError) -> None:
        super().__init__(str(error))
        self.error = error


def run_now(conn: Connection, save: LastWrite) -> Saved | Conflict:
    """Run the last write as ordinary statements; the runner commits later (schedules, MySQL, SQLite)."""
    if isinstance(save, FinishOnCommit):
        for statement, params in save.statements:
            conn.execute(statement, params)
        return Saved(save.written)
    if conn.execute(save.statement, save.params).rowcount == 0:
        return Conflict(save.reason)
    return Saved(save.written)


def can_send_with_commit(conn: Connection) -> bool:
    return psycopg_connection(conn) is not None


def send_with_commit(conn: Connection, save: LastWrite) -> int | None:
    """Send the last write and COMMIT as one query; the rows a :class:`SaveOnCommit` matched (None
    for a :class:`FinishOnCommit`, whose counts decide nothing).

    Raises :class:`StatementFailed` when a write failed (nothing was committed) and
    :class:`DBAPIError` when the COMMIT failed or the connection broke (outcome unknown unless the
    error proves an abort). The SQLAlchemy transaction is still open afterwards: committing it sends
    nothing (psycopg skips COMMIT outside a transaction), rolling it back ends an aborted one.
    """
    raw = psycopg_connection(conn)
    assert raw is not None, "send_with_commit needs psycopg"
    cursor = reused_cursor(conn, raw, psycopg.ClientCursor)
    if isinstance(save, SaveOnCommit):
        comp = compiled(save.statement, tuple(sorted(save.params)), conn.dialect)
        sql, values = comp.sql + "; COMMIT", comp.driver_params(save.params)
    else:
        # each statement bound on its own (their parameter names repeat), then sent as one query
        parts = []
        for statement, params in save.statements:
            comp = compiled(statement, tuple(sorted(params)), conn.dialect)
            parts.append(cursor.mogrify(comp.sql, comp.driver_params(params)))
        sql, values = "; ".join([*parts, "COMMIT"]), None
    try:
        cursor.execute(sql, values)
    except psycopg.Error as exc:
        wrapped = sqlalchemy_error(conn, raw, exc, sql, values)
        # in error, not idle: a write failed and the server skipped the COMMIT behind it
        if not wrapped.connection_invalidated and raw.info.transaction_status == pq.TransactionStatus.INERROR:
            raise StatementFailed(wrapped) from exc
        raise wrapped from exc
    return cursor.rowcount if isinstance(save, SaveOnCommit) else None  # the first statement's: the UPDATE's
