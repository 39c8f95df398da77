"""A self-contained HTML report: one file, inline CSS and SVG, no scripts, nothing fetched."""

from __future__ import annotations

import html

from race_harness.report import charts
from race_harness.report.markdown import verdict_text
from race_harness.report.merge import FIGURE_COLUMNS, Merged, figure_rows

MAX_TIMELINES = 8
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #1f2933; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d9e2ec; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 13px; }
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
    dbs = merged.databases
    head = "".join(f"<th>{_e(h)}</th>" for h in ["scenario", "strategy", "isolation / scope", *dbs])
    body = []
    for row in merged.rows:
        tds = [f"<td>{_e(v)}</td>" for v in row]
        for db in dbs:
            cell = merged.cell(row, db)
            if cell is None:
                tds.append("<td></td>")
                continue
            classes = [str(cell.get("outcome"))]
            if cell.get("matches_expectation") is False:
                classes.append("mismatch")
            text = verdict_text(cell).replace("**", "")
            tds.append(f'<td class="{_e(" ".join(classes))}">{_e(text)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f'<table id="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _figures(merged: Merged) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in FIGURE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in figure_rows(merged))
    return f'<table id="figures"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _explanations(merged: Merged) -> str:
    parts: list[str] = []
    seen: set[tuple[str, str]] = set()
    for cell in sorted(merged.cells, key=lambda c: c.key):
        anomalies = [
            a for a in (cell.get("anomalies") or []) if a.get("kind") in ("lost-update", "same-read-overwrite")
        ]
        first = next((a for a in anomalies if a.get("kind") == "lost-update"), anomalies[0] if anomalies else None)
        if first is None or (cell.key[0], cell.key[2]) in seen or len(parts) >= MAX_TIMELINES:
            continue
        seen.add((cell.key[0], cell.key[2]))
        svg = charts.timeline(cell, first) if charts.available() else ""
        picture = (
            (
                f'<figure class="timeline"><figcaption>Timeline: sessions as lanes, operations as bars (read, think, '
                f"write); red and orange: the two writes of the anomaly, as labelled; grey: other writes; blue: "
                f"reads; hatched: outcome unknown"
                f"</figcaption>{svg}</figure>"
            )
            if svg
            else ""
        )
        parts.append(
            f"<section><h3>{_e(' x '.join(cell.key[:3]))}</h3>"
            f'<p class="explanation">{_e(first["explanation"])}</p>{picture}</section>'
        )
    return "".join(parts) or "<p>No lost update in these results.</p>"


def render_html(merged: Merged) -> str:
    figures = (
        "".join(
            f'<figure class="chart" id="{cid}"><figcaption>{_e(caption)}</figcaption>{svg}</figure>'
            for cid, caption, svg in charts.charts(merged)
        )
        if charts.available()
        else f'<p id="no-charts">Not drawn: {_e(charts.MISSING)}.</p>'
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
required for it). A red outline marks a verdict that differs from the scenario's declared one.</p>
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
