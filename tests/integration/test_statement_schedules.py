"""Statement-level schedules and their systematic exploration, on unmodified application code.

The applications are :mod:`race_harness.examples`: Glance 1371728 as ORM code (get, set an
attribute, save the object back), Nova 1650188 as Core code (a stale target whose missing keys are
deleted), a counter read and written in two transactions, each with its fix. On PostgreSQL,
MariaDB and SQLite: the buggy code loses an update in the first, smallest interleaving, and the
``race-harness replay`` command printed for it reproduces it 20 times out of 20 as a user runs it;
the fixed code goes through every interleaving that can end differently, with contention, and
loses nothing.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, insert, select
from sqlalchemy.pool import NullPool

from race_harness import Entity, Scenario, UsageError, get_strategy, operation
from race_harness.databases import Backend
from race_harness.databases.mysql import InnoDBStatus, MySQLBackend
from race_harness.examples import counter_core, glance_orm, nova_core
from race_harness.runner.explorer import explore
from race_harness.runner.schedule import ScheduleRunner
from tests.cli import COMMAND

APPS = {"glance_orm": glance_orm, "nova_core": nova_core, "counter_core": counter_core}


def _ref(app: str, which: str) -> str:
    return f"race_harness.examples.{app}:{which}"


@pytest.mark.parametrize("app", list(APPS))
def test_the_buggy_code_loses_an_update_in_the_smallest_interleaving_and_its_command_replays_it(
    backend: Backend, app: str, tmp_path: Path
) -> None:
    with ScheduleRunner(backend) as runner:
        found = explore(runner, APPS[app].SCENARIO)
    assert found.verdict == "lost-updates", found.summary()
    assert found.explored == 1  # the probe: every session read before any wrote
    lost = found.first_lost
    assert lost is not None and lost.result.lost_writes >= 1 and lost.result.anomalies
    schedule = str(lost.schedule)
    # every session's statements are named by label, in the order they ran
    assert "A.select:" in schedule and "B.select:" in schedule and ".commit" in schedule
    command = found.replay_command(repeat=20)
    assert command is not None and command.startswith("race-harness replay ")
    argv = [*COMMAND, *shlex.split(command)[1:], "-q"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr  # SCENARIO declares lost: losing is what it should do
    assert "reproduced 20/20 (expected: lost)" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("app", list(APPS))
def test_the_fixed_code_loses_nothing_in_any_interleaving(backend: Backend, app: str) -> None:
    with ScheduleRunner(backend) as runner:
        found = explore(runner, APPS[app].FIXED)
    assert found.verdict == "no-lost-updates", found.summary()
    assert found.complete and found.stopped is None
    # the runs made before a session was seen to send more (a refused save's own path) are apart
    assert found.explored > 1 and found.pruned > 0 and found.run_of_total + found.pruned == found.total
    assert found.contention > 0  # the sessions did race: refused saves, waits, overlapping writes
    assert f"no lost update in any of the {found.explored} distinct interleavings" in "\n".join(found.summary())


def _driver_hit(conn: Any, page: int) -> None:
    """The counter against the driver itself (psycopg, PyMySQL or sqlite3), no SQLAlchemy."""
    mark = "?" if conn.__class__.__module__.startswith("sqlite3") else "%s"
    cur = conn.cursor()
    cur.execute(f"SELECT hits FROM app_page_hits WHERE id = {mark}", (page,))
    (hits,) = cur.fetchone()
    conn.commit()
    cur.execute(f"UPDATE app_page_hits SET hits = {mark} WHERE id = {mark}", (hits + 1, page))
    conn.commit()


def test_code_that_uses_the_driver_directly_is_stepped_statement_by_statement(backend: Backend) -> None:
    driver = Scenario(
        "driver_counter",
        entity=Entity(counter_core.PAGES, keys=[1], seed=counter_core._seed),
        operations={"hit": operation(_driver_hit, uses="dbapi", increments={"hits": 1})},
    )
    with ScheduleRunner(backend) as runner:
        found = explore(runner, driver)
    assert found.verdict == "lost-updates" and found.explored == 1, found.summary()
    labels = ["select:app_page_hits", "commit", "update:app_page_hits", "commit"]
    assert found.statements == {"A": labels, "B": labels}


def test_a_statement_blocked_on_a_lock_shows_its_holder_and_the_schedule_goes_on(backend: Backend) -> None:
    schedule = (
        "A.select:app_page_hits A.commit A.update:app_page_hits B.select:app_page_hits B.commit "
        "B.update:app_page_hits A.commit B.commit"
    )
    with ScheduleRunner(backend) as runner:
        result = runner.run(schedule, counter_core.FIXED, get_strategy("app"))
    text = result.format()
    assert "step B.update:app_page_hits: <waiting ...> (lock held by A)" in text, text
    assert "step A.commit: committed" in text and "step B.update:app_page_hits: <... completed> sent" in text, text
    assert result.lock_waits == 1 and result.assumed_waits == 0 and result.canceled == 0, text
    assert result.verdict == "no-lost-updates" and result.result.acknowledged == 2, text


def test_the_holder_is_named_while_another_session_reads_mariadbs_lock_cache(backend: Backend) -> None:
    # InnoDB refreshes INNODB_LOCK_WAITS only when it went unread for 100 ms: another session reading
    # it now and then (another test worker's schedule) left the cache stale at the one read a wait
    # makes, and the holder unnamed (seen in CI). Here that other session reads it every 250 ms, and
    # holds a row lock of its own, so that the status alone cannot name the holder: the cache must.
    if not isinstance(backend, MySQLBackend) or backend.has_data_lock_waits:
        pytest.skip("only MariaDB (and MySQL 5.7) name the holder from InnoDB's cached lock tables")
    stop = threading.Event()
    locking = threading.Event()
    with _one_row_table(backend) as (other, table):

        def poll() -> None:
            with other.connect() as conn, conn.begin():
                conn.exec_driver_sql(f"SELECT id FROM {table} WHERE id = 1 FOR UPDATE").all()
                locking.set()
                while not stop.wait(0.25):
                    conn.exec_driver_sql("SELECT * FROM information_schema.INNODB_LOCK_WAITS").all()

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            assert locking.wait(10)
            before = backend._lock_cache_read_at
            for _ in range(3):
                test_a_statement_blocked_on_a_lock_shows_its_holder_and_the_schedule_goes_on(backend)
            assert backend._lock_cache_read_at > before  # named from the cache, not from the status
        finally:
            stop.set()
            poller.join()


def test_the_status_read_from_the_server_proves_a_holder_or_leaves_it_to_the_cache(backend: Backend) -> None:
    """SHOW ENGINE INNODB STATUS as the server writes it: the waiter is found waiting for a row lock,
    the holder with its row lock, and the holder named from it unless another transaction on the
    server (another test worker's) has row locks too."""
    if not isinstance(backend, MySQLBackend) or backend.has_data_lock_waits:
        pytest.skip("only MariaDB (and MySQL 5.7) name the holder from InnoDB's cached lock tables")
    with _one_row_table(backend) as (engine, table):
        with engine.connect() as holder, engine.connect() as waiter, engine.connect() as monitor:
            ids = [int(c.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()) for c in (holder, waiter)]
            # each connection is in the transaction its first statement began (SQLAlchemy's autobegin)
            holder.exec_driver_sql(f"SELECT id FROM {table} WHERE id = 1 FOR UPDATE").all()
            waiter.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 5")
            blocked = threading.Thread(
                target=lambda: waiter.exec_driver_sql(f"SELECT id FROM {table} WHERE id = 1 FOR UPDATE").all()
            )
            blocked.start()
            try:
                deadline = time.monotonic() + 5
                while True:
                    status = InnoDBStatus.parse(str(monitor.exec_driver_sql("SHOW ENGINE INNODB STATUS").one()[2]))
                    if ids[1] in status.waiters() or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
            finally:
                holder.rollback()
                blocked.join()
                waiter.rollback()
        (waiting,) = [t for t in status.transactions if t.thread == ids[1]]
        (holding,) = [t for t in status.transactions if t.thread == ids[0]]
        assert waiting.waiting and waiting.waits_for_record and holding.row_locks >= 1, status
        others = [t for t in status.transactions if t.thread not in ids and t.row_locks > 0]
        assert status.sole_holder(ids[1]) == (None if others else ids[0]), status


@contextmanager
def _one_row_table(backend: Backend) -> Iterator[tuple[Engine, str]]:
    """An InnoDB table of this process's own on the server, holding one row (id 1) to lock, and an
    engine on it; both gone afterwards."""
    engine = create_engine(backend.admin_url, poolclass=NullPool)
    table = f"rh_one_row_{os.getpid()}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (id INT PRIMARY KEY) ENGINE=InnoDB")
        conn.exec_driver_sql(f"INSERT INTO {table} VALUES (1)")
    try:
        yield engine, table
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {table}")
        engine.dispose()


