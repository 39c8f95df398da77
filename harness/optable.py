"""The history as columns: what the checkers read, built while the history is recorded.

Checking a million operations one Python object at a time costs tens of seconds; the same questions
asked of NumPy columns cost well under one. So every operation is also written, as it completes,
into typed arrays (one row per operation) and into flat tables of what it set, incremented, removed
and wrote, with every ``(entity, field)`` and ``(entity, field, value)`` interned to an integer. A
read's state is interned too: reads that saw the same committed state share one id, and that
state's values are flattened once.

The recorder pays a few microseconds per operation, while the database round trips it waits for
take hundreds; the checker then pays about a microsecond per operation for a verdict. Rows are in
completion order; anything order-sensitive uses the ``id`` column (invocation order), as the
object-at-a-time checkers did.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, KeysView, Mapping
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from race_harness.model import Snapshot, State, Value, is_kv

if TYPE_CHECKING:
    from race_harness.history import Operation

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

OK, FAIL, INFO = 0, 1, 2
TYPE_CODES = {"ok": OK, "fail": FAIL, "info": INFO}
NEVER = int(np.iinfo(np.int64).max)  # the end of an operation that never completed
NONE = -1  # no read, no reason, no producer, no such key

# flags per operation
HAS_INTENT, REPLACES_CHILDREN, DERIVES = 1, 4, 8  # 2 was REMOVES: the rm_* table says it

FieldKey = tuple[int, str]  # (entity, field)


class TableBuilder:
    """Appends one operation at a time; ``table()`` copies what has been appended into an ``OpTable``."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []
        # per operation
        self.id, self.process, self.entity = array("q"), array("q"), array("q")
        self.start, self.end, self.attempts = array("q"), array("q"), array("q")
        self.read_at, self.write_at = array("q"), array("q")  # NONE where not recorded
        self.writer, self.type, self.flags = array("b"), array("b"), array("b")
        self.read_state, self.read_version, self.read_stamp, self.reason = (
            array("q"),
            array("q"),
            array("q"),
            array("q"),
        )
        # per entry of an intent's sets / increments / removes, and of what a write stored
        self.set_op, self.set_field, self.set_key = array("q"), array("q"), array("q")
        self.inc_op, self.inc_field, self.inc_delta = array("q"), array("q"), array("q")
        self.rm_op, self.rm_field = array("q"), array("q")
        self.wr_op, self.wr_field, self.wr_key = array("q"), array("q"), array("q")
        # per field of each distinct state read
        self.st_state, self.st_field, self.st_key = array("q"), array("q"), array("q")
        # interned names: per entity, field name -> field id; (field id, value) -> value key id. A
        # deletion is stored as the value None, so it is a value key like any other.
        self.field_of: dict[int, dict[str, int]] = {}
        self.fields: list[FieldKey] = []
        self.key_ids: dict[tuple[int, Value | None], int] = {}
        self.keys: list[tuple[int, str, Value | None]] = []
        self.key_field = array("q")
        self.state_ids: dict[tuple[int, object], int] = {}
        self.states: list[Snapshot] = []
        self.stamp_ids: dict[datetime | None, int] = {}
        self.reason_ids: dict[str, int] = {}
        self.reasons: list[str] = []
        self._shared = False  # a table reads these arrays' buffers

    def __len__(self) -> int:
        return len(self.ops)

    def _known(self, entity: int, names: KeysView[str]) -> dict[str, int]:
        """The entity's field ids, after interning any of ``names`` not seen before."""
        known = self.field_of.setdefault(entity, {})
        if not names <= known.keys():
            for name in names:
                if name not in known:
                    known[name] = len(self.fields)
                    self.fields.append((entity, name))
        return known

    def _entries(self, entity: int, items: Mapping[str, Value | None]) -> tuple[list[int], list[int]]:
        """Field ids and value key ids of ``items``, interning what is new.

        The hottest code of recording, so the per-item work runs in C (``map``, ``zip``): in the
        common case nothing is new and no Python bytecode runs per item.
        """
        fids = list(map(self._known(entity, items.keys()).__getitem__, items))
        kids = list(map(self.key_ids.get, zip(fids, items.values(), strict=True)))
        if None in kids:
            kids = [
                self._new_key(fid, value) if kid is None else kid
                for kid, fid, value in zip(kids, fids, items.values(), strict=True)
            ]
        return fids, kids  # type: ignore[return-value]  # no None left

    def _new_key(self, fid: int, value: Value | None) -> int:
        kid = self.key_ids.get((fid, value))
        if kid is None:  # the same new value twice in one mapping cannot happen, but costs nothing
            kid = self.key_ids[(fid, value)] = len(self.keys)
            self.keys.append((*self.fields[fid], value))
            self.key_field.append(fid)
        return kid

    def _state(self, read: Snapshot) -> int:
        ident = (read.entity, read.fingerprint)
        sid = self.state_ids.get(ident)
        if sid is None:
            sid = self.state_ids[ident] = len(self.states)
            self.states.append(read)
            fids, kids = self._entries(read.entity, read.state)
            self.st_state.extend([sid] * len(fids))
            self.st_field.extend(fids)
            self.st_key.extend(kids)
        return sid

    def add(self, op: Operation) -> None:
        if self._shared:
            self._unshare()
        row = len(self.ops)
        self.ops.append(op)
        entity = op.entity
        self.id.append(op.id)
        self.process.append(op.process)
        self.entity.append(entity)
        self.start.append(op.start)
        self.end.append(NEVER if op.end is None else op.end)
        self.attempts.append(op.attempts)
        self.read_at.append(NONE if op.read_at is None else op.read_at)
        self.write_at.append(NONE if op.write_at is None else op.write_at)
        self.writer.append(op.role == "writer")
        self.type.append(TYPE_CODES[op.type])
        flags = 0
        intent = op.intent
        if intent is not None:
            flags = HAS_INTENT
            if intent.sets:
                fids, kids = self._entries(entity, intent.sets)
                self.set_op.extend([row] * len(fids))
                self.set_field.extend(fids)
                self.set_key.extend(kids)
            if intent.increments:
                fids = list(map(self._known(entity, intent.increments.keys()).__getitem__, intent.increments))
                self.inc_op.extend([row] * len(fids))
                self.inc_field.extend(fids)
                self.inc_delta.extend(intent.increments.values())
            if intent.removes:
                known = self._known(entity, intent.removes)  # type: ignore[arg-type]  # a set, as good as keys
                fids = [known[name] for name in intent.removes]
                self.rm_op.extend([row] * len(fids))
                self.rm_field.extend(fids)
            if intent.replace_children:
                flags |= REPLACES_CHILDREN
        if intent is not None and op.written:
            flags |= _derives(op.written.keys() - intent.sets.keys(), op)
        self.flags.append(flags)
        if op.written:
            fids, kids = self._entries(entity, op.written)
            self.wr_op.extend([row] * len(fids))
            self.wr_field.extend(fids)
            self.wr_key.extend(kids)
        read = op.read
        if read is None:
            self.read_state.append(NONE)
            self.read_version.append(0)
            self.read_stamp.append(NONE)
        else:
            self.read_state.append(self._state(read))
            self.read_version.append(read.version)
            stamp = self.stamp_ids.get(read.updated_at)
            if stamp is None:
                stamp = self.stamp_ids[read.updated_at] = len(self.stamp_ids)
            self.read_stamp.append(stamp)
        if op.reason is None:
            self.reason.append(NONE)
        else:
            rid = self.reason_ids.get(op.reason)
            if rid is None:
                rid = self.reason_ids[op.reason] = len(self.reasons)
                self.reasons.append(op.reason)
            self.reason.append(rid)

    def table(self) -> OpTable:
        """The columns so far, without copying them: fresh memory is slow to fault in (about 1 ms per
        MB on a small VM), so the table reads the builder's buffers, and the builder copies them
        (once) only if it is added to again."""
        self._shared = True
        return OpTable(self)

    def _unshare(self) -> None:
        # an array exporting its buffer cannot grow: continue in copies, the table keeps the old ones
        for name, value in vars(self).items():
            if isinstance(value, array):
                setattr(self, name, array(value.typecode, value))
        self._shared = False


