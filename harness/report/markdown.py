"""Markdown for a GitHub step summary or a pull-request comment: GitHub-flavoured tables only."""

from __future__ import annotations

from collections.abc import Sequence

from race_harness.report.findings import Finding
from race_harness.report.merge import FIGURE_COLUMNS, Merged, ReportCell, figure_rows
from race_harness.tally import describe, tally


def escape(text: str) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


MARKS = {True: "✅", False: "❌"}  # as declared / against the declaration; inconclusive: ⚠️


def mark(cell: ReportCell) -> str:
    """✅ as declared, ❌ against the declaration, ⚠️ proved nothing; nothing for an undeclared or n/a cell."""
    outcome = cell.get("outcome")
    if outcome == "inconclusive":
        return "⚠️"
    return MARKS.get(cell.get("matches_expectation"), "") if outcome != "n/a" else ""


def matrix_cell(cell: ReportCell | None, explained: set[str]) -> str:
    """Short enough not to wrap in a step summary: a mark, the verdict, its figure; a link to its finding."""
    if cell is None:
        return ""
    outcome = str(cell.get("outcome"))
    text = f"lost {cell.get('lost_writes')}/{cell.get('acknowledged')}" if outcome == "lost" else outcome
    if cell.isolation_note and outcome != "n/a":
        text += f" {cell.isolation_note}"
    if cell.get("matches_expectation") is False and outcome != "inconclusive":
        text += f" (declared {cell.get('expected')})"
    text = " ".join(p for p in (mark(cell), text) if p)
    return f"[{text}](#{cell.anchor})" if cell.anchor in explained else text


def _folded(summary: str, body: list[str]) -> list[str]:
    """A <details> block GitHub renders: blank lines around the Markdown inside it."""
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>"]


def render_markdown(merged: Merged, found: list[Finding]) -> str:
    """``found``: the merge's :func:`~race_harness.report.findings.findings` (they read the histories:
    made once for both reports)."""
    dbs = merged.databases
    explained = {f.cell.anchor for f in found}
    counted = tally(c.judged for c in merged.cells)
    out = ["# race-harness comparison", "", f"**{counted.text()}**", ""]
    if counted.failing:
        out += [*(f"- [{escape(describe(j))}](#{j.anchor})" for j in counted.failing), ""]
    out += [
        f"{len(merged.sources)} result file(s), databases: {', '.join(dbs)}.",
        "",
        "## Verdicts",
        "",
        "✅ as declared, ❌ against the scenario's declaration, ⚠️ proved nothing, no mark: no verdict declared "
        "for that cell (or not run). `lost N/M`: N of M acknowledged "
        "writes lost; `none`: nothing lost although writes raced. Rows are what was asked: `default` is each "
        "database's own isolation level, named in the cell when it differs. A linked verdict leads to its finding.",
        "",
        table(
            ["scenario", "strategy", "asked", *dbs],
            [[*row, *(matrix_cell(merged.cell(row, db), explained) for db in dbs)] for row in merged.rows],
        ),
    ]
    if found:
        out += ["", "## Findings", ""]
        lines = [f'- <a id="{f.cell.anchor}"></a>**{escape(f.cell.name)}**: {escape(f.text)}' for f in found]
        leads = [line for f, line in zip(found, lines, strict=True) if f.lead or f.failing]
        rest = [line for f, line in zip(found, lines, strict=True) if not (f.lead or f.failing)]
        out += leads
        if rest:
            out += ["", *_folded(f"{len(rest)} more cells with the same finding on other databases", rest)]
    out += ["", "## Figures", ""]
    out += _folded(f"every cell's figures ({len(merged.cells)} rows)", [table(FIGURE_COLUMNS, figure_rows(merged))])
    out += ["", "## Sources", ""]
    out += [f"- run {r.number}: `{r.source}` ({r.where})" for r in merged.runs]
    if len(merged.runs) > 1:
        out += ["", "Throughput and latency depend on each run's machine and load: compare them within one run."]
    if merged.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in merged.notes]
    return "\n".join(out) + "\n"
