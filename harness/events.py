"""The history's records: events, the operations they pair into, and the nemesis's faults.

As in Jepsen, every operation is two events: an ``invoke`` when a session starts it and a
completion when it ends, typed

- ``ok``: acknowledged, the write is durable;
- ``fail``: definitely not applied (conflict detected, serialization failure, deadlock victim);
- ``info``: indeterminate (connection lost, timeout, unexpected error): it may or may not have
  applied, so it stays concurrent with everything after it.

An invoke that never completes (the session died) reads back as ``info`` with no end time.
Times are integer nanoseconds from a monotonic clock, relative to the history's start.

The records are plain values with nothing below them but the model, so the recorder, the columns
and the checkers read them without depending on :class:`~race_harness.history.History`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from race_harness.model import Intent, Snapshot, Value

EventType = Literal["invoke", "ok", "fail", "info"]
Outcome = Literal["ok", "fail", "info"]
Role = Literal["writer", "reader"]
Written = Mapping[str, Value | None]  # field -> value stored, None when the write deleted it
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Event:
    index: int
    type: EventType
    process: int
    role: Role
    name: str  # the operation's ("update", "read"); "f" in the JSON lines, as Jepsen writes it
    entity: int
    time: int
    intent: Intent | None = None
    read: Snapshot | None = None
    written: Written | None = None
    attempts: int = 1
    reason: str | None = None  # why a write failed: conflict, deadlock, serialization, integrity, ...
    error: str | None = None
    # on a write's completion: when its last attempt's read returned and its write went out (the
    # report's timeline marks them; the checker's witnesses place the write by them); absent on
    # reads, on a strategy's writes in schedules, and in histories written before them
    read_at: int | None = None
    write_at: int | None = None
    # an application call's: per field it stored, the statement (SQL and parameters, trimmed) that did
    statements: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "index": self.index,
            "type": self.type,
            "process": self.process,
            "role": self.role,
            "f": self.name,
            "entity": self.entity,
            "time": self.time,
        }
        if self.intent is not None:
            out["intent"] = self.intent.to_json()
        if self.read is not None:
            out["read"] = self.read.to_json()
        if self.written is not None:
            out["written"] = dict(self.written)
        if self.type != "invoke":
            out["attempts"] = self.attempts
        if self.reason is not None:
            out["reason"] = self.reason
        if self.error is not None:
            out["error"] = self.error
        if self.read_at is not None:
            out["read_at"] = self.read_at
        if self.write_at is not None:
            out["write_at"] = self.write_at
        if self.statements:
            out["statements"] = dict(self.statements)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Event:
        entity = cast(int, data["entity"])
        intent = data.get("intent")
        read = data.get("read")
        written = data.get("written")
        return cls(
            index=cast(int, data["index"]),
            type=cast(EventType, data["type"]),
            process=cast(int, data["process"]),
            role=cast(Role, data["role"]),
            name=cast(str, data["f"]),
            entity=entity,
            time=cast(int, data["time"]),
            intent=Intent.from_json(cast(dict[str, object], intent)) if intent is not None else None,
            read=Snapshot.from_json(entity, cast(dict[str, object], read)) if read is not None else None,
            written=cast(dict[str, Value | None], written) if written is not None else None,
            attempts=cast(int, data.get("attempts", 1)),
            reason=cast(str | None, data.get("reason")),
            error=cast(str | None, data.get("error")),
            read_at=cast(int | None, data.get("read_at")),
            write_at=cast(int | None, data.get("write_at")),
            statements=cast(dict[str, str] | None, data.get("statements")),
        )


@dataclass(frozen=True)
class Fault:
    """What the nemesis did, from ``start`` to ``end`` (ns, the history's clock): a line of its own
    in the history file (``"type": "nemesis"``), never an operation the checkers read."""

    name: str  # kill-connections | pause | restart ("f" in the JSON lines)
    start: int
    end: int
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {"type": "nemesis", "f": self.name, "time": self.start, "end": self.end, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Fault:
        return cls(str(data["f"]), cast(int, data["time"]), cast(int, data["end"]), str(data.get("detail", "")))


@dataclass(frozen=True)
class Operation:
    """An invoke paired with its completion; what checkers work on."""

    id: int
    process: int
    role: Role
    name: str  # the operation's ("update", "read"); "f" in the JSON lines, as Jepsen writes it
    entity: int
    type: Outcome
    start: int
    end: int | None  # None: never completed, so it may take effect at any time after start
    intent: Intent | None = None
    read: Snapshot | None = None
    written: Written = field(default_factory=dict)
    attempts: int = 1
    reason: str | None = None
    error: str | None = None
    read_at: int | None = None
    write_at: int | None = None
    statements: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.role == "writer"

    def completed_before(self, other: Operation) -> bool:
        """True when this op's completion precedes ``other``'s invocation in real time."""
        return self.end is not None and self.end < other.start

    def describe(self) -> str:
        return f"op {self.id} (session {session_name(self.process)}, {self.name})"


def session_name(process: int) -> str:
    """How every output names a session: A, B, ... as schedules do (A is process 0), then AA, AB, ..."""
    name = ""
    n = process + 1
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(ord("A") + rest) + name
    return name
