"""``partial-update``: write only the columns and child keys the request changed (dirty tracking).

It fixes writers that change *different* attributes. It cannot fix a read-modify-write of one field:
an increment is still computed from the value read, so the counter scenario loses updates here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from race_harness.model import Intent, Snapshot, Value, is_kv
from race_harness.schema import Tables
from race_harness.strategies.base import Saved, SaveResult, Strategy, delete_child, update_parent, upsert_child


class PartialUpdate(Strategy):
    # a counter's new value is computed from the read: writing back only that column still loses
    loses_to = frozenset({"lost-increment"})
    name = "partial-update"
    summary = "UPDATE only the dirty columns; upsert/delete only the dirty child keys"
    proof = "same-read"  # writers of different fields race from one read and lose nothing

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        target = intent.apply(snapshot.state)
        dirty = {f: target[f] for f in (set(intent.sets) | set(intent.increments))}
        attrs: dict[str, Any] = {f: v for f, v in dirty.items() if not is_kv(f)}
        update_parent(conn, tables, snapshot.entity, {**attrs, "updated_at": now})
        written: dict[str, Value | None] = dict(attrs)
        for fld, value in sorted(dirty.items()):
            if is_kv(fld):
                upsert_child(conn, tables, snapshot.entity, fld, value)
                written[fld] = value
        for fld in sorted(intent.removed_children(snapshot.state)):
            delete_child(conn, tables, snapshot.entity, fld)
            written[fld] = None
        return Saved(written)
