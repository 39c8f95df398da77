"""PostgreSQL through psycopg 3."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from race_harness.databases import begin_with_first
from race_harness.databases.base import (
    NAME_PREFIX,
    SQL_ISOLATION,
    Isolation,
    ScratchDatabase,
    ServerBackend,
    like_prefix,
    scratch_name,
)
from race_harness.databases.pristine import Pristine
from race_harness.databases.templates import TEMPLATE_PREFIX
from race_harness.errors import DatabaseError


class PostgresBackend(ServerBackend):
    family = "postgresql"
    default_isolation = "read-committed"

    def connect_args(self) -> dict[str, Any]:
        # PostgreSQL waits for a lock forever by default: a lock some other session holds on the
        # harness's tables would stall the run silently. Bounded, the wait ends the operation as
        # `fail lock-timeout` (55P03) and the run goes on. MySQL/MariaDB get the same bound as
        # innodb_lock_wait_timeout (their own default is 50 s).
        return {**super().connect_args(), "options": f"-c lock_timeout={round(self.lock_timeout_s * 1000)}"}

    def make_engine(
        self,
        url: URL,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        if not begin_with_first_statement:
            return super().make_engine(url, pool_size, isolation)
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={**self.connect_args(), **begin_with_first.connect_args()},
            isolation_level="AUTOCOMMIT",  # psycopg sends no BEGIN; fold_begin sends it with the first statement
        )
        begin = "BEGIN ISOLATION LEVEL " + SQL_ISOLATION[isolation] if isolation else "BEGIN"
        begin_with_first.fold_begin(engine, begin)
        return engine

    def fetch_version(self) -> str:
        row = self.admin_execute("SHOW server_version")[0]
        return f"postgresql {str(row[0]).split()[0]}"

    def create_database(self, name: str | None = None) -> ScratchDatabase:
        if name is None:
            name = scratch_name()
        else:
            self.drop_database(name)  # this process's own, left by a failed drop
        self.admin_execute(f'CREATE DATABASE "{name}"')
        return ScratchDatabase(name, self.admin_url.set(database=name), self)

    def drop_database(self, name: str) -> None:
        # WITH (FORCE) (PostgreSQL 13+) ends sessions a crashed run left connected
        try:
            self.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except DatabaseError as exc:
            if "template" not in str(exc):
                raise
            # a run killed while publishing a template left it marked as one: unmark, then drop
            self._unmark(name)
            self.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __init__(self, admin_url: URL, source: str | None = None) -> None:
        super().__init__(admin_url, source)
        self._pristine: dict[str, Pristine] = {}  # remember()'s key -> what the database held

    def kill_sessions(self, database: str) -> int:
        rows = self.admin_execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        return int(rows[0][0])

    def leftover_databases(self) -> list[str]:
        rows = self.admin_execute(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{like_prefix(NAME_PREFIX)}%' "
            f"AND datname NOT LIKE '{like_prefix(TEMPLATE_PREFIX)}%'"
        )
        return [r[0] for r in rows]

    # a template is a database marked IS_TEMPLATE that takes no connections (CREATE DATABASE ...
    # TEMPLATE fails while anyone is connected to its source), published by renaming: atomic
    def template_names(self) -> list[str]:
        rows = self.admin_execute(
            f"SELECT datname FROM pg_database WHERE datname LIKE '{like_prefix(TEMPLATE_PREFIX)}%'"
        )
        return sorted(r[0] for r in rows)

    def publish_template(self, scratch: ScratchDatabase, name: str) -> bool:
        self.kill_sessions(scratch.name)  # what the application's migrations left connected
        self.admin_execute(f'ALTER DATABASE "{scratch.name}" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true')
        self.kill_sessions(scratch.name)  # a pool that reconnected in between
        try:
            self.admin_execute(f'ALTER DATABASE "{scratch.name}" RENAME TO "{name}"')
        except DatabaseError:
            if name not in self.template_names():
                raise
            self._unmark(scratch.name)  # another process published the same template first: theirs serves
        return True

    def copy_template(self, template: str, name: str | None = None) -> ScratchDatabase:
        if name is None:
            name = scratch_name()
        else:
            self.drop_database(name)  # this process's own, left by a failed drop
        self.admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.remember(template, name)  # a template takes no connections: its copy is read, untouched yet
        return ScratchDatabase(name, self.admin_url.set(database=name), self)

    def remember(self, key: str, database: str) -> None:
        if key not in self._pristine and self.admin_url.get_driver_name() == "psycopg":  # COPY is psycopg's
            with self._on(database) as conn:
                self._pristine[key] = Pristine.read(conn)

    def reset_copy(self, key: str, database: str) -> bool:
        if key not in self._pristine:
            return False
        with self._on(database) as conn:
            return self._pristine[key].restore(conn)

    @contextlib.contextmanager
    def _on(self, database: str) -> Iterator[Connection]:
        engine = create_engine(
            self.admin_url.set(database=database), poolclass=NullPool, connect_args=self.connect_args()
        )
        try:
            with engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise DatabaseError(f"{self.family} database {database}: {_first_line(exc)}") from None
        finally:
            engine.dispose()

    def drop_template(self, name: str) -> None:
        self.drop_database(name)

    def _unmark(self, name: str) -> None:
        """A template database can be dropped only once it is no longer one."""
        self.admin_execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')

    def classify(self, exc: DBAPIError) -> str:
        # psycopg 3 names the SQLSTATE sqlstate, psycopg2 (Django's other driver) pgcode
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
        return {
            "40001": "serialization",
            "40P01": "deadlock",
            "55P03": "lock-timeout",
            "57014": "timeout",
        }.get(state, "integrity" if state.startswith("23") else "error")

    def session_id(self, conn: Connection) -> int | None:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

    def driver_session_id(self, driver_connection: Any) -> int | None:
        info = getattr(driver_connection, "info", None)  # psycopg 3's ConnectionInfo
        return int(info.backend_pid) if info is not None else None

    def lock_waits(
        self, monitor: Connection, sessions: Collection[int], *, holders: bool = True
    ) -> dict[int, set[int]] | None:
        # pg_blocking_pids() (9.6+) is the lock manager's own answer: heavyweight locks, including
        # the transaction-id lock a row-level UPDATE / FOR UPDATE waits on
        rows = monitor.execute(
            text("SELECT pid, pg_blocking_pids(pid) FROM unnest(CAST(:pids AS integer[])) AS pid"),
            {"pids": list(sessions)},
        ).all()
        return {int(pid): set(blockers) for pid, blockers in rows if blockers}

    def cancel(self, monitor: Connection, session: int) -> None:
        monitor.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": session})


def _first_line(exc: DBAPIError) -> str:
    return next((line for line in str(exc.orig).splitlines() if line.strip()), type(exc.orig).__name__)