# a read that takes a while (~0.1 s) on each database, however loaded the machine is
_SLOW_READ = {
    "postgresql": "SELECT pg_sleep(0.1)",
    "mysql": "SELECT SLEEP(0.1)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c",
}


def _slow_counter(backend: Backend) -> Scenario:
    slow = _SLOW_READ[backend.family]

    def slow_hit(conn: Connection, page: int) -> None:
        conn.exec_driver_sql(slow).all()
        counter_core.hit_fixed(conn, page)

    return Scenario(
        "slow_counter",
        entity=Entity(counter_core.PAGES, keys=[1], seed=counter_core._seed),
        operations={"hit": operation(slow_hit, uses="connection", increments={"hits": 1})},
    )


@pytest.mark.parametrize(
    ("schedule", "read_step"),
    [
        # statement steps: B's slow read goes out while A's UPDATE holds the row (SQLite: the write lock)
        ("A.1 A.2 A.3 A.update:app_page_hits B.1 A.commit B.2 B.3 B.4 B.5", "B.1"),
        # phase steps: B's read (the slow one included) while A, stopped before its COMMIT, holds it
        ("A.read A.write B.read A.commit B.write B.commit", "B.read"),
    ],
)
def test_a_slow_read_beside_a_writer_is_not_taken_for_a_lock_wait(
    backend: Backend, schedule: str, read_step: str
) -> None:
    """A plain read never waits for a writer (MVCC; SQLite in WAL mode), however long it takes: on
    SQLite, where the harness is the lock view, a read still under way once looked blocked by the
    session holding the write lock, which a loaded machine turned into a flaky transcript."""
    with ScheduleRunner(backend) as runner:
        result = runner.run(schedule, _slow_counter(backend), get_strategy("app"))
    text = result.format()
    line = next(x for x in text.splitlines() if x.startswith(f"step {read_step}:"))
    assert "<waiting" not in line, text
    assert result.lock_waits == 0 and result.assumed_waits == 0 and result.canceled == 0, text
    assert result.verdict == "no-lost-updates" and result.final[1]["hits"] == 2, text


