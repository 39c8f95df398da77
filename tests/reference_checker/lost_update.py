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

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from race_harness.checkers.result import Anomaly
from race_harness.events import Operation
from race_harness.model import State, Value, is_kv
from tests.reference_checker.index import HistoryIndex, ValueKey
from tests.reference_checker.witnesses import stale_writes

INITIAL = -1  # producer id of a value that comes from the initial state
MAX_DETAILED_PAIRS = 200  # same-read pairs explained one by one; the rest are only counted


@dataclass(frozen=True)
class LostUpdateFindings:
    anomalies: list[Anomaly]
    lost_writes: int
    acknowledged: int


def seconds(ns: int | None) -> str:
    return "never" if ns is None else f"{ns / 1e9:.4f} s"


def _name(entity: int, fld: str) -> str:
    return f"metadata key {fld[3:]!r} of entity {entity}" if is_kv(fld) else f"{fld} of entity {entity}"


class _Producers:
    """Maps (entity, field, value) to the write whose intent set that value."""

    def __init__(self, by_value: Mapping[ValueKey, Operation], initial: Mapping[int, State]) -> None:
        self._by_value = by_value
        self._initial = initial

    def producer(self, entity: int, fld: str, value: Value) -> Operation | int | None:
        """The write that set ``value``; ``INITIAL`` for the initial value; None if nobody did."""
        op = self._by_value.get((entity, fld, value))
        if op is not None:
            return op
        if self._initial.get(entity, {}).get(fld) == value:
            return INITIAL
        return None


class _Index:
    """Per (entity, field): the writes that stored it and the writes whose intent removes it."""

    def __init__(self, ops: Sequence[Operation]) -> None:
        # keyed by the stored value too: finding who stored one value is then a lookup, not a scan of
        # every write of the field (which made explaining many losses quadratic)
        self.stored: dict[tuple[int, str, Value | None], list[Operation]] = defaultdict(list)
        self.removers: dict[int, list[Operation]] = defaultdict(list)
        for op in ops:
            if op.role != "writer" or op.type == "fail":
                continue
            for fld, value in op.written.items():
                self.stored[(op.entity, fld, value)].append(op)
            if op.intent is not None and (op.intent.removes or op.intent.replace_children):
                self.removers[op.entity].append(op)

    def clobberer(self, entity: int, fld: str, value: Value | None, w: Operation) -> Operation | None:
        """The write that stored ``value`` (None: deleted) over ``w``'s.

        Preferably the first one that read before ``w`` was acknowledged and completed after it: it
        wrote from a state that did not have ``w``'s change. Otherwise the last one that stored it.
        """
        stored = [op for op in self.stored[(entity, fld, value)] if op.id != w.id and not op.completed_before(w)]
        w_end = w.end if w.end is not None else math.inf

        def end(o: Operation) -> float:
            return math.inf if o.end is None else o.end

        racing = [op for op in stored if op.start < w_end < end(op)]
        if racing:
            return min(racing, key=end)
        return max(stored, key=end, default=None)

    def legally_removed(self, w: Operation, fld: str) -> bool:
        """Some write that could be serialized after ``w`` meant to remove ``fld``."""
        for r in self.removers[w.entity]:
            assert r.intent is not None
            removes = fld in r.intent.removes or (r.intent.replace_children and fld not in r.intent.sets)
            if r.id != w.id and removes and not r.completed_before(w):
                return True
        return False


def _label(fld: str) -> str:
    return f"key {fld[3:]!r}" if is_kv(fld) else fld


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
    ops: Sequence[Operation],
    initial: Mapping[int, State],
    final: Mapping[int, State],
    history: HistoryIndex,
) -> tuple[list[Anomaly], set[int]]:
    counters = history.counters
    producers = _Producers(history.by_value, initial)
    index = _Index(ops)
    anomalies: list[Anomaly] = []
    lost_ops: set[int] = set()
    for w in ops:
        if not (w.role == "writer" and w.type == "ok" and w.intent is not None):
            continue
        end_state = final.get(w.entity, {})
        for fld, value in w.intent.sets.items():
            if (w.entity, fld) in counters:
                continue
            present = fld in end_state
            current = end_state.get(fld)
            if present and current == value:
                continue
            producer: Operation | int | None = None
            if present:
                assert current is not None
                producer = producers.producer(w.entity, fld, current)
                if producer is None:
                    anomalies.append(
                        Anomaly(
                            "unexplained-value",
                            w.entity,
                            fld,
                            (w.id,),
                            f"the final {_name(w.entity, fld)} is {current!r}, which no write set "
                            f"and the initial state did not hold",
                        )
                    )
                    continue
                if isinstance(producer, Operation) and not producer.completed_before(w):
                    continue  # concurrent with W: it may legally have been serialized after W
            elif index.legally_removed(w, fld):
                continue  # removed by a write that could legally follow W
            clobberer = index.clobberer(w.entity, fld, current, w)
            lost_ops.add(w.id)
            anomalies.append(
                Anomaly(
                    "lost-update",
                    w.entity,
                    fld,
                    (w.id,) + ((clobberer.id,) if clobberer else ()),
                    _explain_lost(w, fld, current if present else None, producer, clobberer),
                )
            )
    return anomalies, lost_ops


def _up_to(sign: int, below_high: int, above_low: int) -> str:
    if sign > 0:
        return f"up to {below_high} "
    return f"up to {above_low} " if sign < 0 else ""