def _derives(beyond_sets: set[str], op: Operation) -> int:
    """``DERIVES`` when the write stored a field with a value computed from its read, not given by its
    intent (what makes a full-row write clobber): a field beyond its sets and beyond the children
    its intent removed from what it read. Set arithmetic in C for every write, Python only for the
    few that remove."""
    if not beyond_sets:
        return 0
    intent = op.intent
    if intent is None or not (intent.removes or intent.replace_children):
        return DERIVES
    return DERIVES if derived_fields(op) else 0


def derived_fields(op: Operation) -> set[str]:
    """Fields a write with an intent stored with a value computed from its read rather than given by
    its intent: what it wrote beyond its sets and the children its intent removed from its read."""
    assert op.intent is not None
    own = set(op.intent.sets) | (op.intent.removed_children(op.read.state) if op.read else set())
    return {f for f in op.written if f not in own}


def distinct(values: I64) -> I64:
    """The distinct values, ascending. ``np.unique`` without its hash table: numpy 2 hashes integer
    arrays, which on a million row numbers took 0.23 s here; sorting (a no-op pass on the row
    columns, which are already in order) and comparing neighbours took 0.01 s."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _i64(values: array[int]) -> I64:
    return np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, dtype=np.int64)


def _i8(values: array[int]) -> npt.NDArray[np.int8]:
    return np.frombuffer(values, dtype=np.int8) if len(values) else np.zeros(0, dtype=np.int8)


class OpTable:
    """A frozen copy of a builder's columns, plus the lookups every checker shares (each built once)."""

    def __init__(self, b: TableBuilder) -> None:
        self.ops = list(b.ops)
        self.n = len(self.ops)
        self.id, self.process, self.entity = _i64(b.id), _i64(b.process), _i64(b.entity)
        self.start, self.end, self.attempts = _i64(b.start), _i64(b.end), _i64(b.attempts)
        self.read_at, self.write_at = _i64(b.read_at), _i64(b.write_at)
        self.writer = _i8(b.writer).astype(bool)
        self.type = _i8(b.type)
        self.flags = _i8(b.flags)
        self.read_state, self.read_version = _i64(b.read_state), _i64(b.read_version)
        self.read_stamp, self.reason = _i64(b.read_stamp), _i64(b.reason)
        self.set_op, self.set_field, self.set_key = _i64(b.set_op), _i64(b.set_field), _i64(b.set_key)
        self.inc_op, self.inc_field, self.inc_delta = _i64(b.inc_op), _i64(b.inc_field), _i64(b.inc_delta)
        self.rm_op, self.rm_field = _i64(b.rm_op), _i64(b.rm_field)
        self.wr_op, self.wr_field, self.wr_key = _i64(b.wr_op), _i64(b.wr_field), _i64(b.wr_key)
        self.st_state, self.st_field, self.st_key = _i64(b.st_state), _i64(b.st_field), _i64(b.st_key)
        self.fields = list(b.fields)
        self.field_of = b.field_of  # read only from here on
        self.keys = list(b.keys)
        self.key_ids = b.key_ids
        self.key_field = _i64(b.key_field)
        self.states = list(b.states)
        self.reasons = list(b.reasons)

    @classmethod
    def of(cls, ops: Iterable[Operation]) -> OpTable:
        builder = TableBuilder()
        for op in ops:
            builder.add(op)
        return builder.table()

    # --- masks and lookups shared by the checkers -------------------------------------------------

    @cached_property
    def intended_writes(self) -> Bool:
        """Writers with an intent: the operations whose values name them."""
        out: Bool = self.writer & ((self.flags & HAS_INTENT) != 0)
        return out

    @cached_property
    def producer(self) -> I64:
        """Per value key: the row of the write whose intent set it (the latest-invoked one), or NONE.

        Values are unique per write, so this is a function in every sane history.
        """
        out = np.full(len(self.keys), NONE, dtype=np.int64)
        mine = self.intended_writes[self.set_op]
        rows = self.set_op[mine]
        keys = self.set_key[mine]
        order = np.lexsort((self.id[rows], keys))  # by key, then invocation: the last one per key wins
        keys, rows = keys[order], rows[order]
        last = np.ones(len(keys), dtype=bool)
        last[:-1] = keys[1:] != keys[:-1]
        out[keys[last]] = rows[last]
        return out

    @cached_property
    def counter(self) -> Bool:
        """Per field id: written by increments, so checked by sum (its values are not unique)."""
        out = np.zeros(len(self.fields), dtype=bool)
        out[self.inc_field[self.intended_writes[self.inc_op]]] = True
        return out

    @cached_property
    def counter_sign(self) -> npt.NDArray[np.int8]:
        """Per counter field: +1 when every delta declared for it is positive, -1 when every one is
        negative, 0 when both occur (then its values name no version: a value can come back)."""
        out = np.zeros(len(self.fields), dtype=np.int8)
        mine = self.intended_writes[self.inc_op]
        fields, deltas = self.inc_field[mine], self.inc_delta[mine]
        up = np.zeros(len(self.fields), dtype=bool)
        down = np.zeros(len(self.fields), dtype=bool)
        up[fields[deltas > 0]] = True
        down[fields[deltas < 0]] = True
        out[up & ~down] = 1
        out[down & ~up] = -1
        return out

    @cached_property
    def deletion(self) -> Bool:
        """Per value key: the value None, a field deleted (a child row removed)."""
        return np.fromiter((value is None for _, _, value in self.keys), dtype=bool, count=len(self.keys))

    def initial_keys(self, initial: Mapping[int, State]) -> Bool:
        """Per value key: it is the value its field had in the initial state."""
        out = np.zeros(len(self.keys), dtype=bool)
        for entity, state in initial.items():
            for fld, value in state.items():
                key = self.key_id(entity, fld, value)
                if key != NONE:
                    out[key] = True
        return out

    @cached_property
    def field_entity(self) -> I64:
        """Per field id: the entity it belongs to."""
        return np.fromiter((entity for entity, _ in self.fields), dtype=np.int64, count=len(self.fields))

    @cached_property
    def kv(self) -> Bool:
        """Per field id: a child key/value row (Glance property, Nova metadata key)."""
        return np.fromiter((is_kv(name) for _, name in self.fields), dtype=bool, count=len(self.fields))

    # the builder may go on interning after this copy was taken: ids beyond the copy are unknown here
    def key_id(self, entity: int, name: str, value: Value | None) -> int:
        """The value key of ``value`` (None: the field deleted) in ``entity``'s ``name``, or NONE."""
        fid = self.field_id(entity, name)
        kid = NONE if fid == NONE else self.key_ids.get((fid, value), NONE)
        return kid if kid < len(self.keys) else NONE

    def field_id(self, entity: int, name: str) -> int:
        fid = self.field_of.get(entity, {}).get(name, NONE)
        return fid if fid < len(self.fields) else NONE


__all__ = ["DERIVES", "FAIL", "INFO", "NEVER", "NONE", "OK", "OpTable", "TableBuilder", "derived_fields", "distinct"]
