"""``compare-and-swap``: ``UPDATE ... WHERE`` every column read still holds the value read (the
oslo.db ``update_on_match`` idea Nova uses for ``task_state``); no row matched means a conflict.

A row's columns cannot see its child rows, so after the parent UPDATE (which holds the parent row
lock every writer takes first) the current child rows are compared with the ones read as well: Nova's
metadata is exactly where a parent-only compare would wave a lost key through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from race_harness.model import Intent, Snapshot, Value, is_kv
from race_harness.schema import Tables
from race_harness.strategies.base import (
    Conflict,
    Saved,
    SaveResult,
    Strategy,
    read_children,
    update_parent,
    write_children_from_target,
)


class CompareAndSwap(Strategy):
    loses_to = frozenset()
    name = "compare-and-swap"
    summary = "UPDATE ... WHERE every column read is unchanged; child rows compared too"

    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        target = intent.apply(snapshot.state)
        expected = {f: snapshot.state[f] for f in tables.attributes}
        values: dict[str, Any] = {f: target[f] for f in tables.attributes}
        if update_parent(conn, tables, snapshot.entity, {**values, "updated_at": now}, where=expected) == 0:
            return Conflict()
        current = read_children(conn, tables, snapshot.entity)
        if current != {f: v for f, v in snapshot.state.items() if is_kv(f)}:
            return Conflict()
        written: dict[str, Value | None] = dict(values)
        written.update(write_children_from_target(conn, tables, snapshot.entity, target, current))
        return Saved(written)
