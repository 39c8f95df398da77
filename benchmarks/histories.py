"""Histories of any length for the checker benchmark, from an in-memory simulation of a stress run.

Writer sessions run a scenario's real writes (its ``next_write``) as read, then commit, then
acknowledge, with random delays, against one in-memory entity; reader sessions read it. Every write
is applied as its strategy would apply it:

- ``full-row``: the whole state computed from the (possibly stale) read is stored, so concurrent
  writes clobber each other and the checker has real lost updates to find and explain;
- ``version-occ``: a commit whose read version is no longer current is refused (``fail``), so the
  history is clean but full of conflicts.

This is input for a pure function (the checker), not a database stand-in: nothing here is used
where a test or a benchmark claims anything about a database.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from typing import Literal

from race_harness.events import Event
from race_harness.history import History
from race_harness.model import Intent, Snapshot, State
from race_harness.operations import WriterContext
from race_harness.scenario import Scenario

Apply = Literal["full-row", "version-occ"]
US = 1_000  # nanoseconds


@dataclass
class Generated:
    history: History
    initial: dict[int, State]
    final: dict[int, State]
    operations: int


@dataclass
class _Session:
    number: int
    role: Literal["writer", "reader"]
    seq: int = 0
    invoke_index: int = -1
    read: Snapshot | None = None
    intent: Intent | None = None
    read_at: int | None = None


def generate(
    scenario: Scenario,
    operations: int,
    *,
    apply: Apply = "full-row",
    writers: int = 8,
    readers: int = 2,
    seed: int = 0,
    times: bool = False,
) -> Generated:
    """A history of exactly ``operations`` completed operations (invoke + completion each).
    ``times``: each write also records when its read returned and its write went out (as a stress
    run does), which the stale-write witnesses need."""
    rng = random.Random(seed)
    (entity,) = scenario.entities  # the built-in scenarios have one entity; that is what is simulated
    state: State = dict(scenario.initial[entity])
    version = 1
    events: list[Event] = []
    sessions = [_Session(n, "writer") for n in range(writers)] + [
        _Session(writers + n, "reader") for n in range(readers)
    ]
    # (time, tiebreak, session number, phase): phases run invoke -> read -> commit -> complete
    queue: list[tuple[int, int, int, str]] = []
    tick = 0
    for s in sessions:
        heapq.heappush(queue, (rng.randrange(100 * US), tick, s.number, "invoke"))
        tick += 1
    started = done = 0
    outcome: dict[int, tuple[str, dict[str, object]]] = {}

    def emit(ev: Event) -> None:
        events.append(ev)

    while done < operations:
        now, _, number, phase = heapq.heappop(queue)
        s = sessions[number]
        nxt: str | None = None
        if phase == "invoke":
            if started >= operations:
                continue
            started += 1
            s.invoke_index = len(events)
            if s.role == "writer":
                op = scenario.write(WriterContext(s.number, s.seq, writers, rng, scenario.params))
                s.seq += 1
                s.intent = op.intent
                emit(Event(len(events), "invoke", s.number, "writer", op.name, entity, now, intent=op.intent))
            else:
                emit(Event(len(events), "invoke", s.number, "reader", "read", entity, now))
            nxt = "read"
        elif phase == "read":
            s.read = Snapshot(entity, dict(state), version, None)
            s.read_at = now
            nxt = "commit" if s.role == "writer" else "complete"
            if s.role == "reader":
                outcome[number] = ("ok", {"read": s.read})
        elif phase == "commit":
            assert s.read is not None and s.intent is not None
            if apply == "version-occ" and s.read.version != version:
                outcome[number] = ("fail", {"read": s.read, "reason": "conflict"})
            else:
                target = s.intent.apply(s.read.state)
                written = {f: target.get(f) for f in set(state) | set(target) if state.get(f) != target.get(f)}
                assert scenario.schema is not None
                written.update({f: target[f] for f in scenario.schema.attributes})
                state = target
                version += 1 if apply == "version-occ" else 0
                outcome[number] = ("ok", {"read": s.read, "written": written})
                if times:
                    outcome[number][1].update(read_at=s.read_at, write_at=now)
            nxt = "complete"
        else:  # complete
            kind, extra = outcome.pop(number)
            inv = events[s.invoke_index]
            emit(
                Event(
                    len(events),
                    kind,  # type: ignore[arg-type]  # "ok" | "fail"
                    s.number,
                    inv.role,
                    inv.name,
                    entity,
                    now,
                    read=extra.get("read"),  # type: ignore[arg-type]
                    written=extra.get("written"),  # type: ignore[arg-type]
                    reason=extra.get("reason"),  # type: ignore[arg-type]
                    read_at=extra.get("read_at"),  # type: ignore[arg-type]
                    write_at=extra.get("write_at"),  # type: ignore[arg-type]
                )
            )
            done += 1
            nxt = "invoke"
        if nxt is not None:
            heapq.heappush(queue, (now + rng.randrange(20 * US, 400 * US), tick, number, nxt))
            tick += 1
    return Generated(History(events, origin=0), {entity: dict(scenario.initial[entity])}, {entity: state}, operations)