def _counter_findings(
    ops: Sequence[Operation],
    initial: Mapping[int, State],
    final: Mapping[int, State],
    signs: Mapping[tuple[int, str], int],
) -> tuple[list[Anomaly], dict[tuple[int, str], int], int]:
    """Counters by sum, in either direction (see the columnar checker's docstring)."""
    anomalies: list[Anomaly] = []
    lost: dict[tuple[int, str], int] = {}
    acknowledged = 0
    for entity, fld in sorted(signs):
        want = up = down = size = 0
        for op in ops:
            if op.role == "writer" and op.entity == entity and op.intent and fld in op.intent.increments:
                delta = op.intent.increments[fld]
                if op.type == "ok":
                    want += delta
                    size += abs(delta)
                elif op.type == "info":
                    if delta > 0:
                        up += delta
                    else:
                        down += delta
        sign = signs[(entity, fld)]
        acknowledged += size
        start = int(initial.get(entity, {}).get(fld, 0))
        end = int(final.get(entity, {}).get(fld, 0))
        moved = end - start
        changes = "increments" if sign > 0 else "decrements" if sign < 0 else "increments and decrements"
        head = (
            f"{_name(entity, fld)} went from {start} to {end} ({moved:+d}) but the acknowledged {changes} "
            f"add up to {want:+d}"
        )
        unknown = f", those of unknown outcome to {up:+d} / {down:+d}" if up or down else ""
        low, high = want + down, want + up
        if low <= moved <= high:
            proven = not (up or down) or (sign > 0 and moved == high) or (sign < 0 and moved == low)
            if not proven:
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
        if sign == 0 or (sign > 0) == (moved < low):
            lost[(entity, fld)] = missing
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


def _derived(op: Operation) -> set[str]:
    """Fields this write stored with a value computed from its read rather than given by its intent."""
    assert op.intent is not None
    own = set(op.intent.sets) | (op.intent.removed_children(op.read.state) if op.read else set())
    return {f for f in op.written if f not in own}


def _clobbered(a: Operation, b: Operation, both_ways: set[str]) -> list[str]:
    """Each wrote from the read what the other changed, or one deleted a row the other added."""
    assert a.read is not None
    read = a.read.state
    ca = {f for f, v in a.written.items() if read.get(f) != v and f not in both_ways}
    cb = {f for f, v in b.written.items() if read.get(f) != v and f not in both_ways}
    one, other = _derived(a) & cb, _derived(b) & ca
    if one and other:
        return sorted(one | other)
    gone_a = {f for f in _derived(a) if a.written[f] is None and f not in read and f in cb}
    gone_b = {f for f in _derived(b) if b.written[f] is None and f not in read and f in ca}
    return sorted(gone_a | gone_b)


def _same_read_overwrites(history: HistoryIndex) -> list[Anomaly]:
    anomalies: list[Anomaly] = []
    both_ways = {k for k, sign in history.counter_signs.items() if sign == 0}
    for shared_group in history.same_read_groups:
        group = sorted(shared_group, key=lambda o: o.end or 0)  # the index's lists are shared: no in-place sort
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.intent is None or b.intent is None:
                    continue
                clobbered = _clobbered(a, b, {f for e, f in both_ways if e == a.entity})
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


def check_lost_updates(
    ops: Sequence[Operation],
    initial: Mapping[int, State],
    final: Mapping[int, State],
    index: HistoryIndex | None = None,
) -> LostUpdateFindings:
    history = index or HistoryIndex(ops)
    counters = history.counters
    anomalies, lost_ops = _register_losses(ops, initial, final, history)
    counter_anomalies, counter_lost, counter_acked = _counter_findings(ops, initial, final, history.counter_signs)
    witnessed, witnessed_lost, counter_witnessed = stale_writes(ops, initial, history)
    anomalies += counter_anomalies
    anomalies += witnessed
    anomalies += _same_read_overwrites(history)
    anomalies += _failed_writes_applied(history.by_value, final)
    register_acked = sum(
        1
        for op in ops
        if op.role == "writer"
        and op.type == "ok"
        and op.intent
        and any((op.entity, f) not in counters for f in op.intent.sets)
    )
    by_id = {op.id: op for op in ops}
    for key, ids in counter_witnessed.items():
        shown = sum(abs(by_id[i].intent.increments[key[1]]) for i in ids)  # type: ignore[union-attr]
        counter_lost[key] = max(counter_lost.get(key, 0), shown)
    lost = len(lost_ops | witnessed_lost) + sum(counter_lost.values())
    return LostUpdateFindings(anomalies, lost, register_acked + counter_acked)


def _failed_writes_applied(by_value: Mapping[ValueKey, Operation], final: Mapping[int, State]) -> list[Anomaly]:
    out = []
    for entity, state in final.items():
        for fld, value in state.items():
            failed = by_value.get((entity, fld, value))
            if failed is not None and failed.type == "fail":
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


def lost_kinds() -> frozenset[str]:
    """Anomaly kinds that mean an update was lost."""
    return frozenset({"lost-update", "counter-lost", "same-read-overwrite", "stale-write", "removed-child"})


def failing_kinds() -> frozenset[str]:
    return lost_kinds() | {"counter-duplicated", "broken-invariant"}


__all__ = ["INITIAL", "LostUpdateFindings", "check_lost_updates", "failing_kinds", "lost_kinds"]
