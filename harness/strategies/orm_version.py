"""``orm-version-counter``: the harness testing real ORM code. SQLAlchemy's ``version_id_col``
makes every flush ``UPDATE ... SET version = :new WHERE id = :id AND version = :old``; a miss raises
``StaleDataError``, which is the conflict.

The object is rebuilt from the snapshot as a *detached* instance carrying the version that was read
(as a web application does when the version travels in a form or an ETag), attached to a Session
bound to the runner's transaction, changed, and flushed. Child rows are an ORM collection keyed by
key, with delete-orphan cascade. ``updated_at`` is always set, so a change to child rows alone still
updates, and version-checks, the parent row.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.orm import Session, attribute_keyed_dict, make_transient_to_detached, registry, relationship
from sqlalchemy.orm.exc import StaleDataError

from race_harness.model import Intent, Snapshot, Value, is_kv, kv_key
from race_harness.schema import Tables, declare_tables
from race_harness.strategies.base import Conflict, Saved, SaveResult, Strategy

_ShapeKey = tuple[str, tuple[tuple[str, str], ...], bool, int]
_MAPPED: dict[_ShapeKey, tuple[type[Any], type[Any] | None]] = {}
_MAPPED_LOCK = threading.Lock()


def mapped_classes(tables: Tables, precision: int) -> tuple[type[Any], type[Any] | None]:
    """ORM classes for this entity shape, mapped once per process.

    Mapping a new class pair for every run's Table objects would keep every mapping alive (the
    mapper holds its table) and make SQLAlchemy report overlapping relationships. The SQL the ORM
    emits names tables and columns, so classes mapped to an identical Table serve every run.
    """
    schema = tables.schema
    key = (schema.table, tuple(schema.attributes.items()), schema.has_children, precision)
    with _MAPPED_LOCK:
        if key not in _MAPPED:
            _MAPPED[key] = _map(*declare_tables(schema, precision)[1:])
        return _MAPPED[key]


def _map(parent: Table, children: Table | None) -> tuple[type[Any], type[Any] | None]:
    reg = registry()
    parent_cls: type[Any] = type(f"{parent.name.title()}Row", (), {})
    child_cls: type[Any] | None = None
    properties: dict[str, Any] = {}
    if children is not None:
        child_cls = type(f"{children.name.title()}Row", (), {})
        reg.map_imperatively(child_cls, children)
        properties["children"] = relationship(
            child_cls, collection_class=attribute_keyed_dict("key"), cascade="all, delete-orphan"
        )
    reg.map_imperatively(parent_cls, parent, properties=properties, version_id_col=parent.c.version)
    return parent_cls, child_cls


def _detached(cls: type[Any], **values: Any) -> Any:
    obj = cls()
    for name, value in values.items():
        setattr(obj, name, value)
    make_transient_to_detached(obj)  # as if loaded earlier: these values are its committed state
    return obj


class ORMVersionCounter(Strategy):
    loses_to = frozenset()
    name = "orm-version-counter"
    summary = "SQLAlchemy ORM with version_id_col; StaleDataError is the conflict"
    token = "version"

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        parent_cls, child_cls = mapped_classes(tables, self.timestamp_precision)
        entity = snapshot.entity
        attrs = {f: snapshot.state[f] for f in tables.attributes}
        obj_values: dict[str, Any] = {
            "id": entity,
            "version": snapshot.version,
            "updated_at": snapshot.updated_at,
            **attrs,
        }
        if child_cls is not None:
            obj_values["children"] = {
                kv_key(f): _detached(child_cls, entity_id=entity, key=kv_key(f), value=v)
                for f, v in snapshot.state.items()
                if is_kv(f)
            }
        obj = _detached(parent_cls, **obj_values)
        target = intent.apply(snapshot.state)
        written: dict[str, Value | None] = {}
        # the Session joins the runner's transaction; the runner commits or rolls back
        with Session(bind=conn, autoflush=False) as session:
            session.add(obj)
            for f in tables.attributes:
                if target[f] != snapshot.state[f]:
                    setattr(obj, f, target[f])
                    written[f] = target[f]
            obj.updated_at = now
            if child_cls is not None:
                for f in sorted(intent.removed_children(snapshot.state)):
                    del obj.children[kv_key(f)]
                    written[f] = None
                for f, v in sorted(target.items()):
                    if is_kv(f) and snapshot.state.get(f) != v:
                        key = kv_key(f)
                        if key in obj.children:
                            obj.children[key].value = v
                        else:
                            obj.children[key] = child_cls()
                            obj.children[key].entity_id, obj.children[key].key, obj.children[key].value = entity, key, v
                        written[f] = v
            try:
                session.flush()
            except StaleDataError:
                return Conflict()
        return Saved(written)
