"""An application that connects itself (a module-level engine, ``uses="app"``), its schema made by
its own set-up, on real databases: a stress run and a schedule find its lost update, the lock view
names the session holding the lock from the application's own connection, and a configuration
that points elsewhere, a set-up that fails or statements the harness cannot see are one line."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, select, update

from race_harness import (
    Command,
    Entity,
    RunConfig,
    Scenario,
    ScheduleRunner,
    UsageError,
    get_strategy,
    operation,
    run_cell,
)
from race_harness.databases import Backend
from tests.integration.bursts import a_burst_loses

MD = MetaData()
NOTES = Table(
    "own_notes",
    MD,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(40), nullable=False),
    Column("body", String(40), nullable=False),
)
ENGINE: dict[str, Engine] = {}  # the application's module-level engine


def configure(url: str) -> None:
    if "engine" in ENGINE:
        ENGINE["engine"].dispose()
    ENGINE["engine"] = _started(url)


def _started(url: str, connections: int = 8) -> Engine:
    """The application's engine with its pool filled at start-up, as a service opens its connections
    before it takes requests: connecting inside a burst (about 250 ms each on a busy MariaDB) would
    spread the sessions' reads over that time, and a burst whose reads do not overlap loses nothing."""
    engine = create_engine(url, pool_size=connections)
    opened = [engine.connect() for _ in range(connections)]
    for conn in opened:
        conn.close()  # back into the pool, still connected
    return engine


def _save_all(note: int, **change: Any) -> None:
    """Load in one transaction, write every column back in another (the Glance pattern)."""
    with ENGINE["engine"].begin() as conn:
        row = dict(conn.execute(select(NOTES.c.title, NOTES.c.body).where(NOTES.c.id == note)).mappings().one())
    row.update(change)
    with ENGINE["engine"].begin() as conn:
        conn.execute(update(NOTES).where(NOTES.c.id == note).values(**row))


def retitle(note: int, title: str) -> None:
    _save_all(note, title=title)


def rewrite(note: int, body: str) -> None:
    _save_all(note, body=body)


def _seed(conn: Any) -> None:
    conn.execute(insert(NOTES).values(id=1, title="t", body="b"))


ENTITY = Entity(NOTES, keys=[1], seed=_seed)
OPS = {"retitle": operation(retitle, uses="app", sets="title"), "rewrite": operation(rewrite, uses="app", sets="body")}
NOTES_SCENARIO = Scenario("own_notes", entity=ENTITY, configure=configure, operations=OPS)
BURST = RunConfig(writers=8, readers=1, ops=8, think_ms=50)
APP = get_strategy("app")


def test_a_stress_burst_catches_the_application_losing_an_update(backend: Backend) -> None:
    a_burst_loses(NOTES_SCENARIO, backend)


def test_the_lock_view_names_the_holder_from_the_application_s_own_connection(backend: Backend) -> None:
    with ScheduleRunner(backend) as runner:
        out = runner.run("A=retitle B=rewrite A.read B.read A.write B.write A.commit B.commit", NOTES_SCENARIO, APP)
    assert out.result.verdict == "lost-updates", out.text
    assert "step B.write: <waiting ...> (lock held by A)" in out.transcript, out.transcript


def _elsewhere(url: str) -> None:
    ENGINE["engine"] = create_engine("sqlite://")  # an in-memory database: not the scratch database


_BOUND_CONNECT = sqlite3.connect  # bound at import, before the harness hooks the driver's connect()


def _own_driver(note: int, title: str) -> None:
    _BOUND_CONNECT(":memory:").execute("SELECT 1")  # neither SQLAlchemy nor the driver's hooked connect()


def _memory_database(note: int, title: str) -> None:
    sqlite3.connect(":memory:").execute("SELECT 1")  # seen through the hooked connect(): another database


MISDIRECTED = Scenario("misdirected", entity=ENTITY, configure=_elsewhere, operations=OPS)


def test_a_writer_process_that_finds_the_application_misdirected_ends_the_run_in_one_line(backend: Backend) -> None:
    with pytest.raises(UsageError, match=r"^scenario 'misdirected': operation .* not the scratch database"):
        run_cell(MISDIRECTED, APP, backend, RunConfig(writers=2, readers=0, ops=4, processes=True))


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            MISDIRECTED,
            "sent its statement to sqlite://, not the scratch database ",
        ),
        (
            Scenario(
                "failing_migrations",
                entity=Entity(NOTES, keys=[1], seed=_seed, create=Command(["false"])),
                configure=configure,
                operations=OPS,
            ),
            "scenario 'failing_migrations': schema command false exited 1",
        ),
        (
            Scenario(
                "unseen",
                entity=ENTITY,
                configure=configure,
                operations={"retitle": operation(_own_driver, uses="app", sets="title")},
            ),
            "scenario 'unseen': operation 'retitle' (_own_driver) sent no statement the harness could see",
        ),
        (
            Scenario(
                "in_memory",
                entity=ENTITY,
                configure=configure,
                operations={"retitle": operation(_memory_database, uses="app", sets="title")},
            ),
            "operation _memory_database sent its statement to the database '', not the scratch database ",
        ),
    ],
    ids=lambda v: v.name if isinstance(v, Scenario) else "",
)
def test_a_wrong_set_up_is_one_line_and_leaves_no_database(backend: Backend, scenario: Scenario, expected: str) -> None:
    mine = f"_{os.getpid()}_"  # this process's scratch databases (another xdist worker's come and go)
    before = {n for n in backend.leftover_databases() if mine in n}
    with pytest.raises(UsageError) as err:
        run_cell(scenario, APP, backend, RunConfig(writers=2, readers=0, ops=4))
    assert expected in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert str(err.value).startswith(f"scenario {scenario.name!r}: "), str(err.value)
    with ScheduleRunner(backend) as runner, pytest.raises(UsageError) as again:
        runner.run("A.read B.read A.write B.write", scenario, APP)
    assert expected in str(again.value)
    assert {n for n in backend.leftover_databases() if mine in n} <= before
