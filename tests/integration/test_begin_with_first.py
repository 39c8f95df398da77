"""PostgreSQL engines whose BEGIN travels with the first statement, and the direct psycopg read.

The stress runner's engines keep psycopg in autocommit mode and send ``BEGIN ...`` in the same
query as the transaction's first statement (:mod:`race_harness.databases.begin_with_first`); the read
every operation makes goes straight to psycopg (:func:`race_harness.databases.direct.fetch_all`). Both
are invisible to the database only if the transaction is still one transaction, at the isolation
asked for. Each test provokes what would differ if it were not: a concurrent commit between two
reads, a rollback, an error in the first statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from psycopg import pq
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import Isolation
from race_harness.databases.direct import fetch_all, psycopg_connection
from race_harness.scenario import get_scenario
from race_harness.schema import Tables

from .conftest import get_backend

COUNTER = get_scenario("counter")
(ENTITY,) = COUNTER.entities


@contextmanager
def folded(isolation: Isolation | None) -> Iterator[tuple[Engine, Engine, Tables]]:
    """(an engine that folds BEGIN, an ordinary engine for the other session, the counter tables)."""
    backend = get_backend("postgres")
    tables = COUNTER.tables(6)
    with backend.create_database() as scratch:
        engine = scratch.engine(2, isolation, begin_with_first_statement=True)
        other = scratch.engine(1)
        try:
            with other.begin() as conn:
                tables.create(conn)
            yield engine, other, tables
        finally:
            engine.dispose()
            other.dispose()


def n_of(conn: Connection, tables: Tables) -> int:
    snap = tables.snapshot(conn, ENTITY)
    assert snap is not None
    return int(snap.state["n"])


def bump(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE counters SET n = n + 1"))


def server_status(conn: Connection) -> pq.TransactionStatus:
    raw = psycopg_connection(conn)
    assert raw is not None
    return raw.info.transaction_status


@pytest.mark.parametrize(
    ("isolation", "second_read_sees_the_commit"), [("repeatable-read", False), ("read-committed", True)]
)
def test_the_transaction_has_the_isolation_asked_for(isolation: Isolation, second_read_sees_the_commit: bool) -> None:
    # under REPEATABLE READ the snapshot is taken by the first statement, the one BEGIN travelled with
    with folded(isolation) as (engine, other, tables), engine.connect() as conn, conn.begin():
        first = n_of(conn, tables)  # the direct read
        assert server_status(conn) == pq.TransactionStatus.INTRANS
        bump(other)
        assert n_of(conn, tables) == first + (1 if second_read_sees_the_commit else 0)
        (through_sqlalchemy,) = conn.execute(text("SELECT n FROM counters")).one()
        assert through_sqlalchemy == first + (1 if second_read_sees_the_commit else 0)


@pytest.mark.parametrize("first_statement", ["direct read", "sqlalchemy execute"])
def test_a_rollback_undoes_the_writes_so_they_were_in_a_transaction(first_statement: str) -> None:
    # psycopg is in autocommit mode: had no BEGIN gone out, the UPDATE would have committed on its own
    with folded("read-committed") as (engine, other, tables):
        with engine.connect() as conn:
            txn = conn.begin()
            if first_statement == "direct read":
                before = n_of(conn, tables)
            else:
                (before,) = conn.execute(text("SELECT n FROM counters")).one()
            conn.execute(text("UPDATE counters SET n = n + 100"))
            txn.rollback()
            assert server_status(conn) == pq.TransactionStatus.IDLE
        with other.connect() as check:
            (after,) = check.execute(text("SELECT n FROM counters")).one()
        assert after == before


def test_a_transaction_that_ran_nothing_sends_nothing_and_the_next_one_begins_again() -> None:
    with folded("repeatable-read") as (engine, other, tables), engine.connect() as conn:
        with conn.begin():
            pass
        assert server_status(conn) == pq.TransactionStatus.IDLE
        with conn.begin():
            first = n_of(conn, tables)
            bump(other)
            assert n_of(conn, tables) == first  # a snapshot again: this transaction's BEGIN went out too
        assert server_status(conn) == pq.TransactionStatus.IDLE


def test_an_error_in_the_first_statement_is_wrapped_and_the_connection_goes_on() -> None:
    with folded("read-committed") as (engine, _, tables), engine.connect() as conn:
        txn = conn.begin()
        with pytest.raises(DBAPIError, match="no_such_table"):
            conn.execute(text("SELECT * FROM no_such_table"))
        assert server_status(conn) == pq.TransactionStatus.INERROR  # BEGIN ran, the statement failed
        txn.rollback()
        with conn.begin():
            assert n_of(conn, tables) == COUNTER.initial[ENTITY]["n"]


def test_a_begin_left_by_a_transaction_that_ran_nothing_is_not_sent_outside_a_transaction() -> None:
    with folded("repeatable-read") as (engine, _, tables), engine.connect() as conn:
        with conn.begin():
            pass
        n_of(conn, tables)  # the direct read, outside any transaction of SQLAlchemy's
        assert server_status(conn) == pq.TransactionStatus.IDLE  # no BEGIN went out with it


@pytest.mark.parametrize("label", ["it's 100% %s", "plain"])
def test_a_direct_read_binds_each_key_and_quotes_it(label: str) -> None:
    # the read's query is bound once per key and kept: each key must still read its own row, and a
    # quote or a % in a value must reach the server as the value
    labels = Table("labels", MetaData(), Column("label", String(40), primary_key=True), Column("n", Integer))
    query = select(labels.c.n).where(labels.c.label == bindparam("key"))
    with folded("read-committed") as (engine, other, _):
        with other.begin() as conn:
            labels.create(conn)
            conn.execute(labels.insert(), [{"label": label, "n": 1}, {"label": "other", "n": 2}])
        with engine.connect() as conn:
            for _ in range(2):
                with conn.begin():
                    assert fetch_all(conn, query, {"key": label}) == [(1,)]
                    assert fetch_all(conn, query, {"key": "other"}) == [(2,)]
                    assert fetch_all(conn, query, {"key": "nobody"}) == []
                assert server_status(conn) == pq.TransactionStatus.IDLE
