"""The stale-write and removed-child witnesses, one operation at a time: the specification that
``race_harness.checkers.witnesses`` computes with columns. Same rules, same evidence, same order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from race_harness.checkers.result import Anomaly
from race_harness.events import Operation
from race_harness.model import State, Value, is_kv
from tests.reference_checker.index import HistoryIndex

MAX_DETAILED = 200


def seconds(ns: int | None) -> str:
    return "never" if ns is None else f"{ns / 1e9:.4f} s"


def _label(fld: str) -> str:
    return f"key {fld[3:]!r}" if is_kv(fld) else fld


def _quoted(op: Operation, fld: str) -> str:
    statement = op.statements.get(fld)
    return f" (its statement: {statement})" if statement else ""


def _end(op: Operation) -> float:
    return float("inf") if op.end is None else op.end


def _setters(ops: Sequence[Operation], entity: int, fld: str) -> list[Operation]:
    """Acknowledged writes whose intent set the field, in order of acknowledgement (then invocation)."""
    found = [
        o
        for o in ops
        if o.role == "writer" and o.intent and o.type == "ok" and o.entity == entity and fld in o.intent.sets
    ]
    return sorted(found, key=lambda o: (_end(o), o.id))


def _latest_max(candidates: list[Operation], key: Mapping[int, float]) -> Operation | None:
    """The candidate with the largest ``key``, the latest of them on a tie."""
    best: Operation | None = None
    for o in candidates:
        if best is None or key[o.id] >= key[best.id]:
            best = o
    return best


def stale_writes(
    ops: Sequence[Operation], initial: Mapping[int, State], index: HistoryIndex
) -> tuple[list[Anomaly], set[int], dict[tuple[int, str], set[int]]]:
    """(anomalies, register writes shown lost, per counter the increments shown lost), by op id."""
    counters = index.counters
    found: list[tuple[str, Operation, str, Operation]] = []
    for c in ops:
        if not (c.role == "writer" and c.intent and c.type == "ok" and c.write_at is not None):
            continue
        for fld, value in c.written.items():
            if fld in c.intent.sets:
                continue
            if value is None:
                w = _removed(ops, c, fld)
                if w is not None:
                    found.append(("removed-child", c, fld, w))
            elif (c.entity, fld) in counters:
                w = _counter(ops, c, fld, value)
                if w is not None:
                    found.append(("stale-write", c, fld, w))
            else:
                w = _register(ops, c, fld, value, initial, index)
                if w is not None:
                    found.append(("stale-write", c, fld, w))
    found.sort(key=lambda x: (x[1].id, x[2]))
    anomalies: list[Anomaly] = []
    lost: set[int] = set()
    counter_lost: dict[tuple[int, str], set[int]] = {}
    for kind, c, fld, w in found:
        if (c.entity, fld) in counters:
            counter_lost.setdefault((c.entity, fld), set()).add(w.id)
        else:
            lost.add(w.id)
        if len(anomalies) < MAX_DETAILED:
            anomalies.append(_explain(kind, c, fld, w, counters, index))
    return anomalies, lost, counter_lost


def _register(
    ops: Sequence[Operation], c: Operation, fld: str, value: Value, initial: Mapping[int, State], index: HistoryIndex
) -> Operation | None:
    producer = index.by_value.get((c.entity, fld, value))
    if producer is None and initial.get(c.entity, {}).get(fld) != value:
        return None  # a value nobody set: unexplained, not judged here
    before = -1.0 if producer is None else _end(producer)
    assert c.write_at is not None
    earlier = [w for w in _setters(ops, c.entity, fld) if _end(w) < c.write_at]
    w = _latest_max(earlier, {o.id: o.start for o in earlier})
    return w if w is not None and w.start > before else None


def _removed(ops: Sequence[Operation], c: Operation, fld: str) -> Operation | None:
    assert c.intent is not None and c.write_at is not None
    if not is_kv(fld) or c.intent.replace_children or fld in c.intent.removes:
        return None
    earlier = [w for w in _setters(ops, c.entity, fld) if _end(w) < c.write_at]
    return earlier[-1] if earlier else None


def _lower(o: Operation) -> int:
    return o.write_at if o.write_at is not None else o.start


def _counter(ops: Sequence[Operation], c: Operation, fld: str, value: Value) -> Operation | None:
    if c.read_at is None or c.read is None or fld not in c.read.state:
        return None
    read = c.read.state[fld]
    assert c.write_at is not None
    if value == read:
        return None
    stored = [o for o in ops if o.role == "writer" and o.type != "fail" and o.entity == c.entity and fld in o.written]
    candidates = sorted((o for o in stored if o.type == "ok"), key=lambda o: (_end(o), o.id))
    earlier = [w for w in candidates if _end(w) < c.write_at]
    w = _latest_max(earlier, {o.id: _lower(o) for o in earlier})
    if w is None or _lower(w) <= c.read_at or w.written[fld] == read:
        return None
    unknown = [
        o
        for o in ops
        if o.role == "writer"
        and o.intent
        and fld in o.intent.increments
        and o.type != "fail"
        and o.entity == c.entity
        and o not in stored
    ]
    could = [o for o in stored if o.written[fld] == read] + unknown
    if any(o.id != c.id and _end(o) > _lower(w) and _lower(o) < _end(c) for o in could):
        return None
    return w


def _explain(
    kind: str, c: Operation, fld: str, w: Operation, counters: set[tuple[int, str]], index: HistoryIndex
) -> Anomaly:
    label = _label(fld)
    if kind == "removed-child":
        text = (
            f"{c.describe()} deleted {label}, which its request did not ask to remove, at {seconds(c.write_at)}"
            f"{_quoted(c, fld)}, after {w.describe()} had added it and been acknowledged at {seconds(w.end)}: "
            f"op {w.id}'s write is lost."
        )
    elif (c.entity, fld) in counters:
        read = c.read.state.get(fld) if c.read else None
        text = (
            f"{c.describe()} read {label} = {read!r} (its read returned at {seconds(c.read_at)}) and stored "
            f"{c.written.get(fld)!r} at {seconds(c.write_at)}{_quoted(c, fld)}; in between {w.describe()} "
            f"stored {w.written.get(fld)!r} and was acknowledged at {seconds(w.end)}, and no write that could "
            f"have committed after it put {read!r} back: op {c.id} computed its value from a stale read, "
            f"op {w.id}'s change is lost."
        )
    else:
        stored = c.written.get(fld)
        producer = index.by_value.get((c.entity, fld, stored)) if stored is not None else None
        source = "the initial value" if producer is None else f"the value {producer.describe()} set"
        text = (
            f"{c.describe()} stored {label} = {stored!r}, {source}, at {seconds(c.write_at)}{_quoted(c, fld)}, "
            f"after {w.describe()} had set {label} = {w.intent.sets[fld] if w.intent else None!r} and been "
            f"acknowledged at {seconds(w.end)}: a write-back from a read older than op {w.id}'s write "
            f"overwrote it; op {w.id}'s write is lost."
        )
    return Anomaly(kind, c.entity, fld, (w.id, c.id), text)
