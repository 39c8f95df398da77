"""The pytest plugin in a real pytest run (pytest -n 2, in a subprocess) on PostgreSQL and MariaDB/MySQL:
its fixtures give each test a database of its own and drop it after a passing, a failing and an
interrupted (Ctrl-C) run; its marker fails a test whose race runs miss the declared verdict."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from race_harness.databases import Backend

from .conftest import get_backend

INNER = """
import os, pathlib, time
import pytest

OUT = pathlib.Path(os.environ["RACE_PLUGIN_OUT"])


def _note(kind, race_db):
    (OUT / f"{kind}.{os.getpid()}.{race_db.name}").write_text(race_db.backend.spec)


def test_normal(race_db):
    _note("normal", race_db)
    engine = race_db.engine(1)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id int)")
    finally:
        engine.dispose()


def test_failing(race_db):
    _note("failing", race_db)
    assert False, "fails on purpose"


@pytest.mark.race(expect="lost")
def test_marker_lost(race_runner):
    (OUT / f"runner.{os.getpid()}.x").write_text("")
    race_runner.schedule("A.read B.read A.write B.write", "glance_image_update", "full-row")


@pytest.mark.race(expect="none")
def test_marker_catches_a_wrong_expectation(race_runner):
    race_runner.schedule("A.read B.read A.write B.write", "counter", "full-row")


@pytest.mark.race(expect="lost")
def test_a_scenario_that_does_not_exist(race_runner):
    race_runner.schedule("A.read B.read A.write B.write", "glance_image_updates", "full-row")


def test_interrupted(race_db):
    _note("interrupted", race_db)
    time.sleep(120)
"""


@pytest.fixture
def servers() -> list[Backend]:
    return [get_backend("postgres"), get_backend("mysql")]


def _inner(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "test_inner.py").write_text(INNER)
    out = tmp_path / "out"
    out.mkdir()
    return out, {**os.environ, "RACE_PLUGIN_OUT": str(out)}


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-rA", *args]


def _leftovers(servers: list[Backend], out: Path) -> list[str]:
    """Scratch databases created by the inner run's worker processes that still exist."""
    pids = {p.name.split(".")[1] for p in out.iterdir()}
    assert pids, "the inner run recorded no worker"
    return [name for b in servers for name in b.leftover_databases() if name.split("_")[2] in pids]


def test_passing_and_failing_tests_leave_no_database_behind(servers: list[Backend], tmp_path: Path) -> None:
    out, env = _inner(tmp_path)
    # the databases come from the ini key here; the interrupted run below uses --race-db
    (tmp_path / "pytest.ini").write_text("[pytest]\nrace_db =\n" + "".join(f"    {b.spec}\n" for b in servers))
    proc = subprocess.run(
        _pytest("-k", "not interrupted", "test_inner.py"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 1, report
    assert "6 failed, 4 passed" in report, report
    for name in ("test_normal", "test_marker_lost"):
        assert report.count(f"PASSED test_inner.py::{name}[") == len(servers), report
    assert "fails on purpose" in report
    # the failure's first line is its headline: declared, came out, where, what ran
    assert re.search(
        r"expected none, lost 1/2 on \S+ [\d.]+[^:]*: counter x full-row \[A.read B.read A.write B.write\]", report
    )
    # the session ends with the same headline as run and report, over its race tests (sent by xdist workers)
    assert "6 race tests: 2 lost as declared, 0 none as declared, 2 differ, 2 inconclusive" in report, report
    # a wrong scenario is its one line, as the CLI prints it, not a traceback through the harness
    wrong = report[report.index("_ test_a_scenario_that_does_not_exist[") :]
    wrong = wrong[: wrong.index("\n_")] if "\n_" in wrong else wrong
    assert "unknown scenario 'glance_image_updates'" in wrong and "race_harness/" not in wrong, wrong
    assert "differs: test_inner.py::test_marker_catches_a_wrong_expectation[" in report
    noted = [p.name for p in out.iterdir() if p.name.startswith(("normal", "failing"))]
    assert len(noted) == 4  # a database per test and database
    assert _leftovers(servers, out) == []


def test_an_interrupted_run_drops_its_databases(servers: list[Backend], tmp_path: Path) -> None:
    out, env = _inner(tmp_path)
    args = [a for b in servers for a in ("--race-db", b.spec)]
    proc = subprocess.Popen(
        _pytest(*args, "-k", "interrupted", "test_inner.py"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so SIGINT reaches every worker as Ctrl-C does
    )
    try:
        deadline = time.monotonic() + 120
        while len([p for p in out.iterdir() if p.name.startswith("interrupted")]) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, "the inner tests never started"
            time.sleep(0.2)
        names = [p.name.split(".", 2)[2] for p in out.iterdir()]
        assert all(any(n in b.leftover_databases() for b in servers) for n in names)  # they exist now
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, output
    assert "KeyboardInterrupt" in output or "Interrupted" in output, output
    assert _leftovers(servers, out) == []