def test_sessions_on_different_rows_are_one_trace_and_prove_nothing(backend: Backend) -> None:
    """Row grain: A counts page 1 and B page 2, so every statement of one commutes with every one of
    the other; the probe is the only distinct interleaving, and with no contention it proves nothing.
    (Each execution's own bound values name the rows: SQLAlchemy's cached compiled form keeps the first
    execution's, which would put both sessions on page 1.)"""
    two_pages = Scenario(
        "two_pages",
        entity=Entity(counter_core.PAGES, keys=[1, 2], seed=lambda c: _two_pages(c)),
        operations={"hit": operation(counter_core.hit, increments={"hits": 1})},
    )
    with ScheduleRunner(backend) as runner:
        found = explore(runner, two_pages)
    assert found.complete and found.explored == 1 and found.pruned == found.total - 1 == 69, found.summary()
    assert found.verdict == "inconclusive" and found.contention == 0


def _two_pages(conn: Connection) -> None:
    conn.execute(insert(counter_core.PAGES).values([{"id": 1, "hits": 0}, {"id": 2, "hits": 0}]))


def test_a_schedule_naming_a_statement_the_session_does_not_send_is_one_line(tmp_path: Path) -> None:
    ref = _ref("glance_orm", "SCENARIO")
    for schedule, expected in (
        (
            "A=rename B=set_status A.select:glance_images B.update:glance_images",
            "schedule step B.update:glance_images: session B (set_status) sends select:glance_images as its "
            "statement 1; expected B.select:glance_images or B.1 there",
        ),
        (
            "A.1 A.2 A.3 A.4 A.5 A.6",
            "schedule step A.6: session A (rename) sends only 5 statements",
        ),
        (" ".join(f"A.{i}" for i in range(1, 52)), "session A has more than 50 statement steps (step A.51)"),
    ):
        proc = subprocess.run(
            [*COMMAND, "replay", "-s", ref, "-d", "sqlite", "--schedule", schedule, "-q"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def _chatty(conn: Connection, page: int) -> None:
    for _ in range(60):  # more statements than a statement-level schedule holds
        conn.execute(select(counter_core.PAGES.c.hits).where(counter_core.PAGES.c.id == page)).scalar_one()
    conn.commit()


def test_a_session_sending_more_statements_than_the_bound_is_one_line(backend: Backend) -> None:
    chatty = Scenario(
        "chatty",
        entity=Entity(counter_core.PAGES, keys=[1], seed=lambda c: counter_core._seed(c)),
        operations={"chatty": operation(_chatty, increments={"hits": 1})},
    )
    with ScheduleRunner(backend) as runner, pytest.raises(UsageError) as caught:
        explore(runner, chatty)
    assert "session B (chatty) sent more than 50 statements (statement 51: select:app_page_hits)" in str(caught.value)


def test_phases_and_strategy_scenarios_are_refused_in_one_line(backend: Backend) -> None:
    from race_harness import get_scenario

    with ScheduleRunner(backend) as runner:
        with pytest.raises(UsageError, match="explore needs an application's own functions"):
            explore(runner, get_scenario("glance_image_update"))
        with pytest.raises(UsageError, match="names statements, but scenario 'counter' runs a strategy"):
            runner.run("A.select:counter A.commit", get_scenario("counter"), get_strategy("full-row"))


PLUGIN_TESTS = """
import pytest


@pytest.mark.race(expect="lost")
def test_glance_loses(race_runner):
    found = race_runner.explore("race_harness.examples.glance_orm:SCENARIO")
    assert found.explored == 1


@pytest.mark.race(expect="none")
def test_nova_fixed_holds(race_runner):
    found = race_runner.explore("race_harness.examples.nova_core:FIXED", "add_key", "add_key")
    assert found.complete


@pytest.mark.race(expect="none")
def test_the_marker_catches_the_bug(race_runner):
    race_runner.explore("race_harness.examples.counter_core:SCENARIO")
"""


def test_race_runner_explore_is_what_the_marker_judges(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "--race-db", "sqlite", "test_app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "1 failed, 2 passed" in report, report
    assert "FAILED test_app.py::test_the_marker_catches_the_bug" in report
    assert "counter_core explored (1 of 70 interleavings" in report and "race-harness replay -s" in report


def _hit_with_retry(conn: Connection, page: int, attempts: int = 2) -> None:
    """A compare-and-set counter that tries again when its write was refused (another request
    changed the row since it read it), up to ``attempts`` times."""
    from sqlalchemy import update

    from race_harness.examples.counter_core import PAGES

    for _ in range(attempts):
        hits = conn.execute(select(PAGES.c.hits).where(PAGES.c.id == page)).scalar_one()
        conn.commit()
        stored = conn.execute(update(PAGES).where(PAGES.c.id == page, PAGES.c.hits == hits).values(hits=hits + 1))
        conn.commit()
        if stored.rowcount == 1:
            return


def test_the_counts_of_an_exploration_whose_sessions_retry_add_up(backend: Backend) -> None:
    """explored + pruned + not reached = total, stopped by a bound or complete, with runs made before
    a session was seen to send more counted apart: the summary never claims more than there are."""
    from race_harness.examples.counter_core import PAGES

    retrying = Scenario(
        "counter_retrying",
        entity=Entity(PAGES, keys=[1], seed=lambda conn: conn.execute(insert(PAGES).values(id=1, hits=0))),
        operations={"hit": operation(_hit_with_retry, uses="connection", increments={"hits": 1})},
        expected={"app": "none"},
    )
    for bound in (5, 40):  # stopped by the bound at each: the complete case is the fixed code's above
        with ScheduleRunner(backend) as runner:
            found = explore(runner, retrying, max_interleavings=bound, stop_on_first=False)
        counted = found.run_of_total
        assert counted == found.explored - found.extra and counted + found.pruned + found.not_reached == found.total, (
            found.summary()
        )
        assert found.pruned >= 0 and found.not_reached >= 0 and counted >= 1
        head = found.summary()[0]
        assert f"explored {counted} of {found.total} interleavings ({found.pruned} pruned as equivalent" in head
        if found.complete:
            assert found.not_reached == 0 and found.verdict == "no-lost-updates", found.summary()
        else:
            assert f"{found.not_reached} not reached" in head or found.not_reached == 0


def test_an_exploration_bound_counts_the_interleavings_not_the_applications_schema_set_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow schema set-up (an application's migrations) is reported apart and is in no bound: with
    --max-seconds shorter than the set-up, the fixed counter still runs every interleaving. Templates
    off: an earlier run's template would spare this one the set-up it is about."""
    import time

    monkeypatch.setenv("RACE_HARNESS_TEMPLATES", "off")

    from race_harness.databases import resolve
    from race_harness.examples.counter_core import FIXED, METADATA

    def migrate(url: str) -> None:
        from sqlalchemy import create_engine

        time.sleep(4)  # what a large application's migrations cost, at least
        engine = create_engine(url)
        try:
            METADATA.create_all(engine)
        finally:
            engine.dispose()

    assert FIXED.entity is not None
    slow = Scenario(
        "counter_slow_schema",
        entity=Entity(FIXED.entity.parent, keys=[1], seed=FIXED.entity.seed, create=migrate),
        operations=dict(FIXED.operations),
        expected={"app": "none"},
    )
    (backend,) = resolve("sqlite")
    backend.start()
    try:
        with ScheduleRunner(backend) as runner:
            found = explore(runner, slow, max_seconds=3.5)  # less than the set-up; 4x what exploring takes
    finally:
        backend.close()
    assert found.setup_s >= 4, found.summary()
    assert found.complete and found.verdict == "no-lost-updates", found.summary()
    assert f"(and {found.setup_s:.2f} s of schema set-up)" in found.summary()[0]


def _retrying(attempts: int) -> Scenario:
    from race_harness.examples.counter_core import PAGES

    def hit(conn: Connection, page: int) -> None:
        _hit_with_retry(conn, page, attempts)

    return Scenario(
        f"counter_retrying_{attempts}",
        entity=Entity(PAGES, keys=[1], seed=lambda conn: conn.execute(insert(PAGES).values(id=1, hits=0))),
        operations={"hit": operation(hit, uses="connection", increments={"hits": 1})},
        expected={"app": "none"},
    )


def test_a_fix_that_retries_five_times_is_explored_whole_within_the_default_bounds(backend: Backend) -> None:
    """Every attempt of a retry loop interleaved with a session that has already finished is one run:
    the exploration ends complete, with contention (refused writes), and loses nothing."""
    with ScheduleRunner(backend) as runner:
        found = explore(runner, _retrying(6))
    assert found.verdict == "no-lost-updates" and found.complete, found.summary()
    assert found.contention > 0 and found.run_of_total + found.pruned == found.total, found.summary()
