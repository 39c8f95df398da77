"""The lost-update oracle: pure functions over operations, initial state and final state.

Every write carries values unique to it, so each stored value names the write that produced it.
An acknowledged write W is *lost* on a field when

- the final value comes from a write that completed before W was invoked, or from the initial state
  (every serial order consistent with real time puts that write before W, so W's value or a later
  one would be final), or
- the field W set is gone and no write that could legally follow W (invoked before, or concurrent
  with, W's completion... i.e. not completed before W started) meant to remove it.

Counters (fields written by increments) carry no unique values; they are checked arithmetically.
A second, direct witness in Elle's style: two acknowledged writes that read the same version of an
entity and both wrote a field, at least one of them with a value derived from its read.
``info`` writes are never counted as lost, nor as applied unless a stored value proves they were.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from race_harness.checkers.result import LOST_KINDS, Anomaly
from race_harness.checkers.witnesses import label as _label
from race_harness.checkers.witnesses import seconds, stale_writes
from race_harness.events import Operation
from race_harness.model import State, Value, is_kv
from race_harness.optable import I64, Bool, OpTable, distinct
from race_harness.recorder import DERIVES, FAIL, INFO, NEVER, NONE, OK, REPLACES_CHILDREN, derived_fields

INITIAL = -1  # producer id of a value that comes from the initial state
MAX_DETAILED_PAIRS = 200  # same-read pairs explained one by one; the rest are only counted


@dataclass(frozen=True)
class LostUpdateFindings:
    anomalies: list[Anomaly]
    lost_writes: int
    acknowledged: int


def _name(entity: int, fld: str) -> str:
    return f"metadata key {fld[3:]!r} of entity {entity}" if is_kv(fld) else f"{fld} of entity {entity}"


class _Final:
    """Per field id: what the final state holds there and who produced it."""

    ABSENT, BY_WRITE, BY_INITIAL, UNEXPLAINED = 0, 1, 2, 3

    def __init__(self, table: OpTable, fields: I64, initial: Mapping[int, State], final: Mapping[int, State]) -> None:
        size = len(table.fields)
        self.kind = np.zeros(size, dtype=np.int8)
        self.key = np.full(size, NONE, dtype=np.int64)
        self.producer = np.full(size, NONE, dtype=np.int64)
        self.stored = np.full(size, NONE, dtype=np.int64)  # the value key a clobberer would have stored
        self.value: dict[int, Value] = {}
        for f in fields.tolist():
            entity, name = table.fields[f]
            end_state = final.get(entity, {})
            if name not in end_state:
                self.stored[f] = table.key_id(entity, name, None)
                continue
            current = self.value[f] = end_state[name]
            key = self.key[f] = self.stored[f] = table.key_id(entity, name, current)
            producer = table.producer[key] if key != NONE else NONE
            if producer != NONE:
                self.kind[f], self.producer[f] = self.BY_WRITE, producer
            elif initial.get(entity, {}).get(name) == current:
                self.kind[f] = self.BY_INITIAL
            else:
                self.kind[f] = self.UNEXPLAINED


def _legally_removed(table: OpTable, rows: I64, fields: I64) -> Bool:
    """Per (write, field it set that is gone): some write that could follow it meant to remove the field.

    A remover is a write not known to have failed whose intent removes the field, or replaces the
    children without setting it; it could follow W unless it completed before W was invoked. So per
    query: the latest end among the field's removers other than W, compared with W's start.
    """
    t = table
    eligible = t.intended_writes & (t.type != FAIL)
    latest = np.maximum(
        _latest_explicit_remover(t, eligible, rows, fields), _latest_replacing(t, eligible, rows, fields)
    )
    return latest >= t.start[rows]


def _latest_explicit_remover(t: OpTable, eligible: Bool, rows: I64, fields: I64) -> I64:
    """The latest end among writes other than ``rows`` whose intent removes ``fields`` (-1: none)."""
    out = np.full(len(rows), -1, dtype=np.int64)
    keep = eligible[t.rm_op]
    by, fld = t.rm_op[keep], t.rm_field[keep]
    if not len(by):
        return out
    order = np.lexsort((-t.end[by], fld))  # per field, latest end first
    by, fld = by[order], fld[order]
    first = np.full(len(t.fields), -1, dtype=np.int64)
    heads = np.flatnonzero(np.r_[True, fld[1:] != fld[:-1]])
    first[fld[heads]] = heads
    at = first[fields]
    for k in range(2):  # W itself can be at most one of them: the second one then answers
        pos = at + k
        ok = (at >= 0) & (pos < len(by))
        pos = np.where(ok, pos, 0)
        ok &= (fld[pos] == fields) & (by[pos] != rows) & (out == -1)
        out[ok] = t.end[by[pos[ok]]]
    return out


def _latest_replacing(t: OpTable, eligible: Bool, rows: I64, fields: I64) -> I64:
    """The latest end among writes that replace the children of ``fields``' entity without setting
    the field (-1: none). W itself sets the field, so it is never among them."""
    out = np.full(len(rows), -1, dtype=np.int64)
    by = np.flatnonzero(eligible & ((t.flags & REPLACES_CHILDREN) != 0))
    if not len(by):
        return out
    by = by[np.lexsort((-t.end[by], t.entity[by]))]  # per entity, latest end first
    entity = t.entity[by]
    heads = np.flatnonzero(np.r_[True, entity[1:] != entity[:-1]])
    query_entity = t.field_entity[fields]
    at = heads[np.clip(np.searchsorted(entity[heads], query_entity), 0, len(heads) - 1)]
    width = len(t.fields)
    setters = distinct(t.set_op * width + t.set_field)
    todo = np.flatnonzero(entity[at] == query_entity)
    k = 0
    # walk down each entity's list past the writes that set the field: a few steps at most
    while len(todo):
        pos = at[todo] + k
        inside = pos < len(by)
        todo, pos = todo[inside], pos[inside]
        candidate = by[pos]
        inside = entity[pos] == query_entity[todo]
        todo, candidate = todo[inside], candidate[inside]
        skip = np.isin(candidate * width + fields[todo], setters)
        out[todo[~skip]] = t.end[candidate[~skip]]
        todo = todo[skip]
        k += 1
    return out


class _Stored:
    """Who stored each of some value keys (a deletion is the value None): for explaining lost writes."""

    def __init__(self, table: OpTable, keys: I64) -> None:
        self.table = table
        t = table
        keep = np.isin(t.wr_key, keys) & t.writer[t.wr_op] & (t.type[t.wr_op] != FAIL)
        code, rows = t.wr_key[keep], t.wr_op[keep]
        order = np.lexsort((t.id[rows], code))
        self.code, self.rows = code[order], rows[order]

    def clobberer(self, key: int, w: int) -> int:
        """The row that stored value ``key`` over row ``w``'s write, or NONE.

        Preferably the first one that read before ``w`` was acknowledged and completed after it: it
        wrote from a state that did not have ``w``'s change. Otherwise the last one that stored it.
        """
        t = self.table
        if key == NONE:  # no write stored it (the initial value, never written back)
            return NONE
        lo, hi = np.searchsorted(self.code, [key, key + 1], side="left")
        stored = self.rows[lo:hi]
        stored = stored[(t.id[stored] != t.id[w]) & (t.end[stored] >= t.start[w])]  # not completed before w
        if not len(stored):
            return NONE
        ends, w_end = t.end[stored], t.end[w]
        racing = (t.start[stored] < w_end) & (w_end < ends)
        if racing.any():
            return int(stored[racing][np.argmin(ends[racing])])
        return int(stored[np.argmax(ends)])


def _explain_lost(
    w: Operation, fld: str, final: Value | None, producer: Operation | int | None, clobberer: Operation | None
) -> str:
    mine = w.intent.sets[fld] if w.intent else None
    fld = _label(fld)
    head = f"{w.describe()} set {fld} = {mine!r}, invoked at {seconds(w.start)} and acknowledged at {seconds(w.end)}"
    if final is None:
        tail = f"; the final state has no {fld} and no write that could follow it meant to remove it"
    elif producer == INITIAL:
        tail = f"; the final {fld} is {final!r}, the initial value"
    elif isinstance(producer, Operation):
        tail = (
            f"; the final {fld} is {final!r}, set by {producer.describe()} which completed at "
            f"{seconds(producer.end)}, before op {w.id} was invoked"
        )
    else:
        tail = f"; the final {fld} is {final!r}"
    if clobberer is not None and clobberer is not producer:
        read_at = f"having read the entity at {seconds(clobberer.start)}"
        action = "deleted it" if final is None else f"wrote back {final!r}"
        tail += f"; {clobberer.describe()}, {read_at}, {action} when it completed at {seconds(clobberer.end)}"
    return head + tail + f": op {w.id}'s write is lost."


def _register_losses(
    table: OpTable, initial: Mapping[int, State], final: Mapping[int, State]
) -> tuple[list[Anomaly], I64, int]:
    """Anomalies (lost-update, unexplained-value), the rows of lost writes, and the acknowledged count."""
    t = table
    entry = t.intended_writes[t.set_op] & (t.type[t.set_op] == OK) & ~t.summed[t.set_field]
    rows, fields, keys = t.set_op[entry], t.set_field[entry], t.set_key[entry]
    acknowledged = len(distinct(rows))
    if not acknowledged:
        return [], rows, 0
    fin = _Final(t, distinct(fields), initial, final)
    kind = fin.kind[fields]
    differs = keys != fin.key[fields]
    producer = fin.producer[fields]
    producer_end = t.end[np.maximum(producer, 0)]
    lost = differs & ((kind == _Final.BY_INITIAL) | ((kind == _Final.BY_WRITE) & (producer_end < t.start[rows])))
    gone = kind == _Final.ABSENT
    if gone.any():
        lost[gone] = ~_legally_removed(t, rows[gone], fields[gone])
    unexplained = differs & (kind == _Final.UNEXPLAINED)
    report = np.flatnonzero(lost | unexplained)
    report = report[np.lexsort((report, t.id[rows[report]]))]  # in invocation order, then set order
    anomalies: list[Anomaly] = []
    stored = _Stored(t, distinct(fin.stored[fields[lost]])) if lost.any() else None
    for i in report.tolist():
        row, f = int(rows[i]), int(fields[i])
        w = t.ops[row]
        entity, name = t.fields[f]
        if unexplained[i]:
            anomalies.append(
                Anomaly(
                    "unexplained-value",
                    entity,
                    name,
                    (w.id,),
                    f"the final {_name(entity, name)} is {fin.value[f]!r}, which no write set "
                    f"and the initial state did not hold",
                )
            )
            continue
        assert stored is not None
        clobberer_row = stored.clobberer(int(fin.stored[f]), row)
        clobberer = t.ops[clobberer_row] if clobberer_row != NONE else None
        prod: Operation | int | None = None
        if kind[i] == _Final.BY_WRITE:
            prod = t.ops[int(producer[i])]
        elif kind[i] == _Final.BY_INITIAL:
            prod = INITIAL
        anomalies.append(
            Anomaly(
                "lost-update",
                entity,
                name,
                (w.id,) + ((clobberer.id,) if clobberer else ()),
                _explain_lost(w, name, fin.value.get(f), prod, clobberer),
            )
        )
    return anomalies, distinct(rows[lost]), acknowledged


def _counter_findings(
    table: OpTable, initial: Mapping[int, State], final: Mapping[int, State]
) -> tuple[list[Anomaly], dict[int, int], int]:
    """Counters checked by sum, in either direction: the acknowledged changes (increments and
    decrements alike) must add up to how far the counter moved, give or take the changes of unknown
    outcome. Returns the anomalies, per counter field the lost amount, and the acknowledged amount
    (each change counted by its size)."""
    t = table
    anomalies: list[Anomaly] = []
    lost: dict[int, int] = {}
    acknowledged = 0
    mine = t.intended_writes[t.inc_op]
    kind = t.type[t.inc_op]
    fields, deltas = t.inc_field, t.inc_delta
    width = len(t.fields)
    acked = np.zeros(width, dtype=np.int64)
    size = np.zeros(width, dtype=np.int64)
    unknown_up = np.zeros(width, dtype=np.int64)
    unknown_down = np.zeros(width, dtype=np.int64)
    ok, info = mine & (kind == OK), mine & (kind == INFO)
    np.add.at(acked, fields[ok], deltas[ok])
    np.add.at(size, fields[ok], np.abs(deltas[ok]))
    np.add.at(unknown_up, fields[info & (deltas > 0)], deltas[info & (deltas > 0)])
    np.add.at(unknown_down, fields[info & (deltas < 0)], deltas[info & (deltas < 0)])
    signs = t.counter_sign
    for f in sorted(np.flatnonzero(t.summed).tolist(), key=lambda f: t.fields[f]):
        entity, fld = t.fields[f]
        want, up, down, sign = int(acked[f]), int(unknown_up[f]), int(unknown_down[f]), int(signs[f])
        acknowledged += int(size[f])
        start = int(initial.get(entity, {}).get(fld, 0))
        end = int(final.get(entity, {}).get(fld, 0))
        moved = end - start
        what = _name(entity, fld)
        changes = "increments" if sign > 0 else "decrements" if sign < 0 else "increments and decrements"
        head = f"{what} went from {start} to {end} ({moved:+d}) but the acknowledged {changes} add up to {want:+d}"
        unknown = f", those of unknown outcome to {up:+d} / {down:+d}" if up or down else ""
        low, high = want + down, want + up  # where it may end if nothing was lost or applied twice
        if low <= moved <= high:
            proven = not (up or down) or (sign > 0 and moved == high) or (sign < 0 and moved == low)
            if not proven:
                # an unknown-outcome change that committed can stand in for an acknowledged one that
                # was lost: only the counter moving by every change there was proves nothing was lost
                anomalies.append(
                    Anomaly(
                        "counter-undecided",
                        entity,
                        fld,
                        (),
                        f"{head}{unknown}: {_up_to(sign, high - moved, moved - low)}acknowledged {changes} may be "
                        "lost behind unknown ones that committed: undecided.",
                    )
                )
            continue
        missing = low - moved if moved < low else moved - high
        if sign == 0 or (sign > 0) == (moved < low):  # short of what was acknowledged: changes are gone
            lost[f] = missing
            anomalies.append(
                Anomaly(
                    "counter-lost",
                    entity,
                    fld,
                    (),
                    f"{head}{unknown}: acknowledged {changes} worth {missing} are lost"
                    + (" (or others were applied twice)" if sign == 0 else "")
                    + ".",
                )
            )
        else:
            anomalies.append(
                Anomaly(
                    "counter-duplicated",
                    entity,
                    fld,
                    (),
                    f"{head}{unknown}: it moved {missing} further than every change that may have committed, so "
                    "some were applied twice.",
                )
            )
    return anomalies, lost, acknowledged


def _up_to(sign: int, below_high: int, above_low: int) -> str:
    """How many acknowledged changes an undecided counter may hide, where the direction says."""
    if sign > 0:
        return f"up to {below_high} "
    return f"up to {above_low} " if sign < 0 else ""


def _clobbered(a: Operation, b: Operation, both_ways: set[str]) -> list[str]:
    """Fields through which one of two writes that read the same state overwrote the other's change.

    Each wrote, from the read (beyond its own intent), a field the other changed: whichever committed
    second undid the other's change, whatever the order. Or one deleted a child row the other added
    (absent from their common read): it came second, so the row is gone. A counter changed both
    ways is left out: it can hold one value in two versions, so the same value proves no same read."""
    assert a.read is not None
    read = a.read.state

    def changed(x: Operation) -> set[str]:
        return {f for f, v in x.written.items() if read.get(f) != v and f not in both_ways}

    def removed_new(x: Operation, y_changed: set[str]) -> set[str]:
        return {f for f in derived_fields(x) if x.written[f] is None and f not in read and f in y_changed}

    ca, cb = changed(a), changed(b)
    one, other = derived_fields(a) & cb, derived_fields(b) & ca
    if one and other:
        return sorted(one | other)
    return sorted(removed_new(a, cb) | removed_new(b, ca))


def _same_read_overwrites(table: OpTable) -> list[Anomaly]:
    t = table
    candidates = np.flatnonzero(t.writer & (t.type == OK) & (t.read_state != NONE))
    if not len(candidates):
        return []
    state = t.read_state[candidates]
    sizes = np.bincount(state)
    shared = candidates[sizes[state] > 1]
    # only a write that derived a value from its read can clobber: groups without one need no look
    suspicious = np.zeros(len(sizes), dtype=bool)
    with_derived = shared[(t.flags[shared] & DERIVES) != 0]  # set only for writes with an intent
    suspicious[t.read_state[with_derived]] = True
    shared = shared[suspicious[t.read_state[shared]]]
    if not len(shared):
        return []
    # groups in order of their first invocation, members by completion (as they were written)
    first = np.full(len(sizes), NEVER, dtype=np.int64)
    np.minimum.at(first, t.read_state[shared], t.id[shared])
    shared = shared[np.lexsort((t.id[shared], t.end[shared], first[t.read_state[shared]]))]
    anomalies: list[Anomaly] = []
    both_ways: defaultdict[int, set[str]] = defaultdict(set)  # per entity: its counters changed both ways
    for f in np.flatnonzero(t.summed & (t.counter_sign == 0)).tolist():
        entity, name = t.fields[f]
        both_ways[entity].add(name)
    bounds = [0, *(np.flatnonzero(np.diff(t.read_state[shared])) + 1).tolist(), len(shared)]
    for lo, hi in itertools.pairwise(bounds):  # lazily: the cap usually stops it early
        group = [t.ops[r] for r in shared[lo:hi].tolist()]
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.intent is None or b.intent is None:
                    continue
                clobbered = _clobbered(a, b, both_ways[a.entity])
                if not clobbered:
                    continue
                if len(anomalies) >= MAX_DETAILED_PAIRS:
                    return anomalies
                assert a.read is not None
                anomalies.append(
                    Anomaly(
                        "same-read-overwrite",
                        a.entity,
                        clobbered[0],
                        (a.id, b.id),
                        f"{a.describe()} and {b.describe()} both read the same state of entity {a.entity}"
                        f"{f' (version {a.read.version})' if a.read.version else ''}, both were acknowledged, and "
                        f"each wrote back, from that read, what the other changed ({', '.join(clobbered)}): "
                        f"whichever committed second overwrote the other's change without seeing it.",
                    )
                )
    return anomalies


def _failed_writes_applied(table: OpTable, final: Mapping[int, State]) -> list[Anomaly]:
    out = []
    for entity, state in final.items():
        for fld, value in state.items():
            key = table.key_id(entity, fld, value)
            row = int(table.producer[key]) if key != NONE else NONE
            if row != NONE and table.type[row] == FAIL:
                failed = table.ops[row]
                out.append(
                    Anomaly(
                        "failed-write-applied",
                        entity,
                        fld,
                        (failed.id,),
                        f"{failed.describe()} was reported as definitely not applied ({failed.reason}), "
                        f"yet the final {fld} is its value {value!r}.",
                    )
                )
    return out


def check_lost_updates(
    ops: OpTable | Sequence[Operation], initial: Mapping[int, State], final: Mapping[int, State]
) -> LostUpdateFindings:
    table = ops if isinstance(ops, OpTable) else OpTable.of(ops)
    anomalies, lost_rows, register_acked = _register_losses(table, initial, final)
    counter_anomalies, counter_lost, counter_acked = _counter_findings(table, initial, final)
    witnessed = stale_writes(table, initial)
    anomalies += counter_anomalies
    anomalies += witnessed.anomalies
    anomalies += _same_read_overwrites(table)
    anomalies += _failed_writes_applied(table, final)
    lost = len(distinct(np.concatenate([lost_rows, witnessed.lost_rows])))
    for f, rows in witnessed.counter_lost.items():  # each overwritten change by its size
        shown = int(np.abs(table.inc_delta[np.isin(table.inc_op, rows) & (table.inc_field == f)]).sum())
        counter_lost[f] = max(counter_lost.get(f, 0), shown)
    return LostUpdateFindings(anomalies, lost + sum(counter_lost.values()), register_acked + counter_acked)


def lost_kinds() -> frozenset[str]:
    """Anomaly kinds that mean an update was lost."""
    return LOST_KINDS


__all__ = ["INITIAL", "LostUpdateFindings", "check_lost_updates", "lost_kinds"]
