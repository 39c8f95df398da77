"""``atomic-update``: push the change into single SQL statements, so nothing depends on the read.

``SET n = n + :delta`` for increments, ``SET col = :value`` for the attributes the request sets,
one upsert per child key (``ON CONFLICT DO UPDATE`` / ``ON DUPLICATE KEY UPDATE``), ``DELETE`` for a
removed key. Nova's ``update_all`` (replace every key) cannot be expressed this way: such writes are
recorded as not expressible and the cell is ``n/a``, never a silent pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import mysql, postgresql, sqlite

from race_harness.errors import UsageError
from race_harness.model import Intent, Snapshot, Value, is_kv, kv_key
from race_harness.schema import Tables
from race_harness.strategies.base import Saved, SaveResult, Strategy, delete_child, update_parent


def upsert_child_atomically(conn: Connection, tables: Tables, entity: int, fld: str, value: Value) -> None:
    assert tables.children is not None
    c = tables.children
    row = {"entity_id": entity, "key": kv_key(fld), "value": value}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(c).values(**row)
        conn.execute(pg.on_conflict_do_update(index_elements=[c.c.entity_id, c.c.key], set_={"value": value}))
    elif dialect == "sqlite":
        lite = sqlite.insert(c).values(**row)
        conn.execute(lite.on_conflict_do_update(index_elements=[c.c.entity_id, c.c.key], set_={"value": value}))
    elif dialect in ("mysql", "mariadb"):
        my = mysql.insert(c).values(**row)
        conn.execute(my.on_duplicate_key_update(value=value))
    else:
        raise UsageError(f"atomic-update has no upsert for the {dialect} dialect")


class AtomicUpdate(Strategy):
    loses_to = frozenset()
    name = "atomic-update"
    summary = "one statement per change: SET n = n + 1, SET col = value, single-key upsert"
    proof = "same-read"  # writers race from the same read and still lose nothing

    def expressible(self, intent: Intent) -> bool:
        return not intent.replace_children

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        p = tables.parent
        values: dict[str, Any] = {f: v for f, v in intent.sets.items() if not is_kv(f)}
        values.update({f: p.c[f] + delta for f, delta in intent.increments.items()})
        update_parent(conn, tables, snapshot.entity, {**values, "updated_at": now})
        # what Saved.written holds: the values this write chose; an increment's result is the database's
        written: dict[str, Value | None] = {f: v for f, v in intent.sets.items() if not is_kv(f)}
        for fld, value in sorted(intent.sets.items()):
            if is_kv(fld):
                upsert_child_atomically(conn, tables, snapshot.entity, fld, value)
                written[fld] = value
        for fld in sorted(intent.removes):
            delete_child(conn, tables, snapshot.entity, fld)
            written[fld] = None
        return Saved(written)
