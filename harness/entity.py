"""An application's own tables as a scenario's entity: what to create, how to seed it, how to read it.

The application keeps its schema: any SQLAlchemy ``Table`` (or ORM declarative class) with any
column types, a key of its own, and optionally one one-to-many child table keyed by its own columns.
race-harness creates the tables from the application's ``MetaData`` in a scratch database, lets the
application's ``seed`` insert its rows, and reads each entity in ONE statement (parent row outer
joined with its child rows, so a read sees one committed state even under READ COMMITTED) into the
flat state the checker reads:

- every parent column but the key and the ``tokens`` (concurrency tokens such as a version counter
  or ``updated_at``, which change on every write and carry no meaning of their own) under its name;
- each child row under ``kv:<its key>`` (:func:`race_harness.model.kv_field`), its value column's
  value, or ``""`` when the child table has no value column (a set of tags);
- values normalised to ``int`` or ``str`` (see :func:`normalise`); a NULL column is left out.

A version counter and an ``updated_at`` column named as ``version=`` / ``updated_at=`` are tokens
the snapshot carries (``snapshot.version``, ``snapshot.updated_at``) for a strategy to check. The
bundled scenarios are Entities of this kind over tables the harness declares for them
(:func:`race_harness.schema.build_tables`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Select,
    Table,
    TypeDecorator,
    and_,
    bindparam,
    select,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.sql import sqltypes

from race_harness.app_setup import SchemaSetup, forget_configuration, run_setup
from race_harness.databases.direct import fetch_all
from race_harness.databases.templates import SchemaTemplate, fingerprint
from race_harness.dml import UNKNOWN, Dml, bind
from race_harness.errors import UsageError
from race_harness.model import Snapshot, State, Value, kv_field

if TYPE_CHECKING:
    from sqlalchemy import Dialect

Seed = Callable[[Connection], object]
Reader = Callable[[Connection, Any], Mapping[str, Any] | None]


def as_table(thing: Table | type, what: str) -> Table:
    """A Core ``Table``, or the table of an ORM declarative class."""
    if isinstance(thing, Table):
        return thing
    table = getattr(thing, "__table__", None)
    if not isinstance(table, Table):
        raise UsageError(f"{what} must be a sqlalchemy Table or an ORM mapped class but got {thing!r}")
    return table


def normalise(value: Any) -> Value | None:
    """A column's value as the checker compares it: integers stay ``int`` (a ``Decimal`` with no
    fraction too, so a NUMERIC counter adds up), everything else becomes text that is equal exactly
    when the values are (ISO 8601 for dates and times, sorted-key JSON for JSON documents)."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int subclass, and True must not equal 1
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value.normalize())
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


