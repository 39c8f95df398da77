"""What every read must satisfy, checked over the reads recorded in a history.

- ``reads-trace-to-writes``: a value a session read comes from the initial state or from a write that
  was invoked before the read completed and was not reported as failed (no invented values, no
  values from the future, no reads of rolled-back writes).
- ``monotonic-reads``: within one reader session the entity's version and every counter never go
  backwards (a counter only ever decremented never goes up; one changed both ways is not checked).
  A counter that drops is what users of a lost-update-prone application see.
- ``one-committed-state``: where the strategy maintains a concurrency token (version or
  ``updated_at``), two reads that saw the same token saw the same parent and child rows. A
  whole-second ``updated_at`` breaks this, which is exactly why it cannot guard a write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np

from race_harness.checkers.result import Anomaly
from race_harness.checkers.witnesses import seconds
from race_harness.events import Operation, session_name
from race_harness.model import State, Value
from race_harness.optable import I64, OpTable
from race_harness.recorder import FAIL, NEVER, NONE, OK

Token = Literal["version", "updated_at"]
Predicate = Callable[[Mapping[str, Value]], object]  # a scenario's invariant over an entity's state
MAX_REPORTED = 100
CHUNK = 1 << 20  # values per pass over the states' flattened values (8 MB per int64 temporary)


def reads_trace_to_writes(table: OpTable, initial: Mapping[int, State]) -> list[Anomaly]:
    t = table
    # Many reads see the same committed state. Per distinct state: the latest invocation among the
    # writes that produced its values, and whether any value has no producer or a failed one. A read
    # that completed after that invocation and whose state has no such value is then settled at once.
    # Counters and initial values need no producer. Decided once per value key, then spread over the
    # states' flattened values in chunks: there are ~10 per operation, and fresh memory for
    # whole-length temporaries (hundreds of MB at 10^6 operations) cost more to fault in than the work.
    producer = t.producer
    made_by = np.maximum(producer, 0)
    relevant = ~t.summed[t.key_field] & ~t.initial_keys(initial)
    bad_key = relevant & ((producer == NONE) | (t.type[made_by] == FAIL))
    key_start = np.where(relevant & ~bad_key, t.start[made_by], -1)
    suspect = np.zeros(len(t.states), dtype=bool)
    latest = np.full(len(t.states), -1, dtype=np.int64)
    for lo in range(0, len(t.st_key), CHUNK):
        keys, states = t.st_key[lo : lo + CHUNK], t.st_state[lo : lo + CHUNK]
        suspect[states[bad_key[keys]]] = True
        np.maximum.at(latest, states, key_start[keys])
    reads = np.flatnonzero((t.read_state != NONE) & (t.type == OK) & (t.end != NEVER))
    state = t.read_state[reads]
    doubtful = reads[(t.end[reads] < latest[state]) | suspect[state]]
    out: list[Anomaly] = []
    for row in doubtful[np.argsort(t.id[doubtful], kind="stable")].tolist():
        r = t.ops[row]
        assert r.read is not None and r.end is not None
        for fld, value in r.read.state.items():
            if t.summed[t.field_id(r.entity, fld)] or initial.get(r.entity, {}).get(fld) == value:
                continue
            key = t.key_id(r.entity, fld, value)
            w = t.ops[t.producer[key]] if key != NONE and t.producer[key] != NONE else None
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
                if len(out) == MAX_REPORTED:
                    return out
    return out


def _backwards(table: OpTable, rows: I64, values: I64) -> list[tuple[int, int]]:
    """(previous row, row) where, within one session and entity, ``values`` dropped between two reads.

    ``rows`` are in the order the reads started.
    """
    t = table
    order = np.lexsort((np.arange(len(rows)), t.entity[rows], t.process[rows]))  # stable within a session
    rows, values = rows[order], values[order]
    same = (t.process[rows][1:] == t.process[rows][:-1]) & (t.entity[rows][1:] == t.entity[rows][:-1])
    drops = np.flatnonzero(same & (values[1:] < values[:-1]))
    return list(zip(rows[drops].tolist(), rows[drops + 1].tolist(), strict=True))


def monotonic_reads(table: OpTable) -> list[Anomaly]:
    t = table
    reads = np.flatnonzero(~t.writer & (t.read_state != NONE) & (t.type == OK))
    reads = reads[np.lexsort((t.id[reads], t.start[reads]))]
    position = np.empty(t.n, dtype=np.int64)
    position[reads] = np.arange(len(reads))
    found: list[tuple[int, str, int, int, int, int]] = []  # (position, field, prev row, row, prev, now)
    for prev, row in _backwards(t, reads, t.read_version[reads]):
        found.append((int(position[row]), "version", prev, row, int(t.read_version[prev]), int(t.read_version[row])))
    signs = t.counter_sign
    for f in np.flatnonzero(t.summed & (signs != 0)).tolist():  # a counter moved both ways may go back
        entity, fld = t.fields[f]
        sign = int(signs[f])
        value_of_state = np.zeros(len(t.states), dtype=np.int64)
        has = np.zeros(len(t.states), dtype=bool)
        keys = np.flatnonzero(t.key_field == f)  # the counter's distinct values
        values = [t.keys[k][2] for k in keys.tolist()]
        # an int beyond 64 bits (or not an int) is not compared numerically
        numeric = np.fromiter(
            (isinstance(v, int) and -(2**63) <= v < 2**63 for v in values), dtype=bool, count=len(values)
        )
        key_value = np.zeros(len(t.keys), dtype=np.int64)
        key_value[keys[numeric]] = np.array([v for v, n in zip(values, numeric, strict=True) if n], dtype=np.int64)
        key_numeric = np.zeros(len(t.keys), dtype=bool)
        key_numeric[keys[numeric]] = True
        mine = (t.st_field == f) & key_numeric[t.st_key]
        value_of_state[t.st_state[mine]] = key_value[t.st_key[mine]]
        has[t.st_state[mine]] = True
        rows = reads[(t.entity[reads] == entity) & has[t.read_state[reads]]]
        values = value_of_state[t.read_state[rows]] * sign  # a decremented counter must not go up
        for prev, row in _backwards(t, rows, values):
            before, now = int(value_of_state[t.read_state[prev]]), int(value_of_state[t.read_state[row]])
            found.append((int(position[row]), fld, prev, row, before, now))
    out: list[Anomaly] = []
    for _, fld, prev, row, before, now in sorted(found, key=lambda x: (x[0], x[1] != "version", x[1]))[:MAX_REPORTED]:
        p, r = t.ops[prev], t.ops[row]
        out.append(
            Anomaly(
                "invariant:monotonic-reads",
                r.entity,
                fld,
                (p.id, r.id),
                f"reader session {session_name(r.process)} saw {fld}={before} ({p.describe()}) and later "
                f"{fld}={now} ({r.describe()}): it went backwards.",
            )
        )
    return out


def one_committed_state(table: OpTable, token: Token | None) -> list[Anomaly]:
    if token is None:
        return []
    t = table
    reads = np.flatnonzero((t.read_state != NONE) & (t.type == OK))
    tok = (t.read_version if token == "version" else t.read_stamp)[reads]
    order = np.lexsort((t.id[reads], tok, t.entity[reads]))
    reads, tok = reads[order], tok[order]
    entity = t.entity[reads]
    starts = np.ones(len(reads), dtype=bool)
    starts[1:] = (entity[1:] != entity[:-1]) | (tok[1:] != tok[:-1])
    group = np.cumsum(starts) - 1
    first = reads[starts]
    differs = np.flatnonzero(t.read_state[reads] != t.read_state[first[group]])
    _, at = np.unique(group[differs], return_index=True)  # the first read per group that saw another state
    hits = differs[at]
    out: list[Anomaly] = []
    for i in hits[np.argsort(t.id[reads[hits]], kind="stable")][:MAX_REPORTED].tolist():
        other, r = t.ops[first[group[i]]], t.ops[reads[i]]
        assert r.read is not None
        value = r.read.version if token == "version" else r.read.updated_at
        out.append(
            Anomaly(
                "invariant:one-committed-state",
                r.entity,
                token,
                (other.id, r.id),
                f"{other.describe()} and {r.describe()} both read {token}={value} of entity {r.entity} but "
                f"saw different rows: the token does not identify one committed state.",
            )
        )
    return out


def check_invariants(
    ops: OpTable | Sequence[Operation], initial: Mapping[int, State], token: Token | None
) -> list[Anomaly]:
    table = ops if isinstance(ops, OpTable) else OpTable.of(ops)
    return reads_trace_to_writes(table, initial) + monotonic_reads(table) + one_committed_state(table, token)


def _shown(state: Mapping[str, Value]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in sorted(state.items()))
    return text if len(text) <= 160 else text[:157] + "..."


def check_declared(
    ops: OpTable | Sequence[Operation], final: Mapping[int, State], invariants: Mapping[str, Predicate]
) -> list[Anomaly]:
    """The scenario's own invariants (``Scenario(invariants={name: predicate})``), on every state a
    reader saw and on the final state: each state that breaks one is a ``broken-invariant`` finding.
    A predicate that raises is the check crashing (the verdict is unknown, never a pass)."""
    if not invariants:
        return []
    table = ops if isinstance(ops, OpTable) else OpTable.of(ops)
    t = table
    reads = np.flatnonzero(~t.writer & (t.read_state != NONE) & (t.type == OK))
    reads = reads[np.lexsort((t.id[reads], t.read_state[reads]))]
    first_reader: dict[int, int] = {}
    for row, sid in zip(reads.tolist(), t.read_state[reads].tolist(), strict=True):
        first_reader.setdefault(sid, row)  # each distinct state judged once, shown with its first reader
    out: list[Anomaly] = []
    for name, holds in invariants.items():
        broken: list[tuple[int, Anomaly]] = []
        for sid, row in first_reader.items():
            state = t.states[sid].state
            if not _holds(name, holds, state):
                op = t.ops[row]
                text = f"{op.describe()} read {_shown(state)} at {seconds(op.end)}: the invariant {name!r} is broken."
                broken.append((op.id, Anomaly("broken-invariant", op.entity, None, (op.id,), text)))
        for entity, state in sorted(final.items()):
            if not _holds(name, holds, state):
                text = f"the final state of entity {entity} is {_shown(state)}: the invariant {name!r} is broken."
                broken.append((NEVER, Anomaly("broken-invariant", entity, None, (), text)))
        out += [a for _, a in sorted(broken, key=lambda x: x[0])][:MAX_REPORTED]
    return out


def _holds(name: str, predicate: Predicate, state: Mapping[str, Value]) -> bool:
    try:
        return bool(predicate(state))
    except Exception as exc:
        raise RuntimeError(f"the invariant {name!r} raised {type(exc).__name__}: {exc}") from exc


__all__ = ["Predicate", "Token", "check_declared", "check_invariants"]
