"""A self-contained HTML report: one file, inline CSS and SVG, no scripts, nothing fetched."""

from __future__ import annotations

import html
from typing import Any

from race_harness.report import charts
from race_harness.report.accounting import account_for_counter
from race_harness.report.heatmap import heat_maps
from race_harness.report.markdown import verdict_text
from race_harness.report.merge import FIGURE_COLUMNS, Merged, ReportCell, figure_rows

MAX_TIMELINES = 8
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #1f2933; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d9e2ec; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 13px; }
.scroll { overflow-x: auto; max-width: 100%; }  /* a wide matrix scrolls inside itself, never the page */
#matrix { font-size: 12px; white-space: nowrap; }
#matrix td, #matrix th { padding: 0.15rem 0.4rem; }
#matrix .label { position: sticky; left: 0; background: #fff; z-index: 1; }
#matrix small { color: #52606d; }
p.not-drawn { color: #52606d; font-style: italic; }
table.heat { font-size: 11px; white-space: nowrap; }
table.heat td { text-align: right; min-width: 3.2rem; padding: 0.1rem 0.35rem; border-color: #fff; }
table.heat th { font-weight: normal; padding: 0.1rem 0.35rem; }
table.heat th.label { text-align: right; position: sticky; left: 0; background: #fff; }
th, td { border: 1px solid #d9e2ec; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
td.lost { background: #fde2e1; } td.none { background: #e3f9e5; } td.inconclusive { background: #fff3c4; }
td.mismatch { outline: 2px solid #d62728; }
figure { margin: 1rem 0; } figcaption { color: #52606d; font-size: 12px; }
figure svg { max-width: 100%; height: auto; }
.explanation { background: #f8fafc; border-left: 3px solid #d62728; padding: 0.4rem 0.8rem; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _matrix(merged: Merged) -> str:
    """Rows by what was asked (scenario, strategy, requested isolation and scope), a column per
    database in engine and version order: a heat map of verdicts with the figure in each cell."""
    dbs = merged.databases
    head = '<th class="label">scenario · strategy · asked</th>' + "".join(f"<th>{_e(db)}</th>" for db in dbs)
    body = []
    for row in merged.rows:
        tds = [f'<td class="label">{_e(" · ".join(row))}</td>']
        for db in dbs:
            cell = merged.cell(row, db)
            if cell is None:
                tds.append("<td></td>")
                continue
            classes = [str(cell.get("outcome"))]
            if cell.get("matches_expectation") is False:
                classes.append("mismatch")
            text = verdict_text(cell, with_isolation=False).replace("**", "")
            shows = cell.isolation_note and cell.get("outcome") != "n/a"
            note = f" <small>{_e(cell.isolation_note)}</small>" if shows else ""
            title = f"{' x '.join(cell.key[:3])}: {cell.get('outcome')}, isolation {cell.get('isolation') or '?'}"
            tds.append(f'<td class="{_e(" ".join(classes))}" title="{_e(title)}">{_e(text)}{note}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    table = f'<table id="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _figures(merged: Merged) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in FIGURE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in figure_rows(merged))
    return f'<div class="scroll"><table id="figures"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


TIMELINE_CAPTION = (
    "Timeline: sessions as lanes, operations as bars; red and orange: the operations of the anomaly, as "
    "labelled, with their read (▼), write (◆) and acknowledgement (●); grey: other writes; blue: reads; "
    "hatched: outcome unknown; yellow bands: faults the nemesis injected. Times are seconds into the run, as in "
    "the text."
)


def _explanation(cell: ReportCell) -> tuple[str, dict[str, Any] | None] | None:
    """The text and the anomaly to draw for a cell that lost something; None when it lost nothing."""
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
    return (pair["explanation"], pair) if pair is not None else None


def _explanations(merged: Merged) -> str:
    parts: list[str] = []
    seen: set[tuple[str, str]] = set()
    for cell in sorted(merged.cells, key=lambda c: c.key):
        if (cell.key[0], cell.key[2]) in seen or len(parts) >= MAX_TIMELINES:
            continue
        found = _explanation(cell)
        if found is None:
            continue
        seen.add((cell.key[0], cell.key[2]))
        text, drawn = found
        svg = charts.timeline(cell, drawn) if drawn is not None and charts.available() else None
        picture = f'<figure class="timeline"><figcaption>{TIMELINE_CAPTION}</figcaption>{svg}</figure>' if svg else ""
        parts.append(
            f'<section><h3>{_e(" x ".join(cell.key[:3]))}</h3><p class="explanation">{_e(text)}</p>{picture}</section>'
        )
    missing = "" if charts.available() else f'<p id="no-timelines">Timelines not drawn: {_e(charts.MISSING)}.</p>'
    return missing + "".join(parts) if parts else "<p>No lost update in these results.</p>"


def render_html(merged: Merged) -> str:
    figures = "".join(
        f'<figure class="chart" id="{chart.id}"><figcaption>{_e(chart.caption)}</figcaption>{table}</figure>'
        if table
        else f'<p class="not-drawn" id="{chart.id}">{_e(chart.caption.split(":")[0])}: not drawn, {_e(chart.empty)} '
        f"in these results.</p>"
        for chart, table in heat_maps(merged)
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in merged.notes)
    sources = "".join(f"<li>{_e(p)}</li>" for p in merged.sources)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>race-harness comparison</title><style>{CSS}</style></head>
<body>
<h1>race-harness comparison</h1>
<p>{len(merged.cells)} cells from {len(merged.sources)} result file(s);
databases: {_e(", ".join(merged.databases))}.</p>
<h2>Verdicts</h2>
<p><b>lost N/M</b>: N of M acknowledged writes lost. <b>none</b>: nothing lost although writes raced (contention is
required for it). Rows are what was asked: <i>default</i> is each database's own isolation level, shown small in
the cell (RC, RR, SER) when it is not the row's. A red outline marks a verdict that differs from the scenario's
declared one.</p>
{_matrix(merged)}
<h2>Charts</h2>
{figures}
<h2>Lost updates, explained</h2>
{_explanations(merged)}
<h2>Figures</h2>
{_figures(merged)}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Sources</h2><ul>{sources}</ul>
</body></html>
"""
