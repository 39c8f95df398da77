"""MySQL and MariaDB through PyMySQL.

SQLAlchemy's MySQL dialects connect with ``CLIENT.FOUND_ROWS``, so ``rowcount`` is the number of
rows an UPDATE matched, not changed; the OCC strategies depend on that (see
``harness.strategies.base.update_parent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from harness.databases.base import NAME_PREFIX, Isolation, ScratchDatabase, ServerBackend, scratch_name

# server error codes that roll back the statement or transaction without applying it
_ABORTS = {
    1213: "deadlock",  # ER_LOCK_DEADLOCK: the whole transaction was rolled back
    1205: "lock-timeout",  # ER_LOCK_WAIT_TIMEOUT: the statement was rolled back; we roll back the rest
    1020: "serialization",  # MariaDB ER_CHECKREAD "Record has changed since last read" (snapshot isolation)
    1062: "integrity",  # ER_DUP_ENTRY
    1452: "integrity",  # ER_NO_REFERENCED_ROW_2
}


class MySQLBackend(ServerBackend):
    """``session`` holds server variables set on every connection of the runs (not the admin one):
    ``{"innodb_snapshot_isolation": "ON"}`` makes MariaDB's REPEATABLE READ refuse lost updates."""

    family = "mysql"
    default_isolation = "repeatable-read"

    def __init__(self, admin_url: URL, source: str | None = None, session: Mapping[str, str] | None = None) -> None:
        super().__init__(admin_url, source)
        self.session = dict(session or {})

    @property
    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.session.items())
        return self.version + extra

    def with_session(self, **settings: str) -> MySQLBackend:
        """The same server with extra session variables (its own column in a comparison)."""
        return MySQLBackend(self.admin_url, self.source, {**self.session, **settings})

    def server_variable(self, name: str) -> str | None:
        """The server's global value of a variable, or None where the server has no such variable."""
        rows = self.admin_execute(f"SHOW VARIABLES LIKE '{name}'")
        return str(rows[0][1]) if rows else None

    def effective_variable(self, name: str) -> str | None:
        """What the harness's sessions run with: the session setting, else the server's default."""
        return self.session.get(name) or self.server_variable(name)

    def make_engine(self, url: URL, pool_size: int, isolation: Isolation | None = None) -> Engine:
        engine = super().make_engine(url, pool_size, isolation)
        if self.session:
            statement = "SET SESSION " + ", ".join(f"{k} = {v}" for k, v in self.session.items())

            @event.listens_for(engine, "connect")
            def _session(dbapi_conn: Any, _record: Any) -> None:
                with dbapi_conn.cursor() as cur:
                    cur.execute(statement)

        return engine

    def fetch_version(self) -> str:
        raw = str(self.admin_execute("SELECT VERSION()")[0][0])  # 10.11.19-MariaDB-0+deb12u1 / 8.0.39
        number = raw.split("-")[0]
        return f"mariadb {number}" if "mariadb" in raw.lower() else f"mysql {number}"

    def create_database(self) -> ScratchDatabase:
        name = scratch_name()
        self.admin_execute(f"CREATE DATABASE `{name}`")
        return ScratchDatabase(name, self.admin_url.set(database=name), self)

    def drop_database(self, name: str) -> None:
        self.admin_execute(f"DROP DATABASE IF EXISTS `{name}`")

    def leftover_databases(self) -> list[str]:
        pattern = NAME_PREFIX.replace("_", "\\_")  # "_" is a LIKE wildcard
        rows = self.admin_execute(f"SHOW DATABASES LIKE '{pattern}%'")
        return [r[0] for r in rows]

    def classify(self, exc: DBAPIError) -> str:
        args = getattr(exc.orig, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        return _ABORTS.get(code, "error") if code is not None else "error"
