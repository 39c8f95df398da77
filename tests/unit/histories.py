"""Literal histories for checker tests: operations written out by hand, times in milliseconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from race_harness.events import Operation, Outcome, Written
from race_harness.model import Intent, Snapshot, State, Value

MS = 1_000_000


@dataclass
class Story:
    initial: dict[int, State]
    ops: list[Operation] = field(default_factory=list)

    def write(
        self,
        session: int,
        start_ms: float,
        end_ms: float | None,
        *,
        sets: Mapping[str, Value] | None = None,
        increments: Mapping[str, int] | None = None,
        replace_children: bool = False,
        read: State | None = None,
        version: int = 1,
        written: Written | None = None,
        type: Outcome = "ok",
        entity: int = 1,
        reason: str | None = None,
        read_at: float | None = None,
        write_at: float | None = None,
    ) -> Operation:
        """A write; ``read_at`` / ``write_at`` (ms): when its read returned and its write went out."""
        intent = Intent(sets=dict(sets or {}), increments=dict(increments or {}), replace_children=replace_children)
        op = Operation(
            id=len(self.ops),
            process=session,
            role="writer",
            name="update",
            entity=entity,
            type=type,
            start=int(start_ms * MS),
            end=None if end_ms is None else int(end_ms * MS),
            intent=intent,
            read=Snapshot(entity, dict(read if read is not None else self.initial[entity]), version, None),
            written=dict(written if written is not None else intent.sets),
            reason=reason,
            read_at=None if read_at is None else int(read_at * MS),
            write_at=None if write_at is None else int(write_at * MS),
            statements={f: f"UPDATE notes SET {f} = ? -- by session {session}" for f in (written or {})},
        )
        self.ops.append(op)
        return op

    def read(
        self, session: int, start_ms: float, end_ms: float, state: State, version: int = 1, entity: int = 1
    ) -> Operation:
        op = Operation(
            id=len(self.ops),
            process=session,
            role="reader",
            name="read",
            entity=entity,
            type="ok",
            start=int(start_ms * MS),
            end=int(end_ms * MS),
            read=Snapshot(entity, dict(state), version, None),
        )
        self.ops.append(op)
        return op
