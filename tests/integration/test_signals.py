"""Signals at several moments of a run on the databases the harness makes itself: nothing stays.

The embedded PostgreSQL and SQLite live in folders the harness creates under ``$TMPDIR``; each test
gives its run a ``$TMPDIR`` of its own, so "nothing left" is checked exactly: no folder, no server
process, no guard process. SIGKILL runs no handler at all, so what cleans up after it is the guard
(:mod:`race_harness.databases.watchdog`), within seconds. On PostgreSQL and MariaDB, which the
harness does not own, SIGINT, SIGTERM and a double SIGINT mid-run drop the run's scratch databases
before it exits; after SIGKILL the next start (or ``race-harness clean``) drops them, which
``test_leftovers_of_a_killed_run_are_dropped_and_nothing_else`` in test_cli.py shows.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli import COMMAND, sweep_lock
from tests.integration.conftest import get_backend

EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A short $TMPDIR of the run's own: a Unix socket's path (the embedded server's) has ~100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="rh-sig-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _ours(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("race_harness_"))


def _processes_on(path: Path) -> list[str]:
    """Processes (a server, a guard) whose command line names ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(f"{proc.name}: {cmdline[:120]}")
    return found


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _server_up(tmp: Path) -> bool:
    return any(
        (d / "postmaster.pid").exists() and (d / "postmaster.opts").exists() for d in tmp.glob("race_harness_pg_*")
    )


MOMENTS: dict[str, tuple[str, Callable[[Path], bool], float]] = {
    # name: database, when the run has reached the moment, extra wait after it
    "embedded during start-up": ("embedded-postgres", lambda t: bool(list(t.glob("race_harness_pg_*"))), 0.0),
    "embedded mid-run": ("embedded-postgres", _server_up, 2.0),
    "sqlite mid-run": ("sqlite", lambda t: bool(list(t.glob("race_harness_*/*.db"))), 0.5),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_signal_at_any_moment_leaves_nothing(tmp_path: Path, tmp: Path, moment: str, sig: signal.Signals) -> None:
    db, reached, settle = MOMENTS[moment]
    env = {**os.environ, "TMPDIR": str(tmp)}
    args = [*COMMAND, "run", "-s", "counter", "-S", "full-row", "-d", db, "--duration", "60", "-q"]
    with sweep_lock(exclusive=False):
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _wait(lambda: reached(tmp) or proc.poll() is not None, 60), "the run never got there"
            assert proc.poll() is None, proc.communicate()
            time.sleep(settle)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == EXPECTED[sig], err
    if sig != signal.SIGKILL:
        assert "Traceback" not in err and f"interrupted ({sig.name})" in err, err
    # after SIGKILL the guard stops the server and deletes the folder: give it a few seconds
    assert _wait(lambda: not _ours(tmp), 30), f"left behind: {_ours(tmp)}"
    assert _wait(lambda: not _processes_on(tmp), 15), f"still running: {_processes_on(tmp)}"


def test_a_second_interrupt_during_clean_up_cuts_nothing_short(tmp_path: Path, tmp: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp)}
    args = [*COMMAND, "run", "-s", "counter", "-S", "full-row", "-d", "embedded-postgres", "--duration", "60", "-q"]
    with sweep_lock(exclusive=False):
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _wait(lambda: _server_up(tmp) or proc.poll() is not None, 60)
            time.sleep(2)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)  # the clean-up has begun: stopping the server takes longer than this
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert _wait(lambda: not _ours(tmp), 30), f"left behind: {_ours(tmp)}"
    assert _wait(lambda: not _processes_on(tmp), 15), f"still running: {_processes_on(tmp)}"


@pytest.mark.parametrize("signals", [["SIGINT"], ["SIGTERM"], ["SIGINT", "SIGINT"]], ids="+".join)
@pytest.mark.parametrize("server", ["postgres", "mysql"])
def test_a_signal_mid_run_on_a_server_drops_the_runs_databases(tmp_path: Path, server: str, signals: list[str]) -> None:
    backend = get_backend(server)
    url = backend.admin_url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    args = [*COMMAND, "run", "-s", "counter", "-S", "full-row", "-d", url, "--duration", "60", "-q"]
    with sweep_lock(exclusive=False):
        proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            mine = f"_{proc.pid}_"
            assert _wait(lambda: any(mine in n for n in backend.leftover_databases()) or proc.poll() is not None, 60)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
            for name in signals:
                proc.send_signal(signal.Signals[name])
                time.sleep(0.05)  # a second one lands during the clean-up
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == EXPECTED[signal.Signals[signals[0]]], err
    assert "Traceback" not in err and f"interrupted ({signals[0]})" in err, err
    assert not [n for n in backend.leftover_databases() if mine in n]


def test_sigkill_with_writer_processes_leaves_no_process_of_the_run(sweeping: None, tmp_path: Path) -> None:
    """``--processes`` starts a process per writer; SIGKILL runs no handler of the harness, and still no
    process of the run (a writer, the resource tracker) survives it by 10 s, nor keeps a session open."""
    import psutil

    backend = get_backend("postgres")  # a server the harness does not own: its sessions are counted there
    args = [*COMMAND, "run", "-s", "counter", "-S", "version-occ", "--processes", "-w", "4", "-r", "0"]
    args += ["--duration", "120", "-d", backend.spec, "-q", "--report-dir", str(tmp_path / "out")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        harness = psutil.Process(proc.pid)
        writers = lambda: [c for c in harness.children(recursive=True) if "multiprocessing" in " ".join(c.cmdline())]  # noqa: E731
        assert _wait(lambda: len(writers()) >= 4 or proc.poll() is not None, 60), proc.communicate()
        time.sleep(2)  # the writers are writing
        run = harness.children(recursive=True)
        assert proc.poll() is None, proc.communicate()
    finally:
        proc.kill()
        proc.wait()

    def alive() -> list[str]:
        found = []
        for p in run:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:  # an orphan's zombie waits for init: it holds nothing
                    found.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
            except psutil.NoSuchProcess:
                pass
        return found

    assert _wait(lambda: not alive(), 10), alive()
    # its scratch database, left by SIGKILL, is what `clean` (or any later start) drops: its creator is gone
    cleaned = subprocess.run([*COMMAND, "clean", "-d", backend.spec], capture_output=True, text=True, check=False)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not [n for n in backend.leftover_databases() if n.startswith(f"race_harness_{proc.pid}_")]
