"""An application that opens its own driver connections (``psycopg.connect``, ``pymysql.connect``,
``MySQLdb.connect``, ``psycopg2.connect``, ``sqlite3.connect``) with no SQLAlchemy at all: its statements, COMMITs and
closes are seen as an engine's are, so a phase schedule steps it, the lock view names the session
holding a lock from the application's own connection, a stress run catches its lost update, and a
connection to another database is one line."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, make_url

from race_harness import Entity, RunConfig, Scenario, ScheduleRunner, get_strategy, operation
from race_harness.databases import Backend
from tests.integration.bursts import a_burst_loses

MD = MetaData()
NOTES = Table(
    "raw_notes",
    MD,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(40), nullable=False),
    Column("body", String(40), nullable=False),
)
APP: dict[str, Any] = {}  # the application's configuration: where to connect, with which driver


def configure(url: str) -> None:
    APP["url"] = make_url(url)


def _connect() -> Any:
    """A connection of the application's own, through the driver's module-level connect()."""
    url, driver = APP["url"], APP.get("driver")
    if url.get_backend_name() == "sqlite":
        import sqlite3

        return sqlite3.connect(url.database)
    if url.get_backend_name() == "postgresql":
        where = {"host": url.host, "port": url.port or 5432, "user": url.username, "password": url.password or ""}
        if driver == "psycopg2":
            import psycopg2

            return psycopg2.connect(**where, dbname=APP.get("dbname", url.database))
        import psycopg

        return psycopg.connect(**where, dbname=APP.get("dbname", url.database))
    # mysqlclient takes "localhost" for its Unix socket (another server here): TCP, as the URL means
    host = "127.0.0.1" if url.host == "localhost" else url.host
    where = {"host": host, "port": url.port or 3306, "user": url.username, "password": url.password or ""}
    if driver == "mysqlclient":
        import MySQLdb

        return MySQLdb.connect(**where, database=APP.get("dbname", url.database))
    import pymysql

    return pymysql.connect(**where, database=APP.get("dbname", url.database))


def _save_all(note: int, **change: str) -> None:
    """Read in one transaction, write every column back in another (the Glance pattern), closing the
    connection after each: a read that ends with close() ends the read phase too."""
    mark = "?" if APP["url"].get_backend_name() == "sqlite" else "%s"
    conn = _connect()
    cur = conn.cursor()
    cur.execute(f"SELECT title, body FROM raw_notes WHERE id = {mark}", (note,))
    title, body = cur.fetchone()
    conn.commit()
    conn.close()
    row = {"title": title, "body": body, **change}
    conn = _connect()
    cur = conn.cursor()
    cur.execute(
        f"UPDATE raw_notes SET title = {mark}, body = {mark} WHERE id = {mark}", (row["title"], row["body"], note)
    )
    conn.commit()
    conn.close()


def retitle(note: int, title: str) -> None:
    _save_all(note, title=title)


def rewrite(note: int, body: str) -> None:
    _save_all(note, body=body)


def _seed(conn: Any) -> None:
    conn.execute(insert(NOTES).values(id=1, title="t", body="b"))


OPS = {"retitle": operation(retitle, uses="app", sets="title"), "rewrite": operation(rewrite, uses="app", sets="body")}
SCENARIO = Scenario("raw_notes", entity=Entity(NOTES, keys=[1], seed=_seed), configure=configure, operations=OPS)
BURST = RunConfig(writers=8, readers=1, ops=8, think_ms=50)
DRIVERS = {"postgres": ["psycopg", "psycopg2"], "mysql": ["pymysql", "mysqlclient"], "sqlite": ["sqlite3"]}


@pytest.fixture(params=["first", "second"])
def driver(request: pytest.FixtureRequest, backend: Backend) -> str:
    family = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}[backend.family]
    choices = DRIVERS[family]
    if request.param == "second" and len(choices) < 2:
        pytest.skip(f"{backend.label} has one driver here")
    APP.pop("dbname", None)  # the configuration ("url") stays: the harness configures the application once
    APP["driver"] = choices[0 if request.param == "first" else 1]
    return str(APP["driver"])


def test_a_phase_schedule_steps_the_application_s_own_driver_connections(backend: Backend, driver: str) -> None:
    with ScheduleRunner(backend) as runner:
        out = runner.run("A=retitle B=rewrite A.read B.read A.write B.write", SCENARIO, get_strategy("app"))
    assert out.result.verdict == "lost-updates", out.transcript
    lost = out.result.anomalies[0].explanation
    assert "wrote back" in lost, lost  # the witness: what each call read and wrote, from the driver's statements


def test_the_lock_view_names_the_holder_from_the_application_s_own_driver_connection(
    backend: Backend, driver: str
) -> None:
    if backend.family == "sqlite":
        pytest.skip("SQLite has no lock view")
    with ScheduleRunner(backend) as runner:
        out = runner.run(
            "A=retitle B=rewrite A.read B.read A.write B.write A.commit B.commit", SCENARIO, get_strategy("app")
        )
    assert out.result.verdict == "lost-updates", out.transcript
    assert "step B.write: <waiting ...> (lock held by A)" in out.transcript, out.transcript


def test_a_stress_burst_catches_the_loss_through_the_driver(backend: Backend, driver: str) -> None:
    a_burst_loses(SCENARIO, backend)


def test_a_driver_connection_to_another_database_is_one_line(backend: Backend, driver: str) -> None:
    if backend.family == "sqlite":
        pytest.skip("SQLite's other database would be another file: the harness compares paths the same way")
    APP["dbname"] = "postgres" if backend.family == "postgresql" else "test"
    with ScheduleRunner(backend) as runner, pytest.raises(Exception) as raised:
        runner.run("A=retitle B=rewrite A.read B.read A.write B.write", SCENARIO, get_strategy("app"))
    message = str(raised.value)
    assert "\n" not in message and "not the scratch database" in message, message


def test_a_driver_setting_made_on_a_watched_connection_is_the_connection_s(tmp_path: Any) -> None:
    """``conn.isolation_level = None`` (sqlite3's autocommit; psycopg's ``conn.autocommit = True`` alike)
    set through the proxy is the driver connection's own setting: an INSERT then opens no transaction."""
    import sqlite3

    from race_harness.runner.app_steps import OwnDriverConnection, watch_driver_connects

    watch_driver_connects()
    conn = sqlite3.connect(str(tmp_path / "own.db"))
    try:
        assert type(conn) is OwnDriverConnection and isinstance(conn, sqlite3.Connection)
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.commit()
        conn.isolation_level = None
        conn.execute("INSERT INTO t VALUES (1)")
        assert not conn.in_transaction  # autocommit: the driver's, not an attribute of the proxy
    finally:
        conn.close()
