"""Every cell a reader may need explained, with its explanation: the findings both reports list.

A finding is a cell that lost an update, came out against its declaration, or was declared and proved
nothing. Findings are grouped by scenario x strategy in the matrix's row order; in each group the
cell that differs (else the first database's) leads and gets the timeline, the rest follow collapsed.
Nothing is left out: only timelines are capped, and the report says how many it did not draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from race_harness.report.accounting import account_for_counter
from race_harness.report.merge import Merged, ReportCell, database_order
from race_harness.tally import FAILING, NO_CONTENTION


@dataclass(frozen=True)
class Finding:
    cell: ReportCell
    text: str
    drawn: dict[str, Any] | None  # the anomaly a timeline draws; None: nothing to draw
    lead: bool  # the first of its scenario x strategy group: shown open, with the timeline

    @property
    def failing(self) -> bool:
        """Against its declaration (a regression, a reproduction that stopped, a declared verdict unproven)."""
        return self.cell.judged.failing


def explain(cell: ReportCell) -> tuple[str, dict[str, Any] | None] | None:
    """The text and the anomaly to draw for a cell that is a finding; None when it is not one."""
    found = _lost(cell)
    if found is not None:
        return found
    standing = cell.judged.standing
    stats = cell.stats
    if standing == "not-reproduced" and cell.get("outcome") == "none":
        raced = f"{stats.get('raced_writes', 0)} raced writes, {stats.get('conflicts', 0)} conflicts"
        return f"Declared to lose updates, but nothing was lost ({raced}): the reproduction no longer reproduces.", None
    if standing in FAILING:  # declared, and proved nothing
        why = (cell.get("checker_errors") or [NO_CONTENTION])[0]
        return f"Declared {cell.get('expected')}, but the run proved nothing: {why}.", None
    return None


def _lost(cell: ReportCell) -> tuple[str, dict[str, Any] | None] | None:
    anomalies = cell.get("anomalies") or []
    first = next((a for a in anomalies if a.get("kind") == "lost-update"), None)
    if first is not None:
        return first["explanation"], first
    counter = next((a for a in anomalies if a.get("kind") == "counter-lost"), None)
    if counter is not None:
        account = account_for_counter(cell, counter)
        if account is None:
            return counter["explanation"], None
        drawn = {"kind": "same-read-overwrite", "ops": account.group[:4]}
        return f"{counter['explanation']} {account.text}", drawn
    # a stale write-back or a child removed unasked: the lost write and the one that overwrote it
    stale = next((a for a in anomalies if a.get("kind") in ("stale-write", "removed-child")), None)
    if stale is not None:
        return stale["explanation"], stale
    pair = next((a for a in anomalies if a.get("kind") == "same-read-overwrite"), None)
    if pair is not None:
        return pair["explanation"], pair
    other = next((a for a in anomalies if a.get("explanation")), None)  # a broken invariant, a counter too far
    if other is not None:
        return other["explanation"], None
    if cell.get("outcome") == "lost":
        return f"Lost {cell.get('lost_writes')} of {cell.get('acknowledged')} acknowledged writes.", None
    return None


def findings(merged: Merged) -> list[Finding]:
    """Every finding, grouped by scenario x strategy in row order; a group's lead first."""
    order = {row: i for i, row in enumerate(merged.rows)}
    groups: dict[tuple[str, str], list[tuple[ReportCell, str, dict[str, Any] | None]]] = {}
    for cell in sorted(merged.cells, key=lambda c: (order[c.row], database_order(c.key[2]))):
        found = explain(cell)
        if found is not None:
            groups.setdefault((cell.key[0], cell.key[1]), []).append((cell, *found))
    out: list[Finding] = []
    for members in groups.values():
        # the cell that goes against its declaration leads its group, else the first database's
        members.sort(key=lambda m: not m[0].judged.failing)
        out += [Finding(cell, text, drawn, i == 0) for i, (cell, text, drawn) in enumerate(members)]
    return out