@dataclass(frozen=True)
class Children:
    """One-to-many child rows of the entity: ``table``'s rows whose ``parent`` column references the
    entity's key, each named by its ``key`` column. ``value`` names the column that is the child's
    value; None for a table of keys alone (tags). ``parent`` may be left out when ``table`` has one
    foreign key to the entity's table. ``where``: the column values a row has while it counts
    (``{"deleted": 0}`` for OpenStack's soft delete, ``{"deleted_at": None}`` for Rails' and
    Django's); a row without them is soft-deleted, absent from the state and from every read-set."""

    table: Table | type
    key: str
    value: str | None = None
    parent: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    """The application's own table as a scenario's entity.

    ``keys`` are the values of the entity's key column the writers work on; the history numbers
    them 1, 2, ... in this order. ``seed(conn)`` inserts the application's rows (inside the
    harness's transaction; an ORM seed can use ``Session(bind=conn)`` and ``session.flush()``).
    ``tokens`` are columns left out of the state. ``read(conn, key)`` replaces the one-statement read
    with the application's own, returning the flat state (``kv:`` fields for child rows) or None.
    ``metadata``: every table it holds is created (default: the entity table's own ``MetaData``).
    ``version`` / ``updated_at`` name token columns the snapshot carries for a strategy's check.
    ``create(url)`` makes the schema in the scratch database instead of ``create_all``: the
    application's own migrations (:class:`race_harness.Alembic`, :class:`race_harness.Command`).
    """

    table: Table | type
    keys: Sequence[Any]
    seed: Seed
    children: Children | None = None
    tokens: Sequence[str] = ()
    key: str | None = None  # the key column; default: the table's one primary key column
    read: Reader | None = None
    metadata: MetaData | None = None
    version: str | None = None
    updated_at: str | None = None
    create: SchemaSetup | None = None

    def __post_init__(self) -> None:
        if not self.keys:
            raise UsageError("an Entity needs at least one key for the writers to work on (keys=[...])")
        unknown = [t for t in self.all_tokens if t not in self.parent.c]
        if unknown:
            raise UsageError(f"token column {unknown[0]!r} is not a column of table {self.parent.name!r}")
        self.key_column  # noqa: B018 - checked now: a wrong name is an error where it is declared
        if self.children is not None:
            self.child_columns  # noqa: B018

    @cached_property
    def all_tokens(self) -> tuple[str, ...]:
        """The columns left out of the state: ``tokens`` and the version and ``updated_at`` columns."""
        return (*self.tokens, *(t for t in (self.version, self.updated_at) if t is not None and t not in self.tokens))

    @cached_property
    def parent(self) -> Table:
        return as_table(self.table, "Entity.table")

    @cached_property
    def all_metadata(self) -> MetaData:
        return self.metadata if self.metadata is not None else self.parent.metadata

    @cached_property
    def key_column(self) -> Column[Any]:
        if self.key is not None:
            if self.key not in self.parent.c:
                raise UsageError(f"key column {self.key!r} is not a column of table {self.parent.name!r}")
            return self.parent.c[self.key]
        primary = list(self.parent.primary_key.columns)
        if len(primary) != 1:
            raise UsageError(
                f"table {self.parent.name!r} has {len(primary)} primary key columns: name the entity's key (key=...)"
            )
        return primary[0]

    @cached_property
    def child_columns(self) -> tuple[Table, Column[Any], Column[Any], Column[Any] | None]:
        """(child table, its column referencing the entity, its key column, its value column or None)."""
        assert self.children is not None
        spec = self.children
        table = as_table(spec.table, "Children.table")
        for arg, name in (("key", spec.key), ("value", spec.value), ("parent", spec.parent)):
            if name is not None and name not in table.c:
                raise UsageError(
                    f"Children({arg}=...) names column {name!r}, which is not a column of child table {table.name!r}"
                )
        if spec.parent is not None:
            parent = table.c[spec.parent]
        else:
            refs = [fk.parent for fk in table.foreign_keys if fk.references(self.parent)]
            if len(refs) != 1:
                raise UsageError(
                    f"child table {table.name!r} has {len(refs)} foreign keys to {self.parent.name!r}: "
                    "name the one that holds the entity's key (Children(parent=...))"
                )
            parent = refs[0]
        for name in spec.where:
            if name not in table.c:
                raise UsageError(
                    f"Children(where=...) names column {name!r}, which is not a column of child table {table.name!r}"
                )
        return table, parent, table.c[spec.key], table.c[spec.value] if spec.value is not None else None

    @cached_property
    def state_columns(self) -> list[Column[Any]]:
        skip = {self.key_column.name, *self.all_tokens}
        return [c for c in self.parent.columns if c.name not in skip]

    @cached_property
    def snapshot_tokens(self) -> list[Column[Any]]:
        """The version and ``updated_at`` columns, in that order, that the snapshot carries."""
        return [self.parent.c[name] for name in (self.version, self.updated_at) if name is not None]

    @cached_property
    def snapshot_select(self) -> Select[Any]:
        """The entity and its child rows in one statement (built once; a reused statement keeps its
        cache key, so SQLAlchemy does not compile it again on every read)."""
        key = bindparam("key", type_=self.key_column.type)
        cols: list[Any] = [*self.state_columns, *self.snapshot_tokens]
        if self.children is None:
            return select(*cols).where(self.key_column == key)
        table, parent, child_key, child_value = self.child_columns
        cols.append(child_key)
        if child_value is not None:
            cols.append(child_value)
        assert self.children is not None
        joined = and_(parent == self.key_column, *self.present_filter(table))
        return select(*cols).select_from(self.parent.outerjoin(table, joined)).where(self.key_column == key)

    def present_filter(self, table: Table) -> list[ColumnElement[bool]]:
        """The soft-delete filter as conditions on ``table`` (the child table): rows that count."""
        assert self.children is not None
        return [table.c[name].is_(None) if v is None else table.c[name] == v for name, v in self.children.where.items()]

    @cached_property
    def plain_columns(self) -> bool:
        """Whether every column read is an integer, string or timestamp, whose values psycopg returns
        as SQLAlchemy would (no result processing): only then may the read skip SQLAlchemy's execute.
        (A NUMERIC's result processor, for one, needs the driver's type code, which that path lacks.)"""
        plain = (sqltypes.Integer, sqltypes.String, sqltypes.DateTime)
        for column in self.snapshot_select.selected_columns:
            kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
            if not isinstance(kind, plain) or isinstance(kind, sqltypes.Enum):
                return False
        return True

    def key_of(self, entity: int) -> Any:
        """The application's key of the history's entity number (1-based)."""
        return self.keys[entity - 1]

    @property
    def entities(self) -> list[int]:
        return list(range(1, len(self.keys) + 1))

    def read_snapshot(self, conn: Connection, entity: int) -> Snapshot | None:
        """The entity as one statement reads it (or the application's ``read``); None when absent."""
        key = self.key_of(entity)
        if self.read is not None:
            found = self.read(conn, key)
            if found is None:
                return None
            state = {name: v for name, value in found.items() if (v := normalise(value)) is not None}
            return Snapshot(entity, state, 0, None)
        params = {"key": key}
        rows: Sequence[Sequence[Any]] | None = None
        if self.plain_columns:
            rows = fetch_all(conn, self.snapshot_select, params)  # on psycopg, straight on the driver
        if rows is None:
            rows = conn.execute(self.snapshot_select, params).all()
        if not rows:
            return None
        n = len(self.state_columns)
        first = rows[0]
        state = {}
        for col, value in zip(self.state_columns, first[:n], strict=True):
            # int and str are what the checker compares already: the hot path of the bundled scenarios
            v = value if type(value) is int or type(value) is str else normalise(value)
            if v is not None:
                state[col.name] = v
        version: Any = 0
        updated_at: Any = None
        if self.version is not None:
            version = first[n] if first[n] is not None else 0
            n += 1
        if self.updated_at is not None:
            updated_at = first[n]
            n += 1
        if self.children is not None:
            for row in rows:
                if row[n] is None:  # the outer join's row of an entity without children
                    continue
                value = normalise(row[n + 1]) if len(row) > n + 1 else ""
                state[kv_field(str(normalise(row[n])))] = "" if value is None else value
        return Snapshot(entity, state, version, updated_at)

    def read_state(self, conn: Connection, entity: int) -> State | None:
        snap = self.read_snapshot(conn, entity)
        return None if snap is None else dict(snap.state)


