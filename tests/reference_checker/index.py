"""Lookups every checker needs, built once per history and shared (``check`` builds one)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property

from race_harness.events import Operation
from race_harness.model import Value

ValueKey = tuple[int, str, Value]  # (entity, field, value)


def writes_by_value(ops: Sequence[Operation]) -> dict[ValueKey, Operation]:
    """The write whose intent set each value. Values are unique per write, so this is a function."""
    out: dict[ValueKey, Operation] = {}
    for op in ops:
        if op.role == "writer" and op.intent is not None:
            entity = op.entity
            for fld, value in op.intent.sets.items():
                out[(entity, fld, value)] = op
    return out


def counter_fields(ops: Sequence[Operation]) -> set[tuple[int, str]]:
    """(entity, field) pairs written by increments: their values are not unique, so they are checked by sum."""
    return {(op.entity, f) for op in ops if op.role == "writer" and op.intent for f in op.intent.increments}


def counter_signs(ops: Sequence[Operation]) -> dict[tuple[int, str], int]:
    """Per counter: +1 when every declared delta is positive, -1 when every one is negative, else 0."""
    seen: dict[tuple[int, str], set[bool]] = defaultdict(set)
    for op in ops:
        if op.role == "writer" and op.intent:
            for f, delta in op.intent.increments.items():
                seen[(op.entity, f)].add(delta > 0)
    return {k: (1 if v == {True} else -1 if v == {False} else 0) for k, v in seen.items()}


class HistoryIndex:
    """The per-history lookups, each computed on first use and then shared by every checker."""

    def __init__(self, ops: Sequence[Operation]) -> None:
        self.ops = ops

    @cached_property
    def by_value(self) -> dict[ValueKey, Operation]:
        return writes_by_value(self.ops)

    @cached_property
    def counters(self) -> set[tuple[int, str]]:
        return counter_fields(self.ops)

    @cached_property
    def counter_signs(self) -> dict[tuple[int, str], int]:
        return counter_signs(self.ops)

    @cached_property
    def same_read_groups(self) -> list[list[Operation]]:
        """Acknowledged writes grouped by the exact version of the entity they read (groups of 2+)."""
        groups: dict[tuple[int, object], list[Operation]] = defaultdict(list)
        for op in self.ops:
            if op.role == "writer" and op.type == "ok" and op.read is not None:
                groups[(op.entity, op.read.fingerprint)].append(op)
        return [g for g in groups.values() if len(g) > 1]
