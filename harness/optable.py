"""The history as columns: what the checkers read, built while the history is recorded.

Checking a million operations one Python object at a time costs tens of seconds; the same questions
asked of NumPy columns cost well under one. :class:`~race_harness.recorder.TableBuilder` appends
each operation to typed arrays as it completes; an :class:`OpTable` reads those buffers as NumPy
arrays, so the checker then pays about a microsecond per operation for a verdict. Rows are in
completion order; anything order-sensitive uses the ``id`` column (invocation order), as the
object-at-a-time checkers did.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from race_harness.model import State, Value, is_kv
from race_harness.recorder import HAS_INTENT, NONE, TableBuilder

if TYPE_CHECKING:
    from race_harness.events import Operation

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


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
        b.share()  # these arrays read the builder's buffers
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
        return cls(builder)

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
    def summed(self) -> Bool:
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


__all__ = ["I64", "Bool", "OpTable", "distinct"]