class EntityTables:
    """The storage side of an entity, as the runners use it: create, seed, reload, read.
    (:class:`race_harness.schema.Tables` adds what the bundled strategies write with.)"""

    def __init__(self, entity: Entity, scenario: str = "") -> None:
        self.entity = entity
        self.scenario = scenario or entity.parent.name  # what an error in the set-up names
        self.setup_seconds: float | None = None  # how long the application's own schema set-up took
        self._views: dict[str, EntityView] = {}
        self._template: SchemaTemplate | None = None

    def view(self, dialect: Dialect) -> EntityView:
        """How the entity's tables appear in statements on ``dialect`` (what a call's witness reads)."""
        view = self._views.get(dialect.name)
        if view is None:
            view = self._views[dialect.name] = EntityView(self.entity, dialect)
        return view

    @property
    def metadata(self) -> MetaData:
        return self.entity.all_metadata

    def template(self) -> SchemaTemplate | None:
        """The application's schema as a template (:mod:`race_harness.databases.templates`): made
        once per server, copied for each database. None for the harness's own tables (no set-up to save)."""
        create = self.entity.create
        if create is None:
            return None
        if self._template is not None:
            return self._template
        scenario = self.scenario

        def build(url: URL) -> None:
            run_setup("schema set-up", create, url, scenario)
            forget_configuration()  # a set-up that points the application somewhere (Django's migrate) did

        key = fingerprint(create)  # the sources are read once per process
        self._template = SchemaTemplate(key, build) if key is not None else None
        return self._template

    def create(
        self,
        conn: Connection,
        before_seed: Callable[[], object] | None = None,
        *,
        again: bool = False,
        made: bool = False,
        reset: Callable[[], bool] | None = None,
    ) -> dict[int, State]:
        """Create the schema (every table of the application's MetaData, or its own ``create``), seed,
        and return the initial state (read back: the seed, not a declaration, says what it is).
        ``made``: the database is a copy of the schema's template, so the application's ``create`` is not
        run; ``reset``: how ``again`` gives the database back its state before the seed (:meth:`reload`).

        ``again`` after an attempt whose connection died part-way (a fault during set-up): tables
        that exist are kept (MySQL commits each CREATE at once) and emptied, and the seed made again;
        the application's own ``create`` had finished (its failure ends the run), so it is not rerun."""
        if self.entity.create is None:
            self.entity.all_metadata.create_all(conn)  # checkfirst: what a failed attempt made stays
        elif not again and not made:  # on its own connection: nothing of the caller's transaction was sent
            self.setup_seconds = run_setup("schema set-up", self.entity.create, conn.engine.url, self.scenario)
        if before_seed is not None:
            before_seed()
        return self.reload(conn, reset) if again else self._seed(conn)

    def reload(self, conn: Connection, reset: Callable[[], bool] | None = None) -> dict[int, State]:
        """A fresh start without DDL, then the seed: ``reset`` gives the database back what it held
        when its schema was made (the rows a data migration wrote, its counters: see
        :mod:`race_harness.databases.pristine`); without one, or where it cannot, every row of the
        entity's tables is deleted (children first)."""
        if reset is None or not reset():
            for table in reversed(self.entity.all_metadata.sorted_tables):
                conn.execute(table.delete())
        return self._seed(conn)

    def _seed(self, conn: Connection) -> dict[int, State]:
        try:
            self.entity.seed(conn)
        except (OperationalError, InterfaceError):
            raise  # the connection failed, not the seed: the caller's faults handling decides
        except UsageError as exc:
            raise UsageError(f"scenario {self.scenario!r}: {exc}") from None
        except Exception as exc:  # the application's seed is wrong: one line naming it (exit 2)
            detail = " ".join(str(exc).split())[:300]
            raise UsageError(f"scenario {self.scenario!r}: its seed raised {type(exc).__name__}: {detail}") from None
        initial = self.states(conn, self.entity.entities)
        missing = [self.entity.key_of(e) for e in self.entity.entities if e not in initial]
        if missing:
            raise UsageError(
                f"scenario {self.scenario!r}: its seed created no row with key {missing[0]!r} in "
                f"{self.entity.parent.name!r}"
            )
        return initial

    def snapshot(self, conn: Connection, entity: int) -> Snapshot | None:
        return self.entity.read_snapshot(conn, entity)

    def states(self, conn: Connection, entities: Sequence[int]) -> dict[int, State]:
        out: dict[int, State] = {}
        for entity in entities:
            state = self.entity.read_state(conn, entity)
            if state is not None:
                out[entity] = state
        return out


