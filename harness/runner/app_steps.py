"""One call of an application function, as the steps a schedule names: ``read``, ``write``, ``commit``.

The function runs unmodified and owns its transactions, so the steps are marked by what it sends:

- ``read`` runs it up to its first writing statement (INSERT, UPDATE, DELETE, REPLACE, MERGE), not
  sent yet: an ORM function has loaded its object, changed it in memory, and is about to flush. A
  function that reads in a transaction of its own stops at the first statement after that
  transaction ends instead, however it ends (a COMMIT, a ROLLBACK, or a reader session closed or its
  connection returned to the pool, as oslo.db's reader sessions end), so ``A.read B.read`` puts both
  reads before any write transaction, as the bundled scenarios' separate-scope reads are;
- ``write`` runs it up to the COMMIT that follows (not sent yet);
- ``commit`` runs it to its end.

A stress run runs the three back to back, with the think pause at the first boundary, where it
widens the race window as the built-in strategies' pause between read and write does. A schedule
runs the function in a thread of its own that stops at each boundary until its step is released;
it uses the session's connection, so the lock view sees it wait exactly as it sees a strategy wait.

The statements are seen through SQLAlchemy's ``before_cursor_execute`` and ``commit`` events for a
``Session`` or ``Connection``; a driver connection (``uses="dbapi"``) is handed over behind a thin
proxy that sees ``cursor().execute``, ``execute`` and ``commit`` and passes everything else through.
An application that connects itself (``uses="app"``) is seen through the same events installed on
every ``Engine`` (its own included, whenever it was made): the context that runs the call (a
``ContextVar``, so work the call hands to another thread with its context, as ``asyncio.to_thread``
and Starlette's ``run_in_threadpool`` do, is still its own) names the session, and the connection its
first statement goes out on is the session's for the lock view.

Outcome rules, as for the strategies: a declared conflict (and ``StaleDataError``) or a database
error before the COMMIT was sent is ``fail``; an error from the COMMIT itself is ``info`` unless the
database's error proves an abort; any other exception is the application crashing
(:class:`AppCrashed`), which ends the session and makes the run inconclusive, never a verdict.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import cursor as sa_cursor
from sqlalchemy.exc import DBAPIError

from race_harness.databases.base import Backend
from race_harness.defaults import Scope
from race_harness.entity import EntityTables
from race_harness.errors import HarnessError, UsageError, mask_url
from race_harness.events import Written
from race_harness.operations import WriteOp
from race_harness.runner.steps import Attempt, OpSteps, short_error
from race_harness.schema import Tables
from race_harness.strategies.base import Strategy
from race_harness.witness import CallWitness, result_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.orm import Session

    from race_harness.scenario import Scenario


def _orm_conflicts() -> tuple[type[Exception], ...]:
    """The ORM's refusal of a stale versioned save, when the ORM is loaded: code that never loaded it
    cannot raise it, and loading it for nothing costs a replay's start 50 ms."""
    orm_exc = sys.modules.get("sqlalchemy.orm.exc")
    return (orm_exc.StaleDataError,) if orm_exc is not None else ()


_WRITES = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*(insert|update|delete|replace|merge)\b", re.I | re.S)
_READS = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*(select|with)\b", re.I | re.S)
COMMIT_SQL = "COMMIT"  # what a call sends last, as the write-lock inference sees it
_BEGIN_WRITE = re.compile(r"^\s*begin\s+(immediate|exclusive)\b", re.I)
# the call being made: set in the context that runs it, so work it hands to another thread with its
# context (asyncio.to_thread, Starlette's run_in_threadpool, contextvars.copy_context().run) is its own
_CURRENT: ContextVar[AppSteps | None] = ContextVar("race_harness_app_call", default=None)
_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()
_WATCH_LOCK = threading.Lock()
_APP_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()  # the applications' own engines seen at work
_watching_all = False
STAGES = ("read", "write", "commit", "end")


class _Cancelled(BaseException):
    """Raised inside a stopped call whose schedule was cancelled: it unwinds without committing."""


class AppCrashed(HarnessError):
    """The application function raised something that is neither a conflict nor a database error."""


def is_write(statement: str) -> bool:
    return _WRITES.match(statement) is not None


