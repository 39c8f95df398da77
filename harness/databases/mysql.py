"""MySQL and MariaDB through PyMySQL.

SQLAlchemy's MySQL dialects connect with ``CLIENT.FOUND_ROWS``, so ``rowcount`` is the number of
rows an UPDATE matched, not changed; the OCC strategies depend on that (see
``harness.strategies.base.update_parent``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import (
    NAME_PREFIX,
    Isolation,
    ScratchDatabase,
    ServerBackend,
    like_prefix,
    scratch_name,
)
from race_harness.databases.templates import OWN_TABLE_PREFIX, TEMPLATE_PREFIX
from race_harness.errors import DatabaseError

# server error codes that roll back the statement or transaction without applying it
_ABORTS = {
    1213: "deadlock",  # ER_LOCK_DEADLOCK: the whole transaction was rolled back
    1205: "lock-timeout",  # ER_LOCK_WAIT_TIMEOUT: the statement was rolled back; we roll back the rest
    3572: "lock-timeout",  # MySQL 8+ ER_LOCK_NOWAIT: FOR UPDATE NOWAIT found the row locked (PostgreSQL's 55P03)
    1020: "serialization",  # MariaDB ER_CHECKREAD "Record has changed since last read" (snapshot isolation)
    1062: "integrity",  # ER_DUP_ENTRY
    1452: "integrity",  # ER_NO_REFERENCED_ROW_2
}


# Lock waits as (waiting connection id, blocking connection id).
# - MySQL 8.0+: performance_schema.data_lock_waits (live), whose performance-schema thread ids map
#   back to connection ids through performance_schema.threads.
# - MariaDB and MySQL 5.7: information_schema.INNODB_LOCK_WAITS. InnoDB fills it (and INNODB_TRX)
#   from a cache it refreshes only when nobody has read it for 100 ms (can_cache_be_updated() in
#   trx0i_s.cc), so a poller, or any other session reading those tables often, keeps it stale for
#   good. Who WAITS is therefore read from SHOW ENGINE INNODB STATUS, which is live (a transaction
#   marked "LOCK WAIT"). It does not name the holder, but proves it when one other transaction on
#   the server has row locks (InnoDBStatus.sole_holder): the common case of a schedule on a server of
#   its own. Otherwise INNODB_LOCK_WAITS names it: asked for a new wait only (a wait already written
#   down is only confirmed), no sooner than 100 ms after this backend last read it (a read sooner
#   finds the cache as that read left it), and again, 100 ms apart, while another session's reads
#   keep the wait out of it.
INNODB_CACHE_IDLE_S = 0.11  # InnoDB refreshes the cache once it went unread for 100 ms (CACHE_MIN_IDLE_TIME)
INNODB_CACHE_REREADS = 3  # another session may read it meanwhile: a few tries, 0.33 s at most per wait
INNODB_LOCK_WAITS = """
SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id
FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
"""
DATA_LOCK_WAITS = """
SELECT rt.PROCESSLIST_ID, bt.PROCESSLIST_ID
FROM performance_schema.data_lock_waits w
JOIN performance_schema.threads rt ON rt.THREAD_ID = w.REQUESTING_THREAD_ID
JOIN performance_schema.threads bt ON bt.THREAD_ID = w.BLOCKING_THREAD_ID
"""


class MySQLBackend(ServerBackend):
    """``session`` holds server variables set on every connection of the runs (not the admin one):
    ``{"innodb_snapshot_isolation": "ON"}`` makes MariaDB's REPEATABLE READ refuse lost updates."""

    family = "mysql"
    default_isolation = "repeatable-read"

    def __init__(self, admin_url: URL, source: str | None = None, session: Mapping[str, str] | None = None) -> None:
        super().__init__(admin_url, source)
        self.session = dict(session or {})
        self._shapes: dict[str, _Shape] = {}  # template name -> what copying it takes
        self._pristine: dict[str, _Pristine] = {}  # remember()'s key -> what the database held
        self._lock_cache_read_at = -math.inf  # when lock_waits last read InnoDB's lock cache (time.monotonic())

    @property
    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.session.items())
        # the driver, where it is not the default PyMySQL: the same server through two drivers is two columns
        driver = " (mysqlclient)" if self.admin_url.get_driver_name() == "mysqldb" else ""
        return self.version + driver + extra

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

    def make_engine(
        self,
        url: URL,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        engine = super().make_engine(url, pool_size, isolation)
        # the same lock-wait bound as PostgreSQL's lock_timeout (whole seconds), then the URL's settings
        settings = {"innodb_lock_wait_timeout": str(math.ceil(self.lock_timeout_s)), **self.session}
        statement = "SET SESSION " + ", ".join(f"{k} = {v}" for k, v in settings.items())

        @event.listens_for(engine, "connect")
        def _session(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(statement)

        return engine

    def fetch_version(self) -> str:
        raw = str(self.admin_execute("SELECT VERSION()")[0][0])  # 10.11.19-MariaDB-0+deb12u1 / 8.0.39
        number = raw.split("-")[0]
        return f"mariadb {number}" if "mariadb" in raw.lower() else f"mysql {number}"

    def create_database(self, name: str | None = None) -> ScratchDatabase:
        if name is None:
            name = scratch_name()
        else:
            self.drop_database(name)  # this process's own, left by a failed drop
        self.admin_execute(f"CREATE DATABASE `{name}`")
        return ScratchDatabase(name, self.admin_url.set(database=name), self)

    def drop_database(self, name: str) -> None:
        self.admin_execute(f"DROP DATABASE IF EXISTS `{name}`")

    def kill_sessions(self, database: str) -> int:
        rows = self.admin_execute(
            f"SELECT id FROM information_schema.processlist WHERE db = '{database}' AND id <> CONNECTION_ID()"
        )
        killed = 0
        for (session,) in rows:
            try:
                self.admin_execute(f"KILL CONNECTION {int(session)}")
                killed += 1
            except DatabaseError:  # ended between the list and the KILL (1094: unknown thread id)
                continue
        return killed

    def leftover_databases(self) -> list[str]:
        rows = self.admin_execute(f"SHOW DATABASES LIKE '{like_prefix(NAME_PREFIX)}%'")
        return [r[0] for r in rows if not r[0].startswith(TEMPLATE_PREFIX)]

    # MySQL has no database templates: a template is a schema of its own holding the migrated tables
    # and a marker table; a copy is its tables made again from SHOW CREATE TABLE, with their rows.
    # Creating InnoDB tables costs about what the migrations' own DDL did, so a copy this process is
    # done with is kept (parked) and, when the same template is asked for again, emptied and given
    # the template's rows back instead: the DDL is paid once per process.
    def template_names(self) -> list[str]:
        return sorted(r[0] for r in self.admin_execute(f"SHOW DATABASES LIKE '{like_prefix(TEMPLATE_PREFIX)}%'"))

    def template_exists(self, name: str) -> bool:
        return bool(
            self.admin_execute(
                f"SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{name}' AND TABLE_NAME = '{_MARKER}'"
            )
        )

    def publish_template(self, scratch: ScratchDatabase, name: str) -> bool:
        if _untemplatable(self, scratch.name):
            return False
        self.kill_sessions(scratch.name)  # a transaction the migrations left open would hold its tables
        self.admin_execute(f"CREATE TABLE `{scratch.name}`.`{_MARKER}` (made_by VARCHAR(64))")
        tables = _base_tables(self, scratch.name)
        self.admin_execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        if self.template_exists(name):
            return True  # another process published it first
        moves = ", ".join(f"`{scratch.name}`.`{t}` TO `{name}`.`{t}`" for t in tables)
        try:
            self.admin_execute(f"RENAME TABLE {moves}")  # all or nothing: the marker moves last of none
        except DatabaseError:
            if not self.template_exists(name):
                raise
        return True

    def copy_template(self, template: str, name: str | None = None) -> ScratchDatabase:
        scratch = self.create_database(name)
        self.admin_execute(self._shape(template).copy(template, scratch.name), verbatim=True)
        self.remember(template, scratch.name)
        return scratch

    def can_publish(self, database: str) -> bool:
        return not _untemplatable(self, database)

    def remember(self, key: str, database: str) -> None:
        if key not in self._pristine:
            self._pristine[key] = _Pristine.read(self, database)

    def reset_copy(self, key: str, database: str) -> bool:
        pristine = self._pristine.get(key)
        return pristine is not None and pristine.restore(self, database)

    def _shape(self, template: str) -> _Shape:
        if template not in self._shapes:
            self._shapes[template] = _Shape.read(self, template)
        return self._shapes[template]

    def _counters(self, schema: str) -> dict[str, int]:
        """The AUTO_INCREMENT of every table of ``schema`` that has one."""
        # MySQL 8 caches these figures for a day unless told not to; MariaDB has no such variable
        fresh = ["SET SESSION information_schema_stats_expiry = 0"] if self.version.startswith("mysql") else []
        query = (
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = '{schema}' AND AUTO_INCREMENT IS NOT NULL"
        )
        return {str(t): int(n) for t, n in self.admin_execute([*fresh, query])}

    def drop_template(self, name: str) -> None:
        self.drop_database(name)

    def classify(self, exc: DBAPIError) -> str:
        args = getattr(exc.orig, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        return _ABORTS.get(code, "error") if code is not None else "error"

    def session_id(self, conn: Connection) -> int | None:
        return int(conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one())

    def driver_session_id(self, driver_connection: Any) -> int | None:
        # the server's connection id: PyMySQL and mysqlclient both have thread_id()
        thread_id = getattr(driver_connection, "thread_id", None)
        return int(thread_id()) if callable(thread_id) else None

    @property
    def has_data_lock_waits(self) -> bool:
        family, _, number = self.version.partition(" ")
        return family == "mysql" and int(number.split(".")[0]) >= 8

    def lock_waits(
        self, monitor: Connection, sessions: Collection[int], *, holders: bool = True
    ) -> dict[int, set[int]] | None:
        wanted = set(sessions)
        if self.has_data_lock_waits:
            return _waits_of(monitor, DATA_LOCK_WAITS, wanted)
        status = InnoDBStatus.parse(str(monitor.exec_driver_sql("SHOW ENGINE INNODB STATUS").one()[2]))
        wanted &= status.waiters()
        if not wanted or not holders:
            return {waiter: set() for waiter in wanted}
        waits = {w: {h} for w in wanted if (h := status.sole_holder(w)) is not None}
        unnamed = wanted - waits.keys()  # the cache names them, when a read finds it refreshed
        if unnamed:
            found = self._read_lock_cache(monitor, unnamed)
            for _ in range(INNODB_CACHE_REREADS):
                if unnamed <= found.keys():
                    break
                # another session on the server (another test worker's schedule, say) read the cache
                # less than 100 ms before this read, which found it unrefreshed: read it again
                found = self._read_lock_cache(monitor, unnamed)
            for waiter in unnamed:  # waiting for sure; the holder only when the cache has it
                waits[waiter] = found.get(waiter, set())
        return waits

    def _read_lock_cache(self, monitor: Connection, wanted: set[int]) -> dict[int, set[int]]:
        """INNODB_LOCK_WAITS once this backend has not read it for INNODB_CACHE_IDLE_S: InnoDB
        refreshes it on such a read (the server's own last read came before this process saw it end)."""
        idle = time.monotonic() - self._lock_cache_read_at
        if idle < INNODB_CACHE_IDLE_S:
            time.sleep(INNODB_CACHE_IDLE_S - idle)
        try:
            return _waits_of(monitor, INNODB_LOCK_WAITS, wanted)
        finally:
            self._lock_cache_read_at = time.monotonic()

    def cancel(self, monitor: Connection, session: int) -> None:
        monitor.exec_driver_sql(f"KILL QUERY {int(session)}")


def _waits_of(monitor: Connection, query: str, wanted: set[int]) -> dict[int, set[int]]:
    waits: dict[int, set[int]] = {}
    for waiter, blocker in monitor.execute(text(query)).all():
        if int(waiter) in wanted:
            waits.setdefault(int(waiter), set()).add(int(blocker))
    return waits


_TRANSACTION = re.compile(r"^---TRANSACTION ", re.M)
_LOCK_WAIT = re.compile(r"^LOCK WAIT ", re.M)
_THREAD_ID = re.compile(r"^(?:MySQL|MariaDB) thread id (\d+)", re.M)
_ROW_LOCKS = re.compile(r"lock struct\(s\), heap size \d+, (\d+) row lock\(s\)")
_WAITS_FOR_RECORD = re.compile(r"FOR THIS LOCK TO BE GRANTED:\s*RECORD LOCKS ")


@dataclass(frozen=True)
class InnoDBTransaction:
    """One transaction of SHOW ENGINE INNODB STATUS: its connection (None for one no session owns,
    a recovered XA transaction say), whether it waits for a lock and for which kind, how many row
    locks it has (the lock it waits for counted)."""

    thread: int | None
    waiting: bool
    waits_for_record: bool
    row_locks: int


@dataclass(frozen=True)
class InnoDBStatus:
    """The transactions SHOW ENGINE INNODB STATUS lists: live, unlike InnoDB's lock cache, but without
    the holder of a wait. ``complete`` is False when InnoDB truncated the list."""

    transactions: tuple[InnoDBTransaction, ...]
    complete: bool

    @classmethod
    def parse(cls, status: str) -> InnoDBStatus:
        found = []
        for block in _TRANSACTION.split(status)[1:]:
            thread = _THREAD_ID.search(block)
            rows = _ROW_LOCKS.search(block)
            found.append(
                InnoDBTransaction(
                    int(thread.group(1)) if thread else None,
                    bool(_LOCK_WAIT.search(block)),
                    bool(_WAITS_FOR_RECORD.search(block)),
                    int(rows.group(1)) if rows else 0,
                )
            )
        return cls(tuple(found), "truncated" not in status)

    def waiters(self) -> set[int]:
        """Connection ids of the transactions waiting for a lock."""
        return {t.thread for t in self.transactions if t.waiting and t.thread is not None}

    def sole_holder(self, waiter: int) -> int | None:
        """The connection ``waiter`` waits for, when the status alone proves it: it waits for a row
        lock, and one other transaction on the whole server has row locks (every lock a row's
        queue holds, granted or waiting, is some transaction's row lock). None when it cannot tell."""
        mine = [t for t in self.transactions if t.thread == waiter]
        if not self.complete or len(mine) != 1 or not mine[0].waits_for_record:
            return None
        others = [t for t in self.transactions if t.thread != waiter and t.row_locks > 0]
        return others[0].thread if len(others) == 1 else None


_MARKER = "race_harness_template"  # the table that says a template schema is complete


def _base_tables(backend: MySQLBackend, schema: str) -> list[str]:
    rows = backend.admin_execute(
        f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{schema}' ORDER BY TABLE_NAME"
    )
    return [r[0] for r in rows]


def _untemplatable(backend: MySQLBackend, schema: str) -> bool:
    """Views, triggers, routines, events and sequences name their schema in what SHOW CREATE says:
    a copy would point back at the template, so such a schema is made in each database instead."""
    rows = backend.admin_execute(
        f"SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{schema}' "
        "AND TABLE_TYPE <> 'BASE TABLE') + "
        f"(SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{schema}') + "
        f"(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{schema}') + "
        f"(SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{schema}')"
    )
    return int(rows[0][0]) > 0


@dataclass(frozen=True)
class _Shape:
    """A template's tables as a copy needs them: each one's CREATE TABLE (its AUTO_INCREMENT with it),
    the columns a copy of its rows names, and which tables have rows. Read once per process: a
    template never changes."""

    creates: dict[str, str]
    columns: dict[str, str]
    with_rows: tuple[str, ...]

    @classmethod
    def read(cls, backend: MySQLBackend, template: str) -> _Shape:
        tables = [t for t in _base_tables(backend, template) if not t.startswith(OWN_TABLE_PREFIX)]
        creates = {t: str(backend.admin_execute(f"SHOW CREATE TABLE `{template}`.`{t}`")[0][1]) for t in tables}
        columns = _insertable_columns(backend, template)
        return cls(creates, {t: columns[t] for t in tables}, tuple(_with_rows(backend, template, tables)))

    def copy(self, template: str, into: str) -> list[str]:
        """The statements that make ``into`` (empty) a copy of ``template``."""
        return [
            "SET SESSION foreign_key_checks = 0",  # tables in any order, rows before what they reference
            f"USE `{into}`",  # SHOW CREATE TABLE names the tables a foreign key references unqualified
            *self.creates.values(),
            *self._rows(template, into),
            "SET SESSION foreign_key_checks = 1",
        ]

    def _rows(self, template: str, into: str) -> list[str]:
        return [
            f"INSERT INTO `{into}`.`{t}` ({self.columns[t]}) SELECT {self.columns[t]} FROM `{template}`.`{t}`"
            for t in self.with_rows
        ]


def _with_rows(backend: MySQLBackend, schema: str, tables: Sequence[str]) -> list[str]:
    """Those of ``tables`` that hold a row (one query)."""
    if not tables:
        return []
    probe = " UNION ALL ".join(f"SELECT '{t}' FROM DUAL WHERE EXISTS (SELECT 1 FROM `{schema}`.`{t}`)" for t in tables)
    return [str(r[0]) for r in backend.admin_execute(probe, verbatim=True)]


@dataclass(frozen=True)
class _Pristine:
    """What a fresh copy of a template holds, read from one: its tables, the rows a data migration
    left (as the driver returns them, written back with bound parameters) and its AUTO_INCREMENT
    counters. A used copy given these back is what a fresh copy is, without a table made again."""

    tables: tuple[str, ...]
    rows: dict[str, tuple[str, list[tuple[Any, ...]]]]  # table -> (its columns, its rows)
    counters: dict[str, int]

    @classmethod
    def read(cls, backend: MySQLBackend, schema: str) -> _Pristine:
        tables = tuple(t for t in _base_tables(backend, schema) if not t.startswith(OWN_TABLE_PREFIX))
        columns = _insertable_columns(backend, schema)
        rows = {
            t: (columns[t], [tuple(r) for r in backend.admin_execute(f"SELECT {columns[t]} FROM `{schema}`.`{t}`")])
            for t in _with_rows(backend, schema, tables)
        }
        return cls(tables, rows, backend._counters(schema))

    def restore(self, backend: MySQLBackend, schema: str) -> bool:
        """False when ``schema``'s tables are not the template's any more (a run made or dropped one)."""
        tables = _base_tables(backend, schema)
        own = [t for t in tables if t.startswith(OWN_TABLE_PREFIX)]  # a cell's receipts: never a template's
        if own:
            backend.admin_execute(f"DROP TABLE {', '.join(f'`{schema}`.`{t}`' for t in own)}")
        if [t for t in tables if t not in own] != sorted(self.tables):
            return False
        used = _with_rows(backend, schema, self.tables)
        now = backend._counters(schema)
        moved = {t: n for t, n in self.counters.items() if now.get(t) != n}
        with backend.admin_connection() as conn:
            conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")  # rows back before what they refer to
            try:
                for table in used:
                    conn.exec_driver_sql(f"DELETE FROM `{schema}`.`{table}`".replace("%", "%%"))
                for table, (columns, rows) in self.rows.items():
                    marks = ", ".join(["%s"] * len(rows[0]))
                    conn.exec_driver_sql(f"INSERT INTO `{schema}`.`{table}` ({columns}) VALUES ({marks})", rows)
                for table, counter in moved.items():  # an emptied table's counter, where the fresh copy had it
                    conn.exec_driver_sql(f"ALTER TABLE `{schema}`.`{table}` AUTO_INCREMENT = {counter}")
            finally:
                conn.exec_driver_sql("SET SESSION foreign_key_checks = 1")
        return True


def _insertable_columns(backend: MySQLBackend, schema: str) -> dict[str, str]:
    """Each table's columns a copy of its rows names (generated ones are computed, not inserted)."""
    columns: dict[str, list[str]] = {}
    for table, column, extra in backend.admin_execute(
        "SELECT TABLE_NAME, COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{schema}' ORDER BY TABLE_NAME, ORDINAL_POSITION"
    ):
        if "GENERATED" not in str(extra).upper() and "VIRTUAL" not in str(extra).upper():
            columns.setdefault(str(table), []).append(f"`{column}`")
    return {t: ", ".join(c) for t, c in columns.items()}
