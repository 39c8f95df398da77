"""Direct witnesses of a lost update in what each write stored, whatever the final state says.

The final state shows only the last overwrite: a stale write-back that a later write covered leaves
no trace there. These witnesses read what each acknowledged write stored (its write-set: a bundled
strategy reports it, an application call's own statements show it, :mod:`race_harness.witness`) and
when it went out (``write_at``):

- ``stale-write`` (a register: values unique to the writes that set them): write C stored, in a field
  its intent did not set, the value that write P set (or the initial one), after write W, which set
  the field and was invoked after P completed, had been acknowledged. W's version of the field came
  after P's, and C's write went out after W's commit: C overwrote W's change with a value from a read
  older than W.
- ``stale-write`` (a counter: values not unique): C stored a value computed from what it read, r,
  after an acknowledged W whose commit began after C's read returned had stored something else, and
  no write that may have committed between W and C's write stored r again (nor something unknown):
  the counter no longer held r, so W's change is gone.
- ``removed-child``: C deleted a child row its intent did not remove, after the acknowledged write
  that added it had completed.

Each is a cycle in Adya's terms (C read a version before W's, and overwrote W's), so no serial order
explains it. Only writes whose time of writing is known are judged (an application call's, a stress
run's); a history without it gets the final-state and same-read witnesses alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from race_harness.checkers.result import Anomaly
from race_harness.events import Operation
from race_harness.model import State, Value, is_kv
from race_harness.optable import I64, OpTable, distinct
from race_harness.recorder import FAIL, NONE, OK, REPLACES_CHILDREN

MAX_DETAILED = 200  # witnesses explained one by one; the rest only counted


@dataclass(frozen=True)
class Witnessed:
    anomalies: list[Anomaly]
    lost_rows: I64  # register and child writes shown lost (rows), distinct
    counter_lost: dict[int, I64]  # counter field -> rows of increments shown lost


def seconds(ns: int | None) -> str:
    return "never" if ns is None else f"{ns / 1e9:.4f} s"


def label(fld: str) -> str:
    """A field as evidence names it: ``key 'k'`` for a child row, else the column."""
    return f"key {fld[3:]!r}" if is_kv(fld) else fld


def _quoted(op: Operation, fld: str) -> str:
    statement = op.statements.get(fld)
    return f" (its statement: {statement})" if statement else ""


class _ByField:
    """Rows grouped per field id, each group in order of ``order`` (then ``tiebreak``): lookups by field."""

    def __init__(self, rows: I64, fields: I64, order: I64, tiebreak: I64) -> None:
        sort = np.lexsort((tiebreak, order, fields))
        self.rows, fields = rows[sort], fields[sort]
        self.bounds: dict[int, tuple[int, int]] = {}
        if len(fields):
            heads = np.flatnonzero(np.r_[True, fields[1:] != fields[:-1]])
            ends = np.r_[heads[1:], len(fields)]
            self.bounds = dict(
                zip(fields[heads].tolist(), zip(heads.tolist(), ends.tolist(), strict=True), strict=True)
            )

    def of(self, f: int) -> I64:
        lo, hi = self.bounds.get(f, (0, 0))
        return self.rows[lo:hi]


def _running_max(values: I64) -> tuple[I64, I64]:
    """The running maximum of ``values`` and, per position, the latest index that attains it."""
    top = np.maximum.accumulate(values)
    index = np.maximum.accumulate(np.where(values == top, np.arange(len(values)), 0))
    return top, index


def _derived_entries(t: OpTable) -> tuple[I64, I64, I64]:
    """(row, field, value key) of what acknowledged writes with a known time of writing stored in a
    field their intent did not set."""
    acked = t.intended_writes & (t.type == OK) & (t.write_at != NONE)
    keep = acked[t.wr_op]
    rows, fields, keys = t.wr_op[keep], t.wr_field[keep], t.wr_key[keep]
    width = max(len(t.fields), 1)
    own = np.isin(rows * width + fields, t.set_op * width + t.set_field)
    return rows[~own], fields[~own], keys[~own]


def _setters(t: OpTable) -> _ByField:
    """Per field, the acknowledged writes whose intent set it, in order of acknowledgement."""
    mine = t.intended_writes[t.set_op] & (t.type[t.set_op] == OK)
    rows = t.set_op[mine]
    return _ByField(rows, t.set_field[mine], t.end[rows], t.id[rows])  # ties by invocation: any order given


def _acked_before(t: OpTable, rows: I64, fields: I64) -> Iterator[tuple[int, I64, I64, I64]]:
    """Per field of the queries (write ``rows`` storing ``fields``): the acknowledged writes whose
    intent set it, in order of acknowledgement; the queries on it; and per query, how many of those
    were acknowledged before the query's write went out."""
    setters = _setters(t)
    for f in distinct(fields).tolist():
        candidates = setters.of(f)
        if len(candidates):
            mine = np.flatnonzero(fields == f)
            yield f, candidates, mine, np.searchsorted(t.end[candidates], t.write_at[rows[mine]], side="left")


