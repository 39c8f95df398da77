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

from collections.abc import Mapping, Sequence
from typing import Literal

from harness.checkers.index import counter_fields, writes_by_value
from harness.checkers.result import Anomaly
from harness.history import Operation
from harness.model import State, fingerprint

Token = Literal["version", "updated_at"]
MAX_REPORTED = 100


def reads_trace_to_writes(ops: Sequence[Operation], initial: Mapping[int, State]) -> list[Anomaly]:
    producers = writes_by_value(ops)
    counters = counter_fields(ops)
    out: list[Anomaly] = []
    for r in ops:
        if r.read is None or r.type != "ok" or r.end is None:
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


def monotonic_reads(ops: Sequence[Operation]) -> list[Anomaly]:
    counters = counter_fields(ops)
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
                observed[fld] = value
        for fld, value in observed.items():
            key = (r.process, r.entity, fld)
            prev = last.get(key)
            if prev is not None and value < prev[0]:
                out.append(
                    Anomaly(
                        "invariant:monotonic-reads",
                        r.entity,
                        fld,
                        (prev[1].id, r.id),
                        f"reader session {r.process} saw {fld}={prev[0]} ({prev[1].describe()}) and later "
                        f"{fld}={value} ({r.describe()}): it went backwards.",
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
        state = fingerprint(r.read.state)
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


def check_invariants(ops: Sequence[Operation], initial: Mapping[int, State], token: Token | None) -> list[Anomaly]:
    return reads_trace_to_writes(ops, initial) + monotonic_reads(ops) + one_committed_state(ops, token)


__all__ = ["Token", "check_invariants"]
