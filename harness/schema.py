"""The tables the harness declares for a bundled scenario's entity, and the statements strategies write with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from race_harness.entity import Children, Entity, EntityTables
from race_harness.errors import UsageError
from race_harness.model import EntitySchema, State, Value, is_kv, kv_key

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
            from sqlalchemy.dialects import mysql  # loaded by the dialect already; not at import, for a replay's start

            return dialect.type_descriptor(mysql.DATETIME(fsp=self.precision))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            keep = 10 ** (6 - self.precision)
            value = value.replace(microsecond=value.microsecond // keep * keep)
        return value


def utc_now() -> datetime:
    """The application's clock, as Glance's ``timeutils.utcnow()``: naive UTC with microseconds."""
    return datetime.now(UTC).replace(tzinfo=None)


class Tables(EntityTables):
    """A bundled scenario's entity: an :class:`~race_harness.entity.Entity` over tables the harness
    declares from an :class:`EntitySchema` (``id``, the attributes, a ``version`` counter and an
    ``updated_at`` of the strategy's precision, child rows ``<table>_kv(entity_id, key, value)``),
    plus the statements the bundled strategies write with. Created, seeded and read as any entity."""

    def __init__(self, schema: EntitySchema, entity: Entity) -> None:
        super().__init__(entity)
        self.schema = schema
        self.parent = entity.parent
        self.children = entity.child_columns[0] if entity.children is not None else None

    @property
    def attributes(self) -> list[str]:
        return list(self.schema.attributes)

    def parent_update(self, where: tuple[str, ...], bump_version: bool = False) -> Update:
        """``UPDATE parent SET <the columns the parameters name> WHERE id = :w_id AND col = :w_col ...``,
        one statement object per set of WHERE columns, reused for the same reason as the select.
        ``bump_version`` adds ``version = version + 1`` (version OCC) to the statement itself."""
        key = (where, bump_version)
        stmt = self._updates.get(key)
        if stmt is None:
            p = self.parent
            cond = [self.entity.key_column == bindparam("w_id")] + [p.c[col] == bindparam(f"w_{col}") for col in where]
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


def declare_tables(schema: EntitySchema, timestamp_precision: int) -> tuple[MetaData, Table, Table | None]:
    """``schema``'s parent table and child table (if any) in a MetaData of their own."""
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

    return md, parent, children


def build_tables(schema: EntitySchema, timestamp_precision: int, initial: Mapping[int, State]) -> Tables:
    """The tables for ``schema`` with ``updated_at`` at ``timestamp_precision`` fractional digits, as
    an Entity whose keys are the ids of ``initial`` (1..n, the history's entity numbers) and whose
    seed inserts ``initial`` at version 1, stamped now."""
    if sorted(initial) != list(range(1, len(initial) + 1)):
        raise UsageError(
            f"the initial entities of table {schema.table!r} are numbered {sorted(initial)}; expected 1..{len(initial)}"
        )
    _, parent, children = declare_tables(schema, timestamp_precision)

    def seed(conn: Connection) -> None:
        now = utc_now()
        for entity, state in initial.items():
            row: dict[str, Any] = {"id": entity, "version": 1, "updated_at": now}
            row.update({f: v for f, v in state.items() if not is_kv(f)})
            conn.execute(parent.insert().values(**row))
            kv = [{"entity_id": entity, "key": kv_key(f), "value": v} for f, v in state.items() if is_kv(f)]
            if kv and children is not None:
                conn.execute(children.insert(), kv)

    entity = Entity(
        parent,
        keys=sorted(initial),
        seed=seed,
        children=Children(children, key="key", value="value", parent="entity_id") if children is not None else None,
        version="version",
        updated_at="updated_at",
    )
    return Tables(schema, entity)
