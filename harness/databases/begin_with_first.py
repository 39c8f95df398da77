"""PostgreSQL transactions whose BEGIN travels with their first statement: one round trip fewer.

psycopg opens a transaction with a ``BEGIN`` of its own, sent and waited for before the first
statement. In a short read-modify-write that is one round trip in three (``BEGIN``, ``SELECT``,
``UPDATE; COMMIT``), and the client CPU of a whole query: measured with 8 threads on 2 cores,
folding it into the read took a bare psycopg client from 188 to 115 us of CPU per transaction.

So an engine made here keeps psycopg in autocommit mode (psycopg sends no BEGIN) and sends one
itself, as the first statement of the query that carries the transaction's first statement:
``BEGIN ISOLATION LEVEL ...; SELECT ...``. That takes the simple query protocol, which only
psycopg's ``ClientCursor`` speaks with parameters (bound client-side with libpq's escaping, as
SQLAlchemy documents for it). Everything else stays SQLAlchemy's: ``conn.begin()`` marks the
transaction as started, COMMIT and ROLLBACK are psycopg's, which send them only when the server
says a transaction is open (its transaction status, not the autocommit flag), so a transaction that
ran no statement sends nothing, exactly as before.

The server runs the two statements in order, so the transaction's snapshot, locks and isolation are
those of a separate BEGIN: the change is one fewer reply on the wire, nothing the database can see.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

_PENDING = "race_harness_begin_pending"
_FOLDED = "race_harness_begin_folded"


def fold_begin(engine: Engine, begin: str) -> None:
    """Make ``engine`` (psycopg, in autocommit mode, ``ClientCursor``) send ``begin`` with the first
    statement of each transaction."""

    # No listener clears it at COMMIT or ROLLBACK (two listeners were a few percent of a writer's time
    # on the GIL): a transaction that sent nothing leaves it behind, and the next transaction's
    # begin replaces it; take_pending_begin sends it only inside a transaction.
    @event.listens_for(engine, "begin")
    def _began(conn: Connection) -> None:
        conn.info[_PENDING] = begin

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> tuple[str, Any]:
        begin = take_pending_begin(conn)
        if begin is None:
            return statement, parameters
        if executemany:  # one query per row: the BEGIN goes first, on its own
            cursor.execute(begin)
            return statement, parameters
        conn.info[_FOLDED] = True
        return f"{begin}; {statement}", parameters

    @event.listens_for(engine, "after_cursor_execute")
    def _after(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        # the cursor stands on the BEGIN's result; SQLAlchemy reads the statement's, the next one
        if conn.info.pop(_FOLDED, False):
            cursor.nextset()


def take_pending_begin(conn: Connection) -> str | None:
    """The BEGIN the transaction open on ``conn`` has not sent yet, which the caller now sends with
    its statement; None when it was sent, when no transaction is open (an empty one's is dropped
    here), or when ``conn``'s engine does not fold BEGIN. For statements run on the driver's
    connection directly (:mod:`race_harness.databases.direct`)."""
    begin: str | None = conn.info.pop(_PENDING, None)
    return begin if begin is not None and conn.in_transaction() else None


def connect_args() -> dict[str, Any]:
    return {"cursor_factory": psycopg.ClientCursor}


__all__ = ["connect_args", "fold_begin", "take_pending_begin"]
