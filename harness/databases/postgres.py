"""PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from race_harness.databases import begin_with_first
from race_harness.databases.base import (
    NAME_PREFIX,
    SQL_ISOLATION,
    Isolation,
    ScratchDatabase,
    ServerBackend,
    scratch_name,
)


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
        self.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def kill_sessions(self, database: str) -> int:
        rows = self.admin_execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        return int(rows[0][0])

    def leftover_databases(self) -> list[str]:
        pattern = NAME_PREFIX.replace("_", "\\_")  # "_" is a LIKE wildcard
        rows = self.admin_execute(f"SELECT datname FROM pg_database WHERE datname LIKE '{pattern}%'")
        return [r[0] for r in rows]

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

    def lock_waits(self, monitor: Connection, sessions: Collection[int]) -> dict[int, set[int]] | None:
        # pg_blocking_pids() (9.6+) is the lock manager's own answer: heavyweight locks, including
        # the transaction-id lock a row-level UPDATE / FOR UPDATE waits on
        rows = monitor.execute(
            text("SELECT pid, pg_blocking_pids(pid) FROM unnest(CAST(:pids AS integer[])) AS pid"),
            {"pids": list(sessions)},
        ).all()
        return {int(pid): set(blockers) for pid, blockers in rows if blockers}

    def cancel(self, monitor: Connection, session: int) -> None:
        monitor.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": session})
