"""The append-only record of what happened: the contract between runner and checker.

As in Jepsen, every operation is two events: an ``invoke`` when a session starts it and a
completion when it ends, typed

- ``ok``: acknowledged, the write is durable;
- ``fail``: definitely not applied (conflict detected, serialization failure, deadlock victim);
- ``info``: indeterminate (connection lost, timeout, unexpected error): it may or may not have
  applied, so it stays concurrent with everything after it.

An invoke that never completes (the session died) reads back as ``info`` with no end time.
Times are integer nanoseconds from a monotonic clock, relative to the history's start.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from race_harness.errors import UsageError
from race_harness.model import Intent, Snapshot, Value
from race_harness.recorder import TableBuilder

if TYPE_CHECKING:
    from race_harness.optable import OpTable

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
    f: str
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
            "f": self.f,
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
            f=cast(str, data["f"]),
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

    f: str  # kill-connections | pause | restart
    start: int
    end: int
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {"type": "nemesis", "f": self.f, "time": self.start, "end": self.end, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Fault:
        return cls(str(data["f"]), cast(int, data["time"]), cast(int, data["end"]), str(data.get("detail", "")))


@dataclass(frozen=True)
class Operation:
    """An invoke paired with its completion; what checkers work on."""

    id: int
    process: int
    role: Role
    f: str
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
        return f"op {self.id} (session {session_name(self.process)}, {self.f})"


def session_name(process: int) -> str:
    """How every output names a session: A, B, ... as schedules do (A is process 0), then AA, AB, ..."""
    name = ""
    n = process + 1
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


class History:
    """Thread-safe, append-only list of events.

    Events are paired into operations as they arrive, and each completed operation goes into the
    columns the checkers read (:mod:`race_harness.optable`), so a verdict waits for no pass over the
    events once the run is over.
    """

    def __init__(self, events: Iterable[Event] = (), origin: int | None = None, *, columns: bool = True) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        # CLOCK_MONOTONIC is one clock for every process on the machine, so histories recorded in
        # several processes from one origin merge into one timeline
        self.origin = time.monotonic_ns() if origin is None else origin
        self._slots: list[Operation | None] = []  # one per invocation, in invocation order
        self._pending: dict[int, tuple[int, Event]] = {}  # process -> (slot, its open invocation)
        self._columns = TableBuilder() if columns else None
        self._sealed: set[int] = set()  # open invocations given to a table as never completed
        self.faults: list[Fault] = []  # the nemesis's, in the order they began
        for ev in events:
            self._record(ev)

    @classmethod
    def merge(cls, parts: Iterable[Iterable[Event]], origin: int) -> History:
        """One history from several recorded in parallel (writer processes), re-indexed by time.

        Each part keeps its own order (its clock only moves forward), so pairing still works.
        """
        tagged = [(ev.time, n, i, ev) for n, part in enumerate(parts) for i, ev in enumerate(part)]
        tagged.sort(key=lambda t: t[:3])
        return cls((replace(ev, index=i) for i, (*_, ev) in enumerate(tagged)), origin)

    def now(self) -> int:
        return time.monotonic_ns() - self.origin

    def invoke(self, process: int, role: Role, f: str, entity: int, intent: Intent | None = None) -> int:
        with self._lock:
            index = len(self._events)
            self._record(Event(index, "invoke", process, role, f, entity, self.now(), intent=intent))
        return index

    def complete(
        self,
        invoke_index: int,
        type: Outcome,
        *,
        read: Snapshot | None = None,
        written: Written | None = None,
        attempts: int = 1,
        reason: str | None = None,
        error: str | None = None,
        read_at: int | None = None,
        write_at: int | None = None,
        statements: Mapping[str, str] | None = None,
    ) -> None:
        with self._lock:
            inv = self._events[invoke_index]
            self._record(
                Event(
                    len(self._events),
                    type,
                    inv.process,
                    inv.role,
                    inv.f,
                    inv.entity,
                    self.now(),
                    read=read,
                    written=written,
                    attempts=attempts,
                    reason=reason,
                    error=error,
                    read_at=read_at,
                    write_at=write_at,
                    statements=statements or None,
                )
            )

    def fault(self, f: str, start: int, end: int, detail: str = "") -> None:
        with self._lock:
            self.faults.append(Fault(f, start, end, detail))

    def _record(self, ev: Event) -> None:
        self._events.append(ev)
        if ev.type == "invoke":
            if ev.process in self._pending:  # a session invoked again without completing: the old op is lost
                slot, inv = self._pending.pop(ev.process)
                self._settle(slot, _unfinished(inv), inv)
            self._pending[ev.process] = (len(self._slots), ev)
            self._slots.append(None)
            return
        opened = self._pending.pop(ev.process, None)
        if opened is None:
            raise ValueError(f"completion event {ev.index} of process {ev.process} has no invocation")
        slot, inv = opened
        op = Operation(
            id=inv.index,
            process=inv.process,
            role=inv.role,
            f=inv.f,
            entity=inv.entity,
            type=ev.type,
            start=inv.time,
            end=ev.time,
            intent=inv.intent,
            read=ev.read,
            written=ev.written or {},
            attempts=ev.attempts,
            reason=ev.reason,
            error=ev.error,
            read_at=ev.read_at,
            write_at=ev.write_at,
            statements=ev.statements or {},
        )
        self._settle(slot, op, inv)

    def _settle(self, slot: int, op: Operation, inv: Event) -> None:
        self._slots[slot] = op
        if inv.index in self._sealed:  # a table already counted it as never completed: rebuild on demand
            self._columns = None
        elif self._columns is not None:
            self._columns.add(op)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def operations(self) -> list[Operation]:
        """Invocations paired with their completions, in invocation order."""
        with self._lock:
            open_ops = {slot: _unfinished(inv) for slot, inv in self._pending.values()}
            return [op if op is not None else open_ops[i] for i, op in enumerate(self._slots)]

    def table(self) -> OpTable:
        """The operations as columns (what ``check`` reads); invocations still open count as ``info``."""
        with self._lock:
            if self._columns is None:  # recorded without columns, or a sealed op completed later
                self._columns = TableBuilder()
                self._sealed.clear()
                for op in self._slots:
                    if op is not None:
                        self._columns.add(op)
            for _, inv in self._pending.values():
                if inv.index not in self._sealed:
                    self._sealed.add(inv.index)
                    self._columns.add(_unfinished(inv))
            return self._columns.table()

    def write_jsonl(self, path: Path) -> None:
        """One JSON line per event, then per fault: written under a temporary name and renamed, so a
        full disk or an interrupt leaves no empty or half-written history behind."""
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("w", encoding="utf-8") as out:
                for ev in self.events:
                    out.write(json.dumps(ev.to_json(), separators=(",", ":")) + "\n")
                for fault in self.faults:
                    out.write(json.dumps(fault.to_json(), separators=(",", ":")) + "\n")
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    @classmethod
    def read_jsonl(cls, path: Path) -> History:
        """A history written by :meth:`write_jsonl`; a damaged file is one line naming it and the line."""
        faults: list[Fault] = []
        history = cls(ev for ev in _events(path, faults))
        history.faults = faults
        return history


def _unfinished(inv: Event) -> Operation:
    return Operation(
        id=inv.index,
        process=inv.process,
        role=inv.role,
        f=inv.f,
        entity=inv.entity,
        type="info",
        start=inv.time,
        end=None,
        intent=inv.intent,
        error="never completed",
    )


def _events(path: Path, faults: list[Fault]) -> Iterator[Event]:
    """The events of a history file; its nemesis lines go to ``faults``."""
    number = 0
    try:
        with path.open(encoding="utf-8") as src:
            for number, line in enumerate(src, 1):  # noqa: B007 - the error names the line it stopped at
                if line.strip():
                    data = json.loads(line)
                    if isinstance(data, dict) and data.get("type") == "nemesis":
                        faults.append(Fault.from_json(data))
                    else:
                        yield Event.from_json(data)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise UsageError(f"cannot read the history {path}: {reason}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"history {path}, line {number}: not JSON ({exc.msg}); expected one event per line") from None
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise UsageError(
            f"history {path}, line {number}: not a race-harness event ({type(exc).__name__}: {exc})"
        ) from None
