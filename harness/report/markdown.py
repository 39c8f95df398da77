"""Markdown for a GitHub step summary or a pull-request comment: GitHub-flavoured tables only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from race_harness.checkers.result import headline
from race_harness.report.merge import FIGURE_COLUMNS, Merged, ReportCell, figure_rows

MAX_EXPLANATIONS = 12


def escape(text: str) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_text(cell: ReportCell | None, *, with_isolation: bool = True) -> str:
    """A matrix cell: the verdict with its figure, and the isolation that ran when the row does not say it."""
    if cell is None:
        return ""
    outcome = cell.get("outcome", "?")
    s = cell.stats
    notes = []
    if outcome == "lost":
        text = f"**lost** {cell.get('lost_writes')}/{cell.get('acknowledged')}"
    else:
        text = outcome
        if outcome == "none" and s.get("conflicts"):
            notes.append(f"{s['conflicts']} conflicts")
    if with_isolation and cell.isolation_note and outcome != "n/a":
        notes.append(cell.isolation_note)
    if notes:
        text += f" ({', '.join(notes)})"
    if cell.get("matches_expectation") is False:
        text += f" ⚠ expected {cell.get('expected')}"
    return text


def render_markdown(merged: Merged) -> str:
    dbs = merged.databases
    out = [
        "# race-harness comparison",
        "",
        f"{len(merged.sources)} result file(s), {len(merged.cells)} cells, databases: {', '.join(dbs)}.",
        "",
        "## Verdicts",
        "",
        "`lost N/M`: N of M acknowledged writes lost. `none`: nothing lost although writes raced. "
        "Rows are what was asked: `default` is each database's own isolation level, named in the cell. "
        "⚠ marks a verdict that differs from the scenario's declared one.",
        "",
        table(
            ["scenario", "strategy", "isolation / scope", *dbs],
            [[*row, *(verdict_text(merged.cell(row, db)) for db in dbs)] for row in merged.rows],
        ),
        "",
        "## Figures",
        "",
        table(FIGURE_COLUMNS, figure_rows(merged)),
    ]
    explained: list[tuple[ReportCell, dict[str, Any]]] = []
    for c in merged.cells:
        anomalies = c.get("anomalies") or []
        at = headline([str(a.get("kind")) for a in anomalies])
        if at is not None and len(explained) < MAX_EXPLANATIONS:
            explained.append((c, anomalies[at]))
    if explained:
        out += ["", "## Lost updates, explained", ""]
        out += [f"- **{' x '.join(c.key[:3])}**: {a['explanation']}" for c, a in explained]
    if merged.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in merged.notes]
    return "\n".join(out) + "\n"
