"""Markdown for a GitHub step summary or a pull-request comment: GitHub-flavoured tables only."""

from __future__ import annotations

from collections.abc import Sequence

from race_harness.report.merge import FIGURE_COLUMNS, Merged, ReportCell, figure_rows

MAX_EXPLANATIONS = 12


def escape(text: str) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_text(cell: ReportCell | None) -> str:
    if cell is None:
        return ""
    outcome = cell.get("outcome", "?")
    s = cell.stats
    if outcome == "lost":
        text = f"**lost** {cell.get('lost_writes')}/{cell.get('acknowledged')}"
    elif outcome == "none":
        text = f"none ({s.get('conflicts', 0)} conflicts)" if s.get("conflicts") else "none"
    else:
        text = outcome
    expected = cell.get("expected")
    if cell.get("matches_expectation") is False:
        text += f" ⚠ expected {expected}"
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
    explained = [
        (c, a)
        for c in merged.cells
        for a in (c.get("anomalies") or [])[:1]
        if a.get("kind") in ("lost-update", "counter-lost")
    ][:MAX_EXPLANATIONS]
    if explained:
        out += ["", "## Lost updates, explained", ""]
        out += [f"- **{' x '.join(c.key[:3])}**: {a['explanation']}" for c, a in explained]
    if merged.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in merged.notes]
    return "\n".join(out) + "\n"