def _register_stale(
    t: OpTable, initial: Mapping[int, State], entries: tuple[I64, I64, I64]
) -> list[tuple[int, int, int]]:
    """(C, field, W) per stale write-back of a register value."""
    rows, fields, keys = entries
    keep = ~t.summed[fields] & ~t.deletion[keys]
    rows, fields, keys = rows[keep], fields[keep], keys[keep]
    producer = t.producer[keys]
    from_initial = t.initial_keys(initial)[keys] & (producer == NONE)
    keep = (producer != NONE) | from_initial
    rows, fields, producer = rows[keep], fields[keep], producer[keep]
    before = np.where(producer != NONE, t.end[np.maximum(producer, 0)], -1)  # W must start after this
    found: list[tuple[int, int, int]] = []
    for f, candidates, mine, count in _acked_before(t, rows, fields):
        top, at = _running_max(t.start[candidates])
        last = np.maximum(count - 1, 0)
        for i in np.flatnonzero((count > 0) & (top[last] > before[mine])).tolist():
            found.append((int(rows[mine[i]]), f, int(candidates[at[last[i]]])))
    return found


def _removed_children(t: OpTable, entries: tuple[I64, I64, I64]) -> list[tuple[int, int, int]]:
    """(C, field, W) per child row C deleted unasked after W, which added it, was acknowledged."""
    rows, fields, keys = entries
    keep = t.deletion[keys] & t.kv[fields] & ((t.flags[rows] & REPLACES_CHILDREN) == 0)
    rows, fields = rows[keep], fields[keep]
    width = max(len(t.fields), 1)
    asked = np.isin(rows * width + fields, t.rm_op * width + t.rm_field)
    rows, fields = rows[~asked], fields[~asked]
    found: list[tuple[int, int, int]] = []
    for f, candidates, mine, count in _acked_before(t, rows, fields):
        for i in np.flatnonzero(count > 0).tolist():
            found.append((int(rows[mine[i]]), f, int(candidates[count[i] - 1])))
    return found


def _read_keys(t: OpTable, rows: I64, fields: I64) -> I64:
    """The value key each row's read state holds for the field, or NONE."""
    width = max(len(t.fields), 1)
    codes = t.st_state * width + t.st_field
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    query = np.where(t.read_state[rows] != NONE, t.read_state[rows] * width + fields, -1)
    at = np.clip(np.searchsorted(codes, query), 0, max(len(codes) - 1, 0))
    found = (len(codes) > 0) & (codes[at] == query) if len(codes) else np.zeros(len(rows), dtype=bool)
    return np.where(found, t.st_key[order][at] if len(codes) else NONE, NONE)


def _counter_stale(t: OpTable, entries: tuple[I64, I64, I64]) -> list[tuple[int, int, int]]:
    """(C, field, W) per counter value C computed from a read the counter no longer held."""
    rows, fields, keys = entries
    keep = t.summed[fields] & ~t.deletion[keys] & (t.read_at[rows] != NONE)
    rows, fields, keys = rows[keep], fields[keep], keys[keep]
    read = _read_keys(t, rows, fields)
    keep = (read != NONE) & (read != keys)
    rows, fields, read = rows[keep], fields[keep], read[keep]
    if not len(rows):
        return []
    # every write that stored a value in a counter field: who may have changed it, and to what
    stored = t.writer[t.wr_op] & (t.type[t.wr_op] != FAIL)
    s_rows, s_fields, s_keys = t.wr_op[stored], t.wr_field[stored], t.wr_key[stored]
    lower = np.where(t.write_at != NONE, t.write_at, t.start)  # a commit begins no earlier than this
    found: list[tuple[int, int, int]] = []
    for f in distinct(fields).tolist():
        on_f = s_fields == f
        w_rows, w_keys = s_rows[on_f], s_keys[on_f]
        acked = t.type[w_rows] == OK
        order = np.lexsort((t.id[w_rows[acked]], t.end[w_rows[acked]]))
        cand, cand_keys = w_rows[acked][order], w_keys[acked][order]
        top, at = _running_max(lower[cand])
        # writes that changed f to a value unknown here: incrementing it without a stored value
        inc = t.intended_writes[t.inc_op] & (t.inc_field == f) & (t.type[t.inc_op] != FAIL)
        unknown = np.setdiff1d(t.inc_op[inc], w_rows)
        mine = np.flatnonzero(fields == f)
        count = np.searchsorted(t.end[cand], t.write_at[rows[mine]], side="left")
        for i in np.flatnonzero(count > 0).tolist():
            c, r = int(rows[mine[i]]), int(read[mine[i]])
            w = int(at[count[i] - 1])
            if top[count[i] - 1] <= t.read_at[c] or int(cand_keys[w]) == r:
                continue  # nothing committed for sure between C's read and its write, or it stored r
            w_row = int(cand[w])
            # a write that may have committed after W and before C's write and stored r, or an
            # unknown value, may have put r back: then C's write proves nothing
            could = np.concatenate([w_rows[w_keys == r], unknown])
            could = could[(could != c) & (t.end[could] > lower[w_row]) & (lower[could] < t.end[c])]
            if not len(could):
                found.append((c, f, w_row))
    return found