__all__ = ["Children", "Entity", "EntityTables", "normalise"]


Decoder = Callable[[Any], Value | None]


class EntityView:
    """How one entity's tables appear in the statements an application sends (one per dialect)."""

    def __init__(self, entity: Entity, dialect: Dialect) -> None:
        self.dialect = dialect
        self.parent = entity.parent.name.lower()
        self.key = entity.key_column.name.lower()
        self.fields = {c.name.lower(): c.name for c in entity.state_columns}
        self.version = entity.version.lower() if entity.version else None
        self.entity_of: dict[Value | None, int] = {normalise(k): n for n, k in enumerate(entity.keys, 1)}
        self._columns: dict[tuple[str, str], Column[Any]] = {(self.parent, c.name.lower()): c for c in entity.parent.c}
        self.child: str | None = None
        self.child_parent = self.child_key = ""
        self.child_value: str | None = None
        self.child_id: str | None = None
        self.present: dict[str, Value | None] = {}  # a child row is there only with these values
        if entity.children is not None:
            table, parent, key, value = entity.child_columns
            self.child = table.name.lower()
            self.child_parent, self.child_key = parent.name.lower(), key.name.lower()
            self.child_value = value.name.lower() if value is not None else None
            primary = list(table.primary_key.columns)
            # a child row updated or deleted by its own id (the ORM's way) is known by the id a read returned
            self.child_id = primary[0].name.lower() if len(primary) == 1 else None
            self.present = {k.lower(): normalise(v) for k, v in entity.children.where.items()}
            self._columns.update({(self.child, c.name.lower()): c for c in table.c})
        self.tables = frozenset(t for t in (self.parent, self.child) if t is not None)
        self._decoders: dict[tuple[str, str], Decoder] = {}

    def column(self, table: str, name: str) -> Column[Any] | None:
        return self._columns.get((table, name))

    def decode(self, table: str, name: str, raw: Any) -> Value | None:
        """A value as the driver returned or received it, as the checker compares it."""
        decoder = self._decoders.get((table, name))
        if decoder is None:
            decoder = self._decoders[(table, name)] = self._decoder(table, name)
        return decoder(raw)

    def _decoder(self, table: str, name: str) -> Decoder:
        column = self.column(table, name)
        process = None
        if column is not None:
            try:  # the type's own result processing: JSON text to a document, SQLite's date text to a date
                process = column.type.dialect_impl(self.dialect).result_processor(self.dialect, None)
            except Exception:
                process = None

        is_json = column is not None and isinstance(column.type, sqltypes.JSON)

        def decode(raw: Any) -> Value | None:
            raw = getattr(raw, "obj", raw) if type(raw).__name__ in ("Json", "Jsonb") else raw  # psycopg's wrappers
            given = raw
            if process is not None and raw is not None:
                with contextlib.suppress(Exception):  # a value already in its Python form: as it is
                    raw = process(raw)
            if is_json and isinstance(raw, str) and raw is given:  # text the type's processing left as it was
                # a document still as text: Django loads JSON itself, so its psycopg connections return
                # jsonb as text, which SQLAlchemy's psycopg dialect leaves to the driver
                with contextlib.suppress(ValueError):
                    raw = json.loads(raw)
            return normalise(raw)

        return decode

    def entity_by(self, dml: Dml, column: str, params: Any, table: str) -> int | None:
        """The entity a statement's WHERE names by ``column`` (one value), or None."""
        terms = dml.condition(column)
        if terms is None or len(terms) != 1:
            return None
        value = bind(terms[0], params)
        return None if value is UNKNOWN else self.entity_of.get(self.decode(table, column, value))

    def is_present(self, values: Mapping[str, Any]) -> bool:
        """A child row with these (decoded) column values counts, by the declared soft-delete filter;
        a filter column the statement did not mention does not count against it."""
        return all(values.get(col, want) == want for col, want in self.present.items())