def takes_write_lock(statement: str, backend: Backend) -> bool:
    """A single-writer database (SQLite): whether sending the statement may wait for its one write
    lock: a write and BEGIN IMMEDIATE do; a read only where the journal mode makes it wait."""
    if is_write(statement) or _BEGIN_WRITE.match(statement) is not None:
        return True
    return backend.reads_wait_for_writer and _READS.match(statement) is not None


def _install(target: Engine | type[Engine], only_app: bool) -> None:
    """The statement and transaction hooks on ``target`` (an engine, or every engine): they act for the
    call running in the current context (``only_app``: a call with ``uses="app"``, whose statements go
    through engines the harness did not make)."""

    def steps_here() -> AppSteps | None:
        steps = _CURRENT.get()
        return steps if steps is not None and (not only_app or steps.call.uses == "app") else None

    @event.listens_for(target, "before_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if (steps := steps_here()) is not None:
            if only_app:
                steps.app_statement(conn)
            steps.sending(statement, context, parameters, many)

    @event.listens_for(target, "after_cursor_execute")
    def _returned(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if (steps := steps_here()) is not None:
            steps.returned(cursor, context)

    @event.listens_for(target, "commit")
    def _commit(conn: Any) -> None:
        if (steps := steps_here()) is not None:
            steps.before_commit()

    # a transaction that ends without COMMIT (a reader session's close(), a connection returned to the
    # pool: SQLAlchemy rolls it back through this event) ends a read phase all the same
    @event.listens_for(target, "rollback")
    def _rollback(conn: Any) -> None:
        if (steps := steps_here()) is not None:
            steps.transaction_ended()


def _watch(engine: Engine) -> None:
    """Install the hooks on ``engine`` once; they act for the call running in the current context."""
    with _WATCH_LOCK:
        if engine not in _WATCHED:
            _install(engine, only_app=False)
            _WATCHED.add(engine)


def _watch_all() -> None:
    """Install the hooks on the ``Engine`` class once: every engine, the application's own too.
    They act only for a call with ``uses="app"`` (the others' engines have hooks of their own)."""
    global _watching_all
    with _WATCH_LOCK:
        if not _watching_all:
            _install(Engine, only_app=True)
            _watching_all = True


def dispose_app_engines() -> None:
    """Close the pooled connections of the applications' engines that worked on a scratch database,
    before it is dropped (the application keeps its engine; its pool refills on the next use)."""
    for engine in list(_APP_ENGINES):
        with contextlib.suppress(Exception):
            engine.dispose()
    _APP_ENGINES.clear()


# SQLAlchemy's own strategy for a result read whole before the application fetches it (what it uses
# for INSERT .. RETURNING rows of insertmanyvalues); a private name, in every 2.x release
FullyBufferedCursorFetchStrategy = sa_cursor.FullyBufferedCursorFetchStrategy


def _can_buffer(context: Any) -> bool:
    """A driver cursor (no context), or SQLAlchemy's default client-side fetch: never a server-side
    cursor, whose rows the application streams."""
    if context is None:
        return True
    return not getattr(context, "_is_server_side", False) and (
        getattr(context, "cursor_fetch_strategy", None) is sa_cursor._DEFAULT_FETCH
    )


def _as_tuples(rows: list[Any], description: Any) -> list[Any]:
    """Rows as sequences in the description's order (a dict row factory's rows too)."""
    if rows and isinstance(rows[0], dict):
        names = [c[0] for c in description]
        return [tuple(r.get(n) for n in names) for r in rows]
    return rows


class AppMisdirected(UsageError):
    """The application's statements go to another database than the scratch database."""


class _Cursor:
    """A driver cursor whose statements the steps see first, and whose rows of the entity's tables
    they read as they come back: read whole at once and handed to the application from a buffer,
    unchanged."""

    def __init__(self, cursor: Any, steps: AppSteps) -> None:
        self._cursor, self._steps = cursor, steps
        self._rows: collections.deque[Any] | None = None
        self._empty: Any = []

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(cur, psycopg.Cursor) holds
        return type(self._cursor)

    def _run(self, method: Any, statement: Any, args: tuple[Any, ...], kwargs: dict[str, Any], many: bool) -> Any:
        # the parameters, however the driver names them: psycopg params=, PyMySQL args=, sqlite3 parameters=
        params = args[0] if args else kwargs.get("params", kwargs.get("args", kwargs.get("parameters")))
        self._steps.sending(str(statement), None, params, many)
        result = method(statement, *args, **kwargs)
        rows = self._steps.returned(self._cursor, None)
        self._rows = collections.deque(rows) if rows is not None else None
        if rows is not None:
            # the driver's own empty answer, read from the cursor the buffer emptied: a caller may
            # compare with it (Django's MySQL backend stops fetchmany at (), mysqlclient's empty tuple)
            with contextlib.suppress(Exception):
                self._empty = self._cursor.fetchall()
        return self if result is self._cursor else result  # psycopg and sqlite3 return the cursor itself

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._cursor.execute, statement, args, kwargs, False)

    def executemany(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._cursor.executemany, statement, args, kwargs, True)

    def fetchone(self) -> Any:
        if self._rows is None:
            return self._cursor.fetchone()
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Any:
        if self._rows is None:
            return self._cursor.fetchmany() if size is None else self._cursor.fetchmany(size)
        count = self._cursor.arraysize if size is None else size
        return type(self._empty)(self._rows.popleft() for _ in range(min(count, len(self._rows))))

    def fetchall(self) -> Any:
        if self._rows is None:
            return self._cursor.fetchall()
        out, self._rows = type(self._empty)(self._rows), collections.deque()
        return out

    def __enter__(self) -> _Cursor:
        self._cursor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._cursor.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self.fetchone, None) if self._rows is not None else iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class WatchedDriverConnection:
    """The driver's connection (psycopg, PyMySQL, sqlite3) with its statements and COMMIT seen.
    ``isinstance`` and ``__class__`` see the driver's class, so code that checks which driver it
    was given still can; only ``type()`` shows the proxy."""

    def __init__(self, conn: Any, steps: AppSteps) -> None:
        self._conn, self._steps = conn, steps

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(handle, psycopg.Connection) holds
        return type(self._conn)

    def cursor(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._conn.cursor(*args, **kwargs), self._steps)

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:  # psycopg's and sqlite3's shortcut
        return self.cursor().execute(statement, *args, **kwargs)  # what both drivers do themselves

    def commit(self) -> None:
        self._steps.before_commit()
        self._conn.commit()

    def rollback(self) -> None:
        self._steps.transaction_ended()
        self._conn.rollback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # the driver's settings are the connection's (psycopg's conn.autocommit = True), not the proxy's
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._conn, name, value)


