"""What one application call read and wrote of its entity, taken from the statements it sent.

The bundled strategies report what they read and stored; an application's own code does not, so
the harness reads it off the statements the call sends and the rows they return, where its hooks
already see them (SQLAlchemy's cursor events, the driver connection's proxy):

- the **read-set**: the entity's fields as the call's SELECTs returned them (the parent row's
  columns, its child rows as ``kv:`` fields, soft-deleted children left out), the latest read before
  its first write that took effect;
- the **write-set**: what its UPDATE / INSERT / DELETE statements stored in the entity's fields,
  each with the statement that carried it, counting only statements whose row count says they took
  effect (a version-checked UPDATE that matched nothing wrote nothing). A value the database
  computes (``n = n + 1``) is not the call's to claim and is left out.

Values are decoded (:class:`~race_harness.entity.EntityView`) with the column types' own result
processing and :func:`~race_harness.entity.normalise`, so a value
written back compares equal to the same value read by the harness. Anything the statement text does
not tell (an OR in a WHERE, a multi-row statement whose row count leaves open which rows it hit) is
left out: the checker's witnesses then see less, never something that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from race_harness.dml import UNKNOWN, Dml, Expr, bind, parse
from race_harness.entity import EntityView
from race_harness.model import Snapshot, Value, kv_field

EVIDENCE_CHARS = 240  # how much of a statement (and its parameters) the evidence quotes


@dataclass
class CallWitness:
    """The read-set and write-set of one call on one entity, built statement by statement."""

    view: EntityView
    entity: int
    clock: Callable[[], int]
    read_state: dict[str, Value] = field(default_factory=dict)
    read_version: int = 0
    read_at: int | None = None  # when the latest read before the first effective write returned
    snapshot: Snapshot | None = None  # the read-set as it stood at the first effective write (None: no read)
    written: dict[str, Value | None] = field(default_factory=dict)
    statements: dict[str, str] = field(default_factory=dict)  # field -> the statement that stored it
    write_at: int | None = None  # when the first statement that took effect was sent
    _pending: tuple[Dml, Any, bool, str, int] | None = None
    _read_any: bool = False
    _child_ids: dict[Value | None, tuple[int | None, Value | None]] = field(default_factory=dict)  # id -> (entity, key)

    def sent(self, sql: str, params: Any, many: bool) -> bool:
        """Before a statement goes out; True when its rows are wanted (a SELECT of the entity's tables)."""
        dml = parse(sql)
        if dml is None or not self.view.tables.intersection(dml.tables):
            self._pending = None
            return False
        self._pending = (dml, params, many, sql, self.clock())
        # rows are read until the first write; a child table's after it too (the ids its rows go by)
        return dml.verb == "select" and (self.write_at is None or self.view.child in dml.tables)

    def returned(
        self,
        rowcount: int,
        description: Sequence[Sequence[Any]] | None = None,
        rows: Sequence[Sequence[Any]] | None = None,
        columns: Sequence[tuple[str, str] | None] | None = None,
    ) -> None:
        """After the statement returned: its row count, and for a read its rows with, per position,
        the (table, column) it is (SQLAlchemy knows; else the names in ``description`` are matched)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        dml, params, many, sql, sent_at = pending
        if dml.verb == "select":
            if rows is not None:
                self._read(dml, params, rows, columns or self._by_name(dml, description))
            return
        if rowcount == 0:
            return  # matched nothing: wrote nothing (a refused version check, a row already gone)
        paramsets: Sequence[Any] = params if many and isinstance(params, Sequence) else [params]
        stored = self._stores(dml, paramsets, rowcount)
        if not stored:
            return
        if self.write_at is None:  # the first write that took effect: what was read until now is the read-set
            if self._read_any:
                self.snapshot = Snapshot(self.entity, dict(self.read_state), self.read_version, None)
            self.write_at = sent_at
        quoted = _quote(sql, params)
        for name, value in stored.items():
            self.written[name] = value
            self.statements[name] = quoted

    # --- reads ---------------------------------------------------------------------------------------

    def _by_name(self, dml: Dml, description: Sequence[Sequence[Any]] | None) -> list[tuple[str, str] | None]:
        """Result columns matched by name to the tables the statement reads (the first that has it)."""
        out: list[tuple[str, str] | None] = []
        for col in description or ():
            name = str(col[0]).lower()
            found = next((t for t in dml.tables if self.view.column(t, name) is not None), None)
            out.append((found, name) if found is not None else None)
        return out

    def _read(
        self, dml: Dml, params: Any, rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str] | None]
    ) -> None:
        v = self.view
        parent_of_stmt = v.entity_by(dml, v.key, params, v.parent) if v.parent in dml.tables else None
        child_parent_of_stmt = (
            v.entity_by(dml, v.child_parent, params, v.child) if v.child is not None and v.child in dml.tables else None
        )
        whole_child_set = (
            v.child is not None and dml.where is not None and dml.condition(v.child_key) is None
        )  # every child of the entity, not some: what is not returned is absent
        read_parent = False
        children: dict[str, Value] | None = None
        for row in rows:
            parent: dict[str, Any] = {}
            child: dict[str, Any] = {}
            for (table, name), raw in ((c, r) for c, r in zip(columns, row, strict=False) if c is not None):
                if table == v.parent:
                    parent[name] = raw
                elif table == v.child:
                    child[name] = raw
            entity = v.entity_of.get(v.decode(v.parent, v.key, parent[v.key])) if v.key in parent else parent_of_stmt
            if parent and entity == self.entity:
                read_parent = True
                for name, raw in parent.items():
                    fld = v.fields.get(name)
                    if fld is not None:
                        self._set_read(fld, v.decode(v.parent, name, raw))
                    elif name == v.version and isinstance(raw, int):
                        self.read_version = raw
            if not child or v.child_key not in child or child[v.child_key] is None:
                continue
            assert v.child is not None
            owner = (
                v.entity_of.get(v.decode(v.child, v.child_parent, child[v.child_parent]))
                if v.child_parent in child
                else child_parent_of_stmt
                if child_parent_of_stmt is not None
                else entity
            )
            if owner != self.entity:
                continue
            decoded = {name: v.decode(v.child, name, raw) for name, raw in child.items()}
            if v.child_id is not None and v.child_id in decoded:
                self._child_ids[decoded[v.child_id]] = (owner, decoded[v.child_key])
            children = {} if children is None else children
            if v.is_present(decoded):
                value = decoded.get(v.child_value) if v.child_value is not None else ""
                children[kv_field(str(decoded[v.child_key]))] = "" if value is None else value
        if self.write_at is not None:
            return  # the read-set is what was read before the first write
        if whole_child_set and (children is not None or (read_parent and v.child in dml.tables)):
            for name in [n for n in self.read_state if n.startswith("kv:")]:
                del self.read_state[name]
        if children:
            self.read_state.update(children)
        if read_parent or children is not None:
            self._read_any = True
            self.read_at = self.clock()

    def _set_read(self, fld: str, value: Value | None) -> None:
        if value is None:
            self.read_state.pop(fld, None)  # a NULL column is left out of the state, as the harness reads it
        else:
            self.read_state[fld] = value

    # --- writes --------------------------------------------------------------------------------------

    def _stores(self, dml: Dml, paramsets: Sequence[Any], rowcount: int) -> dict[str, Value | None]:
        """What the statement stored in this call's entity, when its row count says it took effect
        on every row it names (-1, unknown, claims nothing)."""
        v = self.view
        out: dict[str, Value | None] = {}
        if dml.table == v.parent and dml.verb == "update":
            if rowcount < len(paramsets):
                return out
            for params in paramsets:
                if v.entity_by(dml, v.key, params, v.parent) != self.entity:
                    continue
                for name, term in dml.sets:
                    fld = v.fields.get(name)
                    value = bind(term, params)
                    if fld is not None and value is not UNKNOWN:
                        out[fld] = v.decode(v.parent, name, value)
            return out
        if v.child is None or dml.table != v.child:
            return out
        if dml.verb in ("insert", "replace"):
            rows = [(r, p) for p in paramsets for r in dml.rows]
            if not rows or rowcount < len(rows):
                return out  # ON CONFLICT DO NOTHING may have skipped some: which, the count does not say
            for row, params in rows:
                values = {c: v.decode(v.child, c, bind(t, params)) for c, t in zip(dml.columns, row, strict=True)}
                if v.entity_of.get(values.get(v.child_parent)) != self.entity or values.get(v.child_key) is None:
                    continue
                if v.is_present(values):
                    value = values.get(v.child_value) if v.child_value is not None else ""
                    out[kv_field(str(values[v.child_key]))] = "" if value is None else value
            return out
        # UPDATE or DELETE of child rows named by their keys
        child = v.child
        targets: list[tuple[Any, list[Value | None]]] = []
        for params in paramsets:
            by_id = dml.condition(v.child_id) if v.child_id is not None else None
            if by_id is not None and dml.condition(v.child_key) is None:
                assert v.child_id is not None
                ids = [bind(t, params) for t in by_id]
                known = [self._child_ids.get(v.decode(child, v.child_id, i)) for i in ids]
                if any(k is None for k in known):
                    return {}  # a row this call never read: whose and which, the statement does not say
                mine = [key for owner, key in (k for k in known if k is not None) if owner == self.entity]
                if mine:
                    targets.append((params, mine))
                continue
            if v.entity_by(dml, v.child_parent, params, child) != self.entity:
                continue
            terms = dml.condition(v.child_key)
            if terms is None:
                return {}  # every child of the entity: which rows existed, the statement does not say
            keys = [bind(t, params) for t in terms]
            if any(k is UNKNOWN for k in keys):
                return {}
            targets.append((params, [v.decode(child, v.child_key, k) for k in keys]))
        if sum(len(keys) for _, keys in targets) > rowcount:
            return {}  # some of the rows it names were not there: which, the count does not say
        for params, keys in targets:
            for key in keys:
                name = kv_field(str(key))
                if dml.verb == "delete" or self._soft_deletes(dml, params):
                    out[name] = None
                elif v.child_value is not None:
                    assigned = next((t for c, t in dml.sets if c == v.child_value), None)
                    value = bind(assigned, params) if assigned is not None else UNKNOWN
                    if value is not UNKNOWN:
                        out[name] = v.decode(child, v.child_value, value)
        return out

    def _soft_deletes(self, dml: Dml, params: Any) -> bool:
        """The UPDATE sets a column of the soft-delete filter to what no present row has. A value the
        database computes (``deleted = id``, oslo.db's soft delete) counts: nothing else sets it."""
        v = self.view
        for column, term in dml.sets:
            if column in v.present:
                if isinstance(term, Expr):
                    return True
                value = bind(term, params)
                if value is not UNKNOWN and v.decode(v.child or "", column, value) != v.present[column]:
                    return True
        return False


def _quote(sql: str, params: Any) -> str:
    """The statement and its parameters as evidence quotes them: one line, trimmed."""
    text = " ".join(sql.split())
    if params:
        text += f" -- {params!r}"
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 3] + "..."


def result_columns(context: Any, view: EntityView) -> list[tuple[str, str] | None] | None:
    """Per result position, the (table, column) a compiled SELECT returns there, when SQLAlchemy
    compiled it (labels and joins resolved); None for SQL text, whose columns go by name."""
    compiled = getattr(context, "compiled", None)
    entries = getattr(compiled, "_result_columns", None)
    if not entries:
        return None
    out: list[tuple[str, str] | None] = []
    for entry in entries:
        found = None
        for obj in entry[2]:
            table = str(getattr(getattr(obj, "table", None), "name", "")).lower()
            name = str(getattr(obj, "name", "")).lower()
            if view.column(table, name) is not None:
                found = (table, name)
                break
        out.append(found)
    return out


__all__ = ["CallWitness", "EntityView", "result_columns"]
