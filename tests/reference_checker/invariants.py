"""What every read must satisfy, checked over the reads recorded in a history.

- ``reads-trace-to-writes``: a value a session read comes from the initial state or from a write that
  was invoked before the read completed and was not reported as failed (no invented values, no
  values from the future, no reads of rolled-back writes).
- ``monotonic-reads``: within one reader session the entity's version and every counter never go
  backwards. A counter that drops is what users of a lost-update-prone application see.
- ``one-committed-state``: where the strategy maintains a concurrency token (version or
  ``updated_at``), two reads that saw the same token saw the same parent and child rows. A
  whole-second ``updated_at`` breaks this, which is exactly why it cannot guard a write.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from race_harness.checkers.invariants import Predicate
from race_harness.checkers.result import Anomaly
from race_harness.events import Operation, session_name
from race_harness.model import State, Value
from tests.reference_checker.index import HistoryIndex, ValueKey

Token = Literal["version", "updated_at"]


def seconds(ns: int | None) -> str:
    return "never" if ns is None else f"{ns / 1e9:.4f} s"


MAX_REPORTED = 100


def reads_trace_to_writes(
    ops: Sequence[Operation], initial: Mapping[int, State], index: HistoryIndex | None = None
) -> list[Anomaly]:
    history = index or HistoryIndex(ops)
    producers = history.by_value
    counters = history.counters
    out: list[Anomaly] = []
    # Many reads see the same committed state. Per distinct state: the latest invocation among the
    # writes that produced its values, and whether any value has no producer or a failed one. A read
    # that completed after that invocation and whose state has no such value is then settled in O(1).
    latest: dict[tuple[int, object], tuple[int, bool]] = {}
    for r in ops:
        if r.read is None or r.type != "ok" or r.end is None:
            continue
        key = (r.entity, r.read.fingerprint)
        seen = latest.get(key)
        if seen is None:
            seen = latest[key] = _producers_of(r.entity, r.read.state, producers, counters, initial)
        if r.end >= seen[0] and not seen[1]:
            continue
        for fld, value in r.read.state.items():
            if (r.entity, fld) in counters or initial.get(r.entity, {}).get(fld) == value:
                continue
            w = producers.get((r.entity, fld, value))
            problem = None
            if w is None:
                problem = "no write set that value"
            elif w.type == "fail":
                problem = f"{w.describe()} set it but was reported as not applied ({w.reason})"
            elif w.start > r.end:
                problem = f"{w.describe()} set it but was invoked only after the read completed"
            if problem:
                out.append(
                    Anomaly(
                        "invariant:reads-trace-to-writes",
                        r.entity,
                        fld,
                        (r.id,),
                        f"{r.describe()} read {fld}={value!r}: {problem}.",
                    )
                )
    return out[:MAX_REPORTED]


def _producers_of(
    entity: int,
    state: Mapping[str, Value],
    producers: Mapping[ValueKey, Operation],
    counters: set[tuple[int, str]],
    initial: Mapping[int, State],
) -> tuple[int, bool]:
    """(latest start among the writes that set ``state``'s values, some value has no good producer)."""
    latest, suspect = -1, False
    start = initial.get(entity, {})
    for fld, value in state.items():
        if (entity, fld) in counters or start.get(fld) == value:
            continue
        w = producers.get((entity, fld, value))
        if w is None or w.type == "fail":
            suspect = True
        elif w.start > latest:
            latest = w.start
    return latest, suspect


def monotonic_reads(ops: Sequence[Operation], index: HistoryIndex | None = None) -> list[Anomaly]:
    signs = (index or HistoryIndex(ops)).counter_signs
    counters = {k for k, sign in signs.items() if sign != 0}  # a counter moved both ways may go back
    last: dict[tuple[int, int, str], tuple[int, Operation]] = {}
    out: list[Anomaly] = []
    for r in sorted(
        (o for o in ops if o.role == "reader" and o.read is not None and o.type == "ok"),
        key=lambda o: o.start,
    ):
        assert r.read is not None
        observed: dict[str, int] = {"version": r.read.version}
        for entity, fld in counters:
            value = r.read.state.get(fld)
            if entity == r.entity and isinstance(value, int):
                observed[fld] = value * signs[(entity, fld)]
        for fld, value in observed.items():
            key = (r.process, r.entity, fld)
            prev = last.get(key)
            if prev is not None and value < prev[0]:
                sign = 1 if fld == "version" else signs[(r.entity, fld)]
                out.append(
                    Anomaly(
                        "invariant:monotonic-reads",
                        r.entity,
                        fld,
                        (prev[1].id, r.id),
                        f"reader session {session_name(r.process)} saw {fld}={prev[0] * sign} "
                        f"({prev[1].describe()}) and later "
                        f"{fld}={value * sign} ({r.describe()}): it went backwards.",
                    )
                )
            last[key] = (value, r)
    return out[:MAX_REPORTED]


def one_committed_state(ops: Sequence[Operation], token: Token | None) -> list[Anomaly]:
    if token is None:
        return []
    seen: dict[tuple[int, object], tuple[object, Operation]] = {}
    out: list[Anomaly] = []
    reported: set[tuple[int, object]] = set()
    for r in ops:
        if r.read is None or r.type != "ok":
            continue
        tok = r.read.version if token == "version" else r.read.updated_at
        key = (r.entity, tok)
        state = r.read.fingerprint
        if key not in seen:
            seen[key] = (state, r)
        elif seen[key][0] != state and key not in reported:
            reported.add(key)
            other = seen[key][1]
            out.append(
                Anomaly(
                    "invariant:one-committed-state",
                    r.entity,
                    token,
                    (other.id, r.id),
                    f"{other.describe()} and {r.describe()} both read {token}={tok} of entity {r.entity} but "
                    f"saw different rows: the token does not identify one committed state.",
                )
            )
    return out[:MAX_REPORTED]


def check_invariants(
    ops: Sequence[Operation], initial: Mapping[int, State], token: Token | None, index: HistoryIndex | None = None
) -> list[Anomaly]:
    history = index or HistoryIndex(ops)
    return (
        reads_trace_to_writes(ops, initial, history) + monotonic_reads(ops, history) + one_committed_state(ops, token)
    )


def _shown(state: Mapping[str, Value]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in sorted(state.items()))
    return text if len(text) <= 160 else text[:157] + "..."


def check_declared(
    ops: Sequence[Operation], final: Mapping[int, State], invariants: Mapping[str, Predicate]
) -> list[Anomaly]:
    """The scenario's own invariants on every state a reader saw (each distinct state judged once,
    shown with its first reader) and on the final state."""
    first: dict[tuple[int, object], Operation] = {}
    for r in sorted(
        (o for o in ops if o.role == "reader" and o.read is not None and o.type == "ok"), key=lambda o: o.id
    ):
        assert r.read is not None
        first.setdefault((r.entity, r.read.fingerprint), r)
    out: list[Anomaly] = []
    for name, holds in invariants.items():
        broken: list[tuple[float, Anomaly]] = []
        for r in first.values():
            assert r.read is not None
            if not _holds(name, holds, r.read.state):
                text = (
                    f"{r.describe()} read {_shown(r.read.state)} at {seconds(r.end)}: the invariant {name!r} is broken."
                )
                broken.append((r.id, Anomaly("broken-invariant", r.entity, None, (r.id,), text)))
        for entity, state in sorted(final.items()):
            if not _holds(name, holds, state):
                text = f"the final state of entity {entity} is {_shown(state)}: the invariant {name!r} is broken."
                broken.append((math.inf, Anomaly("broken-invariant", entity, None, (), text)))
        out += [a for _, a in sorted(broken, key=lambda x: x[0])][:MAX_REPORTED]
    return out


def _holds(name: str, predicate: Predicate, state: Mapping[str, Value]) -> bool:
    try:
        return bool(predicate(state))
    except Exception as exc:
        raise RuntimeError(f"the invariant {name!r} raised {type(exc).__name__}: {exc}") from exc


__all__ = ["Token", "check_declared", "check_invariants"]
