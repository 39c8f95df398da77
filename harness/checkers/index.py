"""Lookups every checker needs, built once per history."""

from __future__ import annotations

from collections.abc import Sequence

from harness.history import Operation
from harness.model import Value

ValueKey = tuple[int, str, Value]  # (entity, field, value)


def writes_by_value(ops: Sequence[Operation]) -> dict[ValueKey, Operation]:
    """The write whose intent set each value. Values are unique per write, so this is a function."""
    out: dict[ValueKey, Operation] = {}
    for op in ops:
        if op.is_write and op.intent is not None:
            for fld, value in op.intent.sets.items():
                out[(op.entity, fld, value)] = op
    return out


def counter_fields(ops: Sequence[Operation]) -> set[tuple[int, str]]:
    """(entity, field) pairs written by increments: their values are not unique, so they are checked by sum."""
    return {(op.entity, f) for op in ops if op.is_write and op.intent for f in op.intent.increments}
