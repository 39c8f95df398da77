"""SQLAlchemy Core tables for a scenario's entity, and loading/reading whole entity states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Delete,
    Dialect,
    ForeignKey,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    TypeDecorator,
    Update,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import TypeEngine

from race_harness.databases.direct import fetch_all
from race_harness.model import EntitySchema, Snapshot, State, Value, is_kv, kv_field, kv_key

VALUE_LENGTH = 64


class Timestamp(TypeDecorator[datetime]):
    """``updated_at`` with a fixed fractional-second precision (0 = whole seconds, up to 6).

    PostgreSQL ``timestamp(p)`` rounds and MySQL ``DATETIME(p)`` rounds (MariaDB truncates) on the
    server, as a real application's column would. SQLite has no such column type, so the value is
    truncated here before it is bound: the same whole-second collisions, emulated.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self, precision: int) -> None:
        super().__init__()
        self.precision = precision

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            # Not dialect.type_descriptor(): psycopg's adaptation (_PGTimeStamp) drops ``precision``
            # and the column silently becomes a microsecond TIMESTAMP.
            return postgresql.TIMESTAMP(precision=self.precision)
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=self.precision))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            keep = 10 ** (6 - self.precision)
            value = value.replace(microsecond=value.microsecond // keep * keep)
        return value


@dataclass(frozen=True)
class Tables:
    schema: EntitySchema
    metadata: MetaData
    parent: Table
    children: Table | None

    @property
    def attributes(self) -> list[str]:
        return list(self.schema.attributes)

    # the storage interface the runners use, shared with race_harness.entity.EntityTables

    def create(self, conn: Connection, initial: Mapping[int, State], now: datetime) -> dict[int, State]:
        """Create the tables, insert ``initial``, and return it (as the run's initial state)."""
        create_and_load(conn, self, initial, now)
        return {e: dict(s) for e, s in initial.items()}

    def reload(self, conn: Connection, initial: Mapping[int, State], now: datetime) -> dict[int, State]:
        reload_initial(conn, self, initial, now)
        return {e: dict(s) for e, s in initial.items()}

    def snapshot(self, conn: Connection, entity: int) -> Snapshot | None:
        return load_snapshot(conn, self, entity)

    def states(self, conn: Connection, entities: list[int]) -> dict[int, State]:
        return read_states(conn, self, entities)

    def parent_update(self, where: tuple[str, ...], bump_version: bool = False) -> Update:
        """``UPDATE parent SET <the columns the parameters name> WHERE id = :w_id AND col = :w_col ...``,
        one statement object per set of WHERE columns, reused for the same reason as the select.
        ``bump_version`` adds ``version = version + 1`` (version OCC) to the statement itself."""
        key = (where, bump_version)
        stmt = self._updates.get(key)
        if stmt is None:
            p = self.parent
            cond = [p.c.id == bindparam("w_id")] + [p.c[col] == bindparam(f"w_{col}") for col in where]
            stmt = update(p).where(and_(*cond))
            if bump_version:
                stmt = stmt.values(version=p.c.version + 1)
            self._updates[key] = stmt
        return stmt

    @cached_property
    def _updates(self) -> dict[tuple[tuple[str, ...], bool], Update]:
        return {}

    # The child-row statements of the DB-layer diff, built once for the same reason as the select:
    # rebuilt per call they were half of a Glance writer's CPU, and on one hot row that CPU is spent
    # holding the row lock while other sessions wait for the GIL.

    @cached_property
    def children_select(self) -> Select[Any]:
        """The child rows as they are now: ``entity`` -> (key, value) rows."""
        c = self._children
        return select(c.c.key, c.c.value).where(c.c.entity_id == bindparam("entity", type_=BigInteger))

    @cached_property
    def child_insert(self) -> Insert:
        """One child row: parameters ``entity_id``, ``key``, ``value``."""
        return insert(self._children)

    @cached_property
    def child_update(self) -> Update:
        """One child row's value: parameters ``w_entity``, ``w_key`` and the new ``value``."""
        c = self._children
        return update(c).where(c.c.entity_id == bindparam("w_entity", type_=BigInteger), c.c.key == bindparam("w_key"))

    @cached_property
    def child_delete(self) -> Delete:
        """One child row: parameters ``w_entity``, ``w_key``."""
        c = self._children
        return delete(c).where(c.c.entity_id == bindparam("w_entity", type_=BigInteger), c.c.key == bindparam("w_key"))

    def insert_child(self, entity: int, fld: str, value: Value) -> tuple[Insert, dict[str, Any]]:
        """``child_insert`` with its parameters, for the child field ``fld`` (``kv:key``)."""
        return self.child_insert, {"entity_id": entity, "key": kv_key(fld), "value": value}

    def update_child(self, entity: int, fld: str, value: Value) -> tuple[Update, dict[str, Any]]:
        return self.child_update, {"w_entity": entity, "w_key": kv_key(fld), "value": value}

    def delete_child(self, entity: int, fld: str) -> tuple[Delete, dict[str, Any]]:
        return self.child_delete, {"w_entity": entity, "w_key": kv_key(fld)}

    @property
    def _children(self) -> Table:
        assert self.children is not None, f"{self.schema.table} has no child rows"
        return self.children

    @cached_property
    def snapshot_select(self) -> Select[Any]:
        """The one-statement read of an entity, built once: a statement object reused across
        executions keeps its memoized cache key, so SQLAlchemy skips rebuilding and re-keying it
        on every read (a quarter of the runner's CPU per operation before)."""
        p = self.parent
        cols = [p.c[name] for name in self.attributes] + [p.c.version, p.c.updated_at]
        entity = bindparam("entity", type_=BigInteger)
        if self.children is not None:
            c = self.children
            return (
                select(*cols, c.c.key, c.c.value)
                .select_from(p.outerjoin(c, c.c.entity_id == p.c.id))
                .where(p.c.id == entity)
            )
        return select(*cols).where(p.c.id == entity)


def build_tables(schema: EntitySchema, timestamp_precision: int) -> Tables:
    md = MetaData()
    columns: list[Column[Any]] = [Column("id", BigInteger, primary_key=True, autoincrement=False)]
    for name, kind in schema.attributes.items():
        columns.append(Column(name, BigInteger if kind == "int" else String(VALUE_LENGTH), nullable=False))
    columns.append(Column("version", Integer, nullable=False))
    columns.append(Column("updated_at", Timestamp(timestamp_precision), nullable=False))
    parent = Table(schema.table, md, *columns)
    children = None
    if schema.has_children:
        children = Table(
            schema.child_table,
            md,
            Column("entity_id", BigInteger, ForeignKey(parent.c.id), primary_key=True),
            Column("key", String(VALUE_LENGTH), primary_key=True),
            Column("value", String(VALUE_LENGTH), nullable=False),
        )
    return Tables(schema, md, parent, children)


def create_and_load(conn: Connection, tables: Tables, initial: Mapping[int, State], now: datetime) -> None:
    """Create the tables and insert the initial state (inside the caller's transaction)."""
    tables.metadata.create_all(conn)
    load_initial(conn, tables, initial, now)


def reload_initial(conn: Connection, tables: Tables, initial: Mapping[int, State], now: datetime) -> None:
    """Delete every row and insert the initial state again: a fresh start without DDL."""
    if tables.children is not None:
        conn.execute(tables.children.delete())
    conn.execute(tables.parent.delete())
    load_initial(conn, tables, initial, now)


def load_initial(conn: Connection, tables: Tables, initial: Mapping[int, State], now: datetime) -> None:
    for entity, state in initial.items():
        row: dict[str, Any] = {"id": entity, "version": 1, "updated_at": now}
        row.update({f: v for f, v in state.items() if not is_kv(f)})
        conn.execute(tables.parent.insert().values(**row))
        if tables.children is not None:
            kv = [{"entity_id": entity, "key": kv_key(f), "value": v} for f, v in state.items() if is_kv(f)]
            if kv:
                conn.execute(tables.children.insert(), kv)


def load_snapshot(conn: Connection, tables: Tables, entity: int) -> Snapshot | None:
    """Read the parent row and its child rows in ONE statement.

    One statement sees one committed state even under READ COMMITTED, where two SELECTs in one
    transaction may see different commits (PostgreSQL takes a new snapshot per statement).
    """
    params = {"entity": entity}
    rows: Sequence[Sequence[Any]] | None = fetch_all(conn, tables.snapshot_select, params)  # psycopg
    if rows is None:
        rows = conn.execute(tables.snapshot_select, params).all()
    if not rows:
        return None
    # columns in snapshot_select's order: the attributes, version, updated_at[, key, value]
    first, n = rows[0], len(tables.attributes)
    state: State = dict(zip(tables.attributes, first[:n], strict=True))
    if tables.children is not None:
        for row in rows:
            if row[n + 2] is not None:
                state[kv_field(row[n + 2])] = row[n + 3]
    return Snapshot(entity, state, first[n], first[n + 1])


def read_states(conn: Connection, tables: Tables, entities: list[int]) -> dict[int, State]:
    out: dict[int, State] = {}
    for entity in entities:
        snap = load_snapshot(conn, tables, entity)
        if snap is not None:
            out[entity] = dict(snap.state)
    return out
