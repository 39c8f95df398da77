"""SQLite, one file per scratch database in a private temporary directory.

pysqlite's own transaction handling issues ``BEGIN`` lazily (only before DML) and never
``BEGIN IMMEDIATE``; both would blur where the read and the write transactions start. So the
driver is put in autocommit mode and the harness emits ``BEGIN`` itself (SQLAlchemy's documented
recipe), ``BEGIN IMMEDIATE`` for write transactions: a deferred transaction that reads first and
then writes fails with SQLITE_BUSY instead of waiting when another writer got there first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import NAME_PREFIX, Backend, Isolation, ScratchDatabase, scratch_name
from race_harness.databases.templates import OWN_TABLE_PREFIX, TEMPLATE_PREFIX
from race_harness.databases.watchdog import Guard

BUSY_TIMEOUT_S = 30
TEMPLATE_FOLDER_ENV = "RACE_HARNESS_SQLITE_TEMPLATES"


def template_folder() -> Path:
    """Where SQLite's schema templates are kept: ``$RACE_HARNESS_SQLITE_TEMPLATES``, else the user's
    cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``) under ``race-harness/sqlite-templates``."""
    if os.environ.get(TEMPLATE_FOLDER_ENV):
        return Path(os.environ[TEMPLATE_FOLDER_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "race-harness" / "sqlite-templates"


_BEGIN_KEY = "race_harness_begin"


class SQLiteBackend(Backend):
    family = "sqlite"
    # WAL: readers read the last commit while one writer writes, so neither a read nor a COMMIT waits
    # for the write lock; only writes (and BEGIN IMMEDIATE) do. In a rollback journal both would wait
    # (a reader for a committing writer, a COMMIT for the readers' SHARED locks), and a reader would
    # hold what the runner infers: not modeled, since the harness runs SQLite in WAL only.
    JOURNAL_MODE = "wal"
    single_writer = True
    reads_wait_for_writer = JOURNAL_MODE != "wal"
    commit_waits_for_readers = JOURNAL_MODE != "wal"
    # SQLite transactions are serializable; read_uncommitted only matters with a shared cache
    isolation_levels = ("serializable",)
    default_isolation = "serializable"

    def __init__(self) -> None:
        super().__init__("sqlite")
        self._dir: Path | None = None
        self._guard: Guard | None = None
        self._pristine: dict[str, SQLitePristine] = {}  # remember()'s key -> what the database held

    def fetch_version(self) -> str:
        return f"sqlite {sqlite3.sqlite_version}"

    @property
    def directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=NAME_PREFIX))
            self._guard = Guard(self._dir)  # deletes the folder if this process is killed
        return self._dir

    def create_database(self, name: str | None = None) -> ScratchDatabase:
        if name is None:
            name = scratch_name()
        else:
            self.drop_database(name)  # this process's own, left by a failed drop
        path = self.directory / f"{name}.db"
        sqlite3.connect(path).close()
        return ScratchDatabase(name, URL.create("sqlite+pysqlite", database=str(path)), self)

    def drop_database(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            (self.directory / f"{name}.db{suffix}").unlink(missing_ok=True)

    # a template is a file in the user's cache folder (so later runs find it), written by SQLite's
    # backup API (a consistent copy, whatever the migrations left in a WAL) and renamed into place
    def template_names(self) -> list[str]:
        folder = template_folder()
        return sorted(p.stem for p in folder.glob(f"{TEMPLATE_PREFIX}*.db")) if folder.is_dir() else []

    def template_exists(self, name: str) -> bool:
        return (template_folder() / f"{name}.db").is_file()

    def publish_template(self, scratch: ScratchDatabase, name: str) -> bool:
        folder = template_folder()
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{name}.{os.getpid()}.partial"
        try:
            with (
                contextlib.closing(sqlite3.connect(str(scratch.url.database))) as source,
                contextlib.closing(sqlite3.connect(partial)) as copy,
            ):
                source.backup(copy)
            os.replace(partial, folder / f"{name}.db")
        finally:
            partial.unlink(missing_ok=True)
        return True

    def copy_template(self, template: str, name: str | None = None) -> ScratchDatabase:
        scratch = self.create_database(name)
        shutil.copyfile(template_folder() / f"{template}.db", str(scratch.url.database))
        self.remember(template, scratch.name)
        return scratch

    def drop_template(self, name: str) -> None:
        (template_folder() / f"{name}.db").unlink(missing_ok=True)

    def remember(self, key: str, database: str) -> None:
        if key not in self._pristine:
            self._pristine[key] = SQLitePristine.read(self.directory / f"{database}.db")

    def reset_copy(self, key: str, database: str) -> bool:
        pristine = self._pristine.get(key)
        return pristine is not None and pristine.restore(self.directory / f"{database}.db")

    def leftover_databases(self) -> list[str]:
        if self._dir is None or not self._dir.exists():
            return []
        return sorted(p.name.removesuffix(".db") for p in self._dir.glob(f"{NAME_PREFIX}*.db"))

    def make_engine(
        self,
        url: URL,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            isolation = dbapi_conn.isolation_level
            dbapi_conn.isolation_level = None  # PRAGMA journal_mode may not run inside a transaction
            dbapi_conn.execute(f"PRAGMA journal_mode={self.JOURNAL_MODE}")  # see the class
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            if driver_transactions:  # an application's engine: pysqlite BEGINs lazily, before DML
                dbapi_conn.isolation_level = isolation
            else:
                dbapi_conn.isolation_level = None  # the harness emits BEGIN itself

        if driver_transactions:
            return engine

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.info.pop(_BEGIN_KEY, "BEGIN"))

        return engine

    def begin_write(self, conn: Connection) -> RootTransaction:
        conn.info[_BEGIN_KEY] = "BEGIN IMMEDIATE"
        return conn.begin()

    def classify(self, exc: DBAPIError) -> str:
        msg = str(exc.orig).lower()
        if "locked" in msg or "busy" in msg:
            return "busy"
        return "integrity" if isinstance(exc.orig, sqlite3.IntegrityError) else "error"

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        if self._guard is not None:
            guard, self._guard = self._guard, None
            guard.release()


def provide(spec: str) -> list[Backend]:
    """``--db sqlite`` (:data:`race_harness.defaults.DATABASES`)."""
    return [SQLiteBackend()]


@dataclass(frozen=True)
class SQLitePristine:
    """A SQLite database's tables and their rows (``sqlite_sequence``, AUTOINCREMENT's counters, is a
    table like the others; an INTEGER PRIMARY KEY without it counts on from the rows themselves)."""

    rows: dict[str, tuple[str, list[tuple[object, ...]]]]  # table -> (its columns, its rows)

    @classmethod
    def read(cls, path: Path) -> SQLitePristine:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return cls({t: _sqlite_rows(db, t) for t in _sqlite_tables(db)})

    def restore(self, path: Path) -> bool:
        with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
            tables = _sqlite_tables(db, own=True)
            for own in [t for t in tables if t.startswith(OWN_TABLE_PREFIX)]:  # a cell's receipts
                db.execute(f'DROP TABLE "{own}"')
            if sorted(t for t in tables if not t.startswith(OWN_TABLE_PREFIX)) != sorted(self.rows):
                return False
            db.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, or it is ignored
            db.execute("BEGIN IMMEDIATE")
            # AUTOINCREMENT's counters last: the rows inserted before may move them on
            for table, (columns, rows) in sorted(self.rows.items(), key=lambda kv: kv[0] == "sqlite_sequence"):
                db.execute(f'DELETE FROM "{table}"')
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    db.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', rows)
            db.execute("COMMIT")
        return True


def _sqlite_tables(db: sqlite3.Connection, own: bool = False) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND (name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "OR name = 'sqlite_sequence') ORDER BY name"
    ).fetchall()
    return [str(r[0]) for r in rows if own or not str(r[0]).startswith(OWN_TABLE_PREFIX)]


def _sqlite_rows(db: sqlite3.Connection, table: str) -> tuple[str, list[tuple[object, ...]]]:
    # generated columns are computed, not inserted (table_xinfo's hidden 2 and 3)
    names = [r[1] for r in db.execute(f'PRAGMA table_xinfo("{table}")') if r[6] not in (2, 3)]
    columns = ", ".join(f'"{n}"' for n in names)
    return columns, [tuple(r) for r in db.execute(f'SELECT {columns} FROM "{table}"')]
