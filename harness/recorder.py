"""The history's columns as they are recorded: one row per operation, appended as it completes.

Every operation is written, as it completes, into typed arrays (one row per operation) and into flat
tables of what it set, incremented, removed and wrote, with every ``(entity, field)`` and ``(entity,
field, value)`` interned to an integer. A read's state is interned too: reads that saw the same
committed state share one id, and that state's values are flattened once. The recorder pays a few
microseconds per operation, while the database round trips it waits for take hundreds.

Recording needs only the standard library's ``array``: NumPy, which the checkers read the columns
with (:mod:`race_harness.optable`), is not imported until a verdict is asked for, so a process that
records a short history (a replayed schedule) can load NumPy while it waits for its database.
"""

from __future__ import annotations

from array import array
from collections.abc import KeysView, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from race_harness.model import Snapshot, Value

if TYPE_CHECKING:
    from race_harness.events import Operation

OK, FAIL, INFO = 0, 1, 2
TYPE_CODES = {"ok": OK, "fail": FAIL, "info": INFO}
NEVER = 2**63 - 1  # the end of an operation that never completed (int64's largest)
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

    def share(self) -> None:
        """A table (:class:`~race_harness.optable.OpTable`) reads the columns so far without copying
        them: fresh memory is slow to fault in (about 1 ms per MB on a small VM), so the builder
        copies them (once) only if it is added to again."""
        self._shared = True

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
