"""The append-only record of what happened: the contract between runner and checker.

Sessions append events (:mod:`race_harness.events`: an ``invoke``, then ``ok``, ``fail`` or
``info``); the history pairs them as they arrive and, when asked, makes them operations and writes
the completed ones into the columns the checkers read. It is saved and loaded as one JSON event per
line.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from race_harness.errors import UsageError
from race_harness.events import Event, Fault, Operation, Outcome, Role, Written
from race_harness.model import Intent, Snapshot
from race_harness.recorder import TableBuilder

if TYPE_CHECKING:
    from race_harness.optable import OpTable


# an operation's slot once settled: its invocation and completion, or the Operation made of them
Settled = Operation | tuple[Event, Event]


class History:
    """Thread-safe, append-only list of events.

    Each completion is paired with its invocation as it arrives, so a verdict waits for no pass over
    the events once the run is over. The pair becomes an :class:`Operation`, and goes into the
    columns the checkers read (:mod:`race_harness.optable`), when a verdict or a caller first asks
    for it, not while the sessions run: a live run's writers share one GIL, and every microsecond
    one spends recording slows them all.
    """

    def __init__(self, events: Iterable[Event] = (), origin: int | None = None, *, columns: bool = True) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        # CLOCK_MONOTONIC is one clock for every process on the machine, so histories recorded in
        # several processes from one origin merge into one timeline
        self.origin = time.monotonic_ns() if origin is None else origin
        self._slots: list[Settled | None] = []  # one per invocation, in invocation order
        self._pending: dict[int, tuple[int, Event]] = {}  # process -> (slot, its open invocation)
        self._columns = TableBuilder() if columns else None
        self._unadded: list[int] = []  # slots completed, not yet in the columns (see _settle)
        self._sealed: set[int] = set()  # open invocations given to a table as never completed
        self.faults: list[Fault] = []  # the nemesis's, in the order they began
        for ev in events:
            self._record(ev)
        self._add_settled()

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
                    inv.name,
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
        self._settle(slot, (inv, ev), inv)

    def _settle(self, slot: int, done: Settled, inv: Event) -> None:
        # a completed operation is kept as its two events and made an Operation when asked for: during
        # a run, recording is a writer's own time, on the GIL every other session waits for
        self._slots[slot] = done
        if inv.index in self._sealed:  # a table already counted it as never completed: rebuild on demand
            self._columns = None
        elif self._columns is not None:
            self._unadded.append(slot)  # into the columns when a verdict asks for them (same reason)

    def _operation(self, slot: int) -> Operation:
        done = self._slots[slot]
        assert done is not None, "an open invocation has no operation yet"
        if isinstance(done, Operation):
            return done
        op = self._slots[slot] = _paired(*done)
        return op

    def _add_settled(self) -> None:
        if self._columns is not None:
            for slot in self._unadded:
                self._columns.add(self._operation(slot))
        self._unadded.clear()

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
            return [open_ops[i] if done is None else self._operation(i) for i, done in enumerate(self._slots)]

    def table(self) -> OpTable:
        """The operations as columns (what ``check`` reads); invocations still open count as ``info``."""
        with self._lock:
            if self._columns is None:  # recorded without columns, or a sealed op completed later
                self._columns = TableBuilder()
                self._sealed.clear()
                self._unadded = [slot for slot, done in enumerate(self._slots) if done is not None]
            self._add_settled()
            for _, inv in self._pending.values():
                if inv.index not in self._sealed:
                    self._sealed.add(inv.index)
                    self._columns.add(_unfinished(inv))
            from race_harness.optable import OpTable  # NumPy: loaded when a verdict is first asked for

            return OpTable(self._columns)

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


def _paired(inv: Event, ev: Event) -> Operation:
    assert ev.type != "invoke", "an invocation completes nothing"
    return _operation_of(
        inv,
        ev.type,
        ev.time,
        read=ev.read,
        written=ev.written or {},
        attempts=ev.attempts,
        reason=ev.reason,
        error=ev.error,
        read_at=ev.read_at,
        write_at=ev.write_at,
        statements=ev.statements or {},
    )


def _unfinished(inv: Event) -> Operation:
    return _operation_of(inv, "info", None, error="never completed")


def _operation_of(inv: Event, type: Outcome, end: int | None, **completion: Any) -> Operation:
    """The operation ``inv`` began, ended as ``type`` at ``end`` with what its completion says."""
    return Operation(
        id=inv.index,
        process=inv.process,
        role=inv.role,
        name=inv.name,
        entity=inv.entity,
        type=type,
        start=inv.time,
        end=end,
        intent=inv.intent,
        **completion,
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