def stale_writes(t: OpTable, initial: Mapping[int, State]) -> Witnessed:
    """Every stale write-back and unasked child removal the write-sets show, with evidence."""
    entries = _derived_entries(t)
    anomalies: list[Anomaly] = []
    lost_rows: list[int] = []
    counter_lost: dict[int, list[int]] = {}
    found = [("stale-write", *x) for x in _register_stale(t, initial, entries)]
    found += [("stale-write", *x) for x in _counter_stale(t, entries)]
    found += [("removed-child", *x) for x in _removed_children(t, entries)]
    found.sort(key=lambda x: (t.id[x[1]], t.fields[x[2]][1]))  # by the stale write, then field
    for kind, c, f, w in found:
        if t.summed[f]:
            counter_lost.setdefault(f, []).append(w)
        else:
            lost_rows.append(w)
        if len(anomalies) < MAX_DETAILED:
            anomalies.append(_explain(t, kind, c, f, w))
    lost = distinct(np.array(lost_rows, dtype=np.int64))
    return Witnessed(anomalies, lost, {f: distinct(np.array(r, dtype=np.int64)) for f, r in counter_lost.items()})


def _value(t: OpTable, row: int, fld: str) -> Value | None:
    return t.ops[row].written.get(fld)


def _explain(t: OpTable, kind: str, c_row: int, f: int, w_row: int) -> Anomaly:
    c, w = t.ops[c_row], t.ops[w_row]
    entity, fld = t.fields[f]
    shown = label(fld)
    if kind == "removed-child":
        text = (
            f"{c.describe()} deleted {shown}, which its request did not ask to remove, at {seconds(c.write_at)}"
            f"{_quoted(c, fld)}, after {w.describe()} had added it and been acknowledged at {seconds(w.end)}: "
            f"op {w.id}'s write is lost."
        )
    elif t.summed[f]:
        read = c.read.state.get(fld) if c.read else None
        text = (
            f"{c.describe()} read {shown} = {read!r} (its read returned at {seconds(c.read_at)}) and stored "
            f"{_value(t, c_row, fld)!r} at {seconds(c.write_at)}{_quoted(c, fld)}; in between {w.describe()} "
            f"stored {_value(t, w_row, fld)!r} and was acknowledged at {seconds(w.end)}, and no write that could "
            f"have committed after it put {read!r} back: op {c.id} computed its value from a stale read, "
            f"op {w.id}'s change is lost."
        )
    else:
        stored = _value(t, c_row, fld)
        producer = t.producer[t.key_id(entity, fld, stored)] if t.key_id(entity, fld, stored) != NONE else NONE
        source = "the initial value" if producer == NONE else f"the value {t.ops[int(producer)].describe()} set"
        text = (
            f"{c.describe()} stored {shown} = {stored!r}, {source}, at {seconds(c.write_at)}{_quoted(c, fld)}, "
            f"after {w.describe()} had set {shown} = {w.intent.sets[fld] if w.intent else None!r} and been "
            f"acknowledged at {seconds(w.end)}: a write-back from a read older than op {w.id}'s write "
            f"overwrote it; op {w.id}'s write is lost."
        )
    return Anomaly(kind, entity, fld, (w.id, c.id), text)


__all__ = ["MAX_DETAILED", "Witnessed", "stale_writes"]