# drivers whose connection, used as a context manager, commits on a clean exit (psycopg 3, psycopg2 and
# sqlite3); PyMySQL's and mysqlclient's only close it
_COMMITS_ON_EXIT = ("psycopg", "psycopg2", "sqlite3")


class OwnDriverConnection(WatchedDriverConnection):
    """A driver connection an application opened itself (``psycopg.connect(...)``, ``pymysql.connect``,
    ``MySQLdb.connect``, ``sqlite3.connect``; see :func:`watch_driver_connects`). The call its
    statements belong to is the one running in the context that sends them, found at each one; used
    outside any call (a connection opened at start-up, then idle), it passes everything through."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @property
    def _steps(self) -> AppSteps | None:  # type: ignore[override]
        steps = _CURRENT.get()
        return steps if steps is not None and steps.call.uses == "app" else None

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        raw, steps = self._conn.cursor(*args, **kwargs), self._steps
        if steps is None:
            return raw
        steps.app_driver_statement(self._conn)
        return _Cursor(raw, steps)

    def commit(self) -> None:
        steps = self._steps
        if steps is not None:
            steps.before_commit()
        self._conn.commit()

    def _ended(self) -> None:
        steps = self._steps
        if steps is not None:
            steps.transaction_ended()

    def rollback(self) -> None:
        self._ended()
        self._conn.rollback()

    def close(self) -> None:  # a reader that ends by closing its connection ended its read
        self._ended()
        self._conn.close()

    def __enter__(self) -> OwnDriverConnection:
        self._conn.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        steps = self._steps
        if steps is not None:
            commits = exc[0] is None and type(self._conn).__module__.split(".")[0] in _COMMITS_ON_EXIT
            steps.before_commit() if commits else steps.transaction_ended()
        return self._conn.__exit__(*exc)


# sqlite3.dbapi2 has a connect() of its own: Django's SQLite backend calls that one
_DRIVERS = ("psycopg", "psycopg2", "pymysql", "MySQLdb", "sqlite3", "sqlite3.dbapi2")
_driver_hooks_on = False


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The base error class of every installed driver the hook watches (an application's own
    driver may not be the one the harness's engine loaded: Django's mysqlclient beside PyMySQL)."""
    found = []
    for name in _DRIVERS:
        module = sys.modules.get(name)
        error = getattr(module, "Error", None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def configure_app(scenario: Scenario, url: URL) -> None:
    """The scenario's ``configure(url)``, with the driver's connects watched first: a connection the
    application opens as it is configured is seen too."""
    watch_driver_connects()
    scenario.configure_app(url)


def watch_driver_connects() -> None:
    """Make every driver connection an application opens itself seen, as SQLAlchemy's events make its
    engines' connections seen: ``connect`` of each installed driver (psycopg 3, psycopg2, PyMySQL,
    mysqlclient, sqlite3) returns an :class:`OwnDriverConnection`. Connections SQLAlchemy opens are
    left alone (its events see them). Code that bound ``connect`` itself before this ran (``from
    pymysql import connect`` at import) keeps the driver's own, which the harness cannot see."""
    global _driver_hooks_on
    with _WATCH_LOCK:
        if _driver_hooks_on:
            return
        for name in _DRIVERS:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            setattr(module, "connect", _watched_connect(getattr(module, "connect")))  # noqa: B009, B010
        _driver_hooks_on = True


def _watched_connect(connect: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(connect)
    def watched(*args: Any, **kwargs: Any) -> Any:
        conn = connect(*args, **kwargs)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith(("sqlalchemy.", "race_harness.")):  # an engine's connection: its events see it
            return conn
        return OwnDriverConnection(conn)

    return watched


def _driver_database(raw: Any) -> str | None:
    """Which database a driver connection is on: its name (a file's real path for SQLite, '' in memory)."""
    info = getattr(raw, "info", None)
    if info is not None and hasattr(info, "dbname"):  # psycopg 3, psycopg2
        return str(info.dbname)
    if isinstance(getattr(raw, "db", None), bytes):  # PyMySQL
        return bytes(raw.db).decode()
    cursor = raw.cursor()
    try:
        if type(raw).__module__.startswith("sqlite3"):  # a read of the catalogue: no transaction begins
            rows = cursor.execute("PRAGMA database_list").fetchall()
            main = next((r[2] for r in rows if r[1] == "main"), "")
            return os.path.realpath(main) if main else ""
        cursor.execute("SELECT DATABASE()")  # mysqlclient keeps no name of its own
        (name,) = cursor.fetchone()
        return str(name) if name is not None else None
    finally:
        cursor.close()


class AppSteps:
    """One attempt at one application call on one connection; the step methods return the final
    :class:`~race_harness.runner.steps.Attempt` when the call ended there, else None."""

    def __init__(
        self,
        backend: Backend,
        tables: EntityTables,
        conn: Connection,
        op: WriteOp,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        assert op.call is not None, "not an application operation"
        self.backend, self.tables, self.conn, self.op, self.call = backend, tables, conn, op, op.call
        self.key = tables.entity.key_of(op.entity)
        # what the call reads and writes of its entity, from its own statements (``clock``: the history's)
        self.witness = CallWitness(tables.view(conn.dialect), op.entity, clock)
        self._want_rows = False
        self.stage = "read"  # the boundary the function is working towards
        self.committing = False  # the COMMIT after the first write was sent (or is being sent)
        self.committed = False
        self.pause: Callable[[str], None] = lambda stage: None  # called at each boundary reached
        self._outcome: Attempt | BaseException | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._at: str | None = None  # the boundary the thread waits at
        self._go = False
        self._cancelled = False
        self._read_ended = False
        self._sent = False  # the call sent a statement: a transaction's end now ends its read
        self._wrote = False
        self._sql_out: str | None = None  # the statement the call sent last, until it is held again
        self.db_id: int | None = None  # the server's id of the connection the application uses itself
        self._app_conn: Any = None
        self._misdirected: AppMisdirected | None = None
        if self.call.uses == "app":
            _watch_all()
            watch_driver_connects()
        else:
            _watch(conn.engine)

    def app_statement(self, conn: Connection) -> None:
        """Before a statement of an application that connects itself: is it the scratch database, and
        which server connection is this session's."""
        if self._misdirected is not None:
            raise self._misdirected
        if conn is self._app_conn:
            return
        expected, found = self.conn.engine.url, conn.engine.url
        if (found.get_backend_name(), found.database) != (expected.get_backend_name(), expected.database):
            self._misdirected = AppMisdirected(
                f"scenario {self.tables.scenario!r}: operation {self.call.name} sent its statement to "
                f"{mask_url(found.render_as_string(hide_password=True))}, "
                f"not the scratch database {expected.database}: the scenario's configure(url) did not point "
                "the application's engine at the URL it was given"
            )
            raise self._misdirected
        self._app_conn = conn
        _APP_ENGINES.add(conn.engine)
        with contextlib.suppress(Exception):
            self.db_id = self.backend.driver_session_id(conn.connection.driver_connection)

    def app_driver_statement(self, raw: Any) -> None:
        """Before a statement on a driver connection the application opened itself: is it the scratch
        database (where the driver says which it is), and which server connection is this session's."""
        if self._misdirected is not None:
            raise self._misdirected
        if raw is self._app_conn:
            return
        found, expected = _driver_database(raw), self.conn.engine.url.database
        if self.conn.dialect.name == "sqlite" and expected:
            expected = os.path.realpath(expected)
        if expected is not None and found != expected:
            self._misdirected = AppMisdirected(
                f"scenario {self.tables.scenario!r}: operation {self.call.name} sent its statement to the database "
                f"{found!r}, not the scratch database {expected}: the scenario's configure(url) did not point the "
                "application at the URL it was given"
            )
            raise self._misdirected
        self._app_conn = raw
        with contextlib.suppress(Exception):
            self.db_id = self.backend.driver_session_id(raw)

    # --- boundaries, called on the function's thread -------------------------------------------------

    def sending(self, statement: str, context: Any, parameters: Any, many: bool) -> None:
        """A statement of the call is about to go out (held first, in a schedule): the step boundary,
        then the witness notes it, as sent now."""
        self.before_statement(statement, context)
        try:
            self._want_rows = self.witness.sent(statement, parameters, many)
        except Exception:  # what the witness cannot read it leaves out; the call goes on untouched
            self._want_rows = False

    def returned(self, cursor: Any, context: Any) -> list[Any] | None:
        """The statement returned: the witness reads its row count and, for a read of the entity's
        tables, its rows. Those are read whole and handed on from a buffer (SQLAlchemy's own fully
        buffered fetch strategy, or the driver cursor's proxy), so the application gets them unchanged.
        Returns the rows read, or None when the cursor was left alone."""
        want, self._want_rows = self._want_rows, False
        rows: list[Any] | None = None
        try:
            description = cursor.description
            if want and description is not None and _can_buffer(context):
                rows = list(cursor.fetchall())
                if context is not None:
                    context.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(cursor, description, rows)
            self.witness.returned(
                cursor.rowcount,
                description,
                _as_tuples(rows, description) if rows is not None else None,
                result_columns(context, self.witness.view) if rows is not None else None,
            )
        except Exception:  # never the application's problem: the witness just sees less
            self.witness.returned(0)
        return rows

    def before_statement(self, statement: str, context: Any = None) -> None:
        """Before each statement the call sends; ``context`` is SQLAlchemy's execution context, when
        the statement went through SQLAlchemy."""
        writes = is_write(statement)
        if self.stage == "read" and (self._read_ended or writes):
            self.stage = "write"
            self.pause("write")
        if writes:
            self._wrote = True  # sent now: SQLite's write lock is this call's once it returns
        self._sql_out = statement
        self._sent = True

    def transaction_ended(self) -> None:
        """A transaction ended without COMMIT (ROLLBACK, a close, a return to the pool): after a read,
        the read phase ended with it, and the next statement starts the write."""
        if self.stage == "read" and self._sent:
            self._read_ended = True

    def before_commit(self) -> None:
        # a COMMIT waits for the write lock only where the journal mode makes it wait for readers
        self._sql_out = COMMIT_SQL if self.backend.commit_waits_for_readers else None
        if self.stage == "read":
            self._read_ended = True  # a read transaction's COMMIT: the next statement starts the write
        elif self.stage == "write":
            self.stage = "commit"
            self.pause("commit")
            self.committing = True

    # --- running the call ----------------------------------------------------------------------------

    def run_through(self, think: Callable[[], None]) -> Attempt:
        """The whole call on this thread, ``think`` at the first write (stress mode)."""
        self.pause = lambda stage: think() if stage == "write" else None
        return self._call()

    def _call(self) -> Attempt:
        current = _CURRENT.set(self)
        session: Session | None = None
        try:
            handle: Any
            if self.call.uses == "session":
                from sqlalchemy.orm import Session  # the ORM only for calls that take a Session: 50 ms to load

                handle = session = Session(bind=self.conn)
            elif self.call.uses == "dbapi":
                handle = WatchedDriverConnection(self.conn.connection.driver_connection, self)
            else:
                handle = self.conn
            if self.call.uses == "app":
                result = self.call.function(self.key, **self.call.parameters)
                if self._app_conn is None:
                    raise UsageError(
                        f"scenario {self.tables.scenario!r}: operation {self.op.name!r} ({self.call.name}) sent no "
                        "statement the harness could see: with uses='app' its statements must go through a SQLAlchemy "
                        "engine or a connection the driver's connect() opened (psycopg, psycopg2, PyMySQL, "
                        "mysqlclient, sqlite3)"
                    )
            else:
                result = self.call.function(handle, self.key, **self.call.parameters)
            if self.call.refused is not None and self.call.refused(result):
                self._rollback(session)
                return Attempt("fail", reason="conflict", error=f"{self.call.name} refused the write")
            self._finish(session, handle)
            self.committed = True
            w = self.witness
            return Attempt(
                "ok", w.snapshot, self._written(), read_at=w.read_at, write_at=w.write_at, statements=w.statements
            )
        except _Cancelled:
            self._rollback(session)
            return Attempt("fail", reason="cancelled", error="the schedule was cancelled before this step")
        except (*_orm_conflicts(), *self.call.conflicts) as exc:
            self._rollback(session)
            return Attempt("fail", reason="conflict", error=f"{type(exc).__name__}: {exc}"[:200])
        except UsageError:
            raise  # the scenario's set-up is wrong: one line, not the call's outcome
        except Exception as exc:
            self._rollback(session)
            if self._misdirected is not None:  # the application caught it and raised its own
                raise self._misdirected from None
            db_error = self._as_db_error(exc)
            if db_error is None:
                raise AppCrashed(f"{self.call.name} raised {type(exc).__name__}: {exc}") from exc
            definite = not self.committing or self.backend.definite_abort(db_error)
            return Attempt(
                "fail" if definite else "info", reason=self.backend.classify(db_error), error=short_error(db_error)
            )
        finally:
            _CURRENT.reset(current)
            if session is not None:
                with contextlib.suppress(Exception):
                    session.close()

    def _written(self) -> Written:
        """What the call's statements stored (the witness), over what it was asked to store."""
        out: dict[str, Any] = dict(self.op.intent.sets)
        out.update(dict.fromkeys(self.op.intent.removes))
        out.update(self.witness.written)
        return out

    def _finish(self, session: Session | None, handle: Any) -> None:
        """Commit what the function left open, as a web framework does when the request ends."""
        self.before_commit()  # an open write transaction reaches its commit boundary here
        self.committing = True
        if session is not None:
            if session.in_transaction():
                session.commit()
        elif self.call.uses == "dbapi":
            handle.commit()
        elif self.call.uses == "app":
            pass  # its transactions are its own: whatever it left open is its engine's to end
        elif self.conn.in_transaction():
            self.conn.commit()

    def _rollback(self, session: Session | None) -> None:
        with contextlib.suppress(Exception):
            if session is not None:
                session.rollback()
            if self.call.uses == "dbapi":
                driver: Any = self.conn.connection.driver_connection
                driver.rollback()
            if self.conn.in_transaction():
                self.conn.rollback()

    def _as_db_error(self, exc: BaseException) -> DBAPIError | None:
        if isinstance(exc, DBAPIError):
            return exc
        dbapi = self.conn.dialect.loaded_dbapi
        if isinstance(exc, dbapi.Error):  # the driver's own error, from a dbapi handle
            with contextlib.suppress(Exception):
                self.conn.invalidate()  # the driver connection's state is unknown now: a fresh one next time
            return DBAPIError(None, None, exc)
        # a framework's own wrapper of the driver's error (Django's OperationalError raised "from" it):
        # the database's answer is the driver error it wraps
        seen: set[int] = set()
        cause: BaseException | None = exc.__cause__
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, DBAPIError):
                return cause
            if isinstance(cause, _driver_errors()):
                return DBAPIError(None, None, cause)
            cause = cause.__cause__
        return None

    # --- schedule mode: the call on its own thread, stopped at each boundary ---------------------------

    def _hold(self, stage: str) -> None:
        with self._cond:
            self._at, self._go = stage, False
            self._cond.notify_all()
            while not self._go:
                self._cond.wait()
            self._at = None
            if self._cancelled:
                raise _Cancelled

    def _work(self) -> None:
        try:
            self._outcome = self._call()
        except BaseException as exc:  # handed to the step that waits for it
            self._outcome = exc
        with self._cond:
            self._at = "end"
            self._cond.notify_all()

    def _until(self) -> Attempt | None:
        """Wait until the thread stops at a boundary (None) or ends (its Attempt)."""
        with self._cond:
            while self._at is None:
                self._cond.wait()
            if self._at != "end":
                return None
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _resume(self) -> Attempt | None:
        with self._cond:
            if self._at == "end":
                return self._until()
            self._go = True
            self._at = None
            self._cond.notify_all()
        return self._until()

    def read(self) -> Attempt | None:
        self.pause = self._hold
        self._thread = threading.Thread(target=self._work, name=f"app-{self.op.name}", daemon=True)
        self._thread.start()
        return self._until()

    def write(self) -> Attempt | None:
        if self.stage == "write" and self._at == "write":
            return self._resume()
        return None  # stopped at the commit boundary already (no write statement before it)

    def commit(self) -> Attempt | None:
        return self._resume()

    def describe_stop(self) -> str:
        """Where the call stopped, for the schedule's transcript."""
        if self._at == "write":
            state = self.witness.read_state  # what its own statements read of the entity so far
            read = ", ".join(f"{k}={v!r}" for k, v in sorted(state.items()))
            shown = f"; it read {read[:150] + '...' if len(read) > 150 else read}" if state else ""
            return f"{self.call.name} ran up to its first write, not sent{shown}"
        if self._at == "commit":
            return f"{self.call.name} ran up to its COMMIT, not sent"
        return f"{self.call.name} ran on"

    @property
    def holds_write_lock(self) -> bool:
        """A writing statement was sent and returned, and the call has not ended: on SQLite, where the
        harness is the lock view, another session that waits now waits for this one. Only a call
        held at a boundary is known to have every statement back (one still running may be waiting
        for the lock itself); stopped at the write boundary it has sent none, so it holds nothing yet."""
        return self._wrote and self._at not in (None, "end")

    @property
    def sending_write(self) -> bool:
        """The call runs and what it sent last writes: only that can wait for SQLite's write lock."""
        sql = self._sql_out
        return self._at is None and sql is not None and (sql is COMMIT_SQL or takes_write_lock(sql, self.backend))

    def abort(self) -> None:
        """End a call stopped at a boundary without letting it go on: it unwinds from there and
        its transaction is rolled back (the schedule was cancelled, or the attempt is retried)."""
        if self._thread is not None and self._at not in (None, "end"):
            self._cancelled = True
            with contextlib.suppress(Exception):
                self._resume()


def steps_for(
    strategy: Strategy,
    backend: Backend,
    tables: EntityTables,
    scope: Scope,
    conn: Connection,
    op: WriteOp,
    *,
    write_with_commit: bool = False,
    clock: Callable[[], int] = time.monotonic_ns,
    receipt: str | None = None,
) -> OpSteps | AppSteps:
    """The steps of one attempt at ``op``: the application's function stopped at its own statements,
    or the strategy's read and save (with ``receipt`` written in its transaction)."""
    if op.call is not None:
        return AppSteps(backend, tables, conn, op, clock)
    assert isinstance(tables, Tables), "a strategy's operation on an application's tables"
    return OpSteps(strategy, backend, tables, scope, conn, op, write_with_commit=write_with_commit, receipt=receipt)


__all__ = [
    "AppCrashed",
    "AppMisdirected",
    "AppSteps",
    "WatchedDriverConnection",
    "dispose_app_engines",
    "is_write",
    "steps_for",
]
