"""What accounts for a counter's lost increments: acknowledged increments that read the same value.

The checker proves a counter lost increments from its final value alone ("went from 0 to 28 but 200
increments were acknowledged"). The report says why, from the history: increments that read the same
value of the counter all wrote the same next value, so each such group counted once, and the rest of
the group were overwritten.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from race_harness.events import Operation
from race_harness.history import History
from race_harness.report.merge import ReportCell


@dataclass(frozen=True)
class CounterAccount:
    text: str
    group: list[int]  # the largest group's op ids, in commit order: the first was overwritten by the rest


def account_for_counter(cell: ReportCell, anomaly: dict[str, Any]) -> CounterAccount | None:
    """The overwriting groups behind a ``counter-lost`` anomaly; None without a history to read."""
    path = cell.history_path
    entity, name = anomaly.get("entity"), anomaly.get("field")
    if path is None or not path.exists() or name is None:
        return None
    # grouped by the value of the counter each increment read, not by the row's version: a strategy
    # that does not bump the version (full-row, partial-update) reads one version throughout
    groups: dict[Any, list[Operation]] = defaultdict(list)
    acknowledged = 0
    for op in History.read_jsonl(path).operations():
        if op.type != "ok" or op.entity != entity or op.intent is None or name not in op.intent.increments:
            continue
        acknowledged += 1
        if op.read is not None and name in op.read.state:
            groups[op.read.state[name]].append(op)
    if not groups:
        return None
    overwritten = sum(len(g) - 1 for g in groups.values())
    value, members = max(groups.items(), key=lambda kv: len(kv[1]))  # the first largest, in history order
    ops = sorted(members, key=lambda op: op.end or 0)
    lost = int(cell.get("lost_writes") or 0)
    accounted = min(overwritten, lost)
    share = f"all {lost}" if accounted == lost else f"{accounted} of the {lost}"
    shown = ", ".join(str(op.id) for op in ops[:6]) + (", …" if len(ops) > 6 else "")
    text = (
        f"The {acknowledged} acknowledged increments of {name} read {len(groups)} distinct values of it on entity "
        f"{entity}: increments that read the same value wrote the same next value, so each group counted once "
        f"and the rest of it was overwritten. That accounts for {share} lost increments. The largest group: "
        f"{len(ops)} increments (ops {shown}) all read {name}={value!r}; op {ops[0].id} committed first and "
        f"the others wrote over it."
    )
    return CounterAccount(text, [op.id for op in ops])
