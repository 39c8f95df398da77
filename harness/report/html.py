"""A self-contained HTML report: one file, inline CSS and SVG, no scripts, nothing fetched."""

from __future__ import annotations

import html

from race_harness.report import charts
from race_harness.report.findings import Finding
from race_harness.report.heatmap import heat_maps
from race_harness.report.merge import FIGURE_COLUMNS, Merged, ReportCell, figure_rows
from race_harness.tally import describe, tally

MAX_TIMELINES = 12  # scenario x strategy groups drawn; every finding's text is there regardless
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem 0; color: #1f2933;
       padding: 0 1rem; }  /* the window's width: a wide matrix shows as many databases as fit */
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d9e2ec; }
p, ul, .explanation, details { max-width: 60rem; }  /* prose stays readable on a wide screen */
#headline { font-size: 1.15rem; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 13px; }
.scroll { overflow-x: auto; max-width: 100%; }  /* a wide table scrolls inside itself, never the page */
/* the matrix scrolls both ways inside itself, so its header row and label column stay in view */
.scroll.both { overflow: auto; max-height: 85vh; }
#matrix { font-size: 12px; white-space: nowrap; }
#matrix td, #matrix th { padding: 0.15rem 0.4rem; }
#matrix thead th { position: sticky; top: 0; z-index: 2; }
/* the label column wraps, so that on a phone it leaves room for the verdicts beside it */
#matrix .label, table.heat th.label { position: sticky; left: 0; background: #fff; z-index: 1;
       white-space: normal; min-width: 6rem; max-width: 34vw; }
#matrix thead th.label { z-index: 3; background: #f0f4f8; }
#matrix small { color: #52606d; }
#matrix td.mismatch small:last-child { display: block; }  /* "declared none" under the verdict it contradicts */
#matrix a, #headline-list a { color: inherit; }
p.not-drawn { color: #52606d; font-style: italic; }
table.heat { font-size: 11px; white-space: nowrap; }
table.heat td { text-align: right; min-width: 3.2rem; padding: 0.1rem 0.35rem; border-color: #fff; }
table.heat th { font-weight: normal; padding: 0.1rem 0.35rem; }
table.heat th.label { text-align: right; }
th, td { border: 1px solid #d9e2ec; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
th small { font-weight: normal; color: #52606d; }
td.lost { background: #fde2e1; } td.none { background: #e3f9e5; } td.inconclusive { background: #fff3c4; }
td.mismatch { outline: 2px solid #d62728; outline-offset: -2px; }
figure { margin: 1rem 0; } figcaption { color: #52606d; font-size: 12px; max-width: 60rem; }
figure svg { max-width: 100%; height: auto; }
.explanation { background: #f8fafc; border-left: 3px solid #d62728; padding: 0.4rem 0.8rem; }
details.finding { margin: 0.3rem 0; } details.finding summary { cursor: pointer; }
:target { scroll-margin-top: 1rem; } section:target h3, details:target summary { background: #fff3c4; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _headline(merged: Merged) -> str:
    """The tally first, then each cell a reader must look at, linked to its finding."""
    counted = tally(c.judged for c in merged.cells)
    items = "".join(f'<li><a href="#{_e(j.anchor)}">{_e(describe(j))}</a></li>' for j in counted.failing)
    listed = f'<ul id="headline-list">{items}</ul>' if items else ""
    return f'<p id="headline">{_e(counted.text())}</p>{listed}'


def verdict_html(cell: ReportCell) -> tuple[str, str]:
    """A matrix cell: the verdict with its figure; the isolation that ran and the declared verdict it
    contradicts each on a short line of their own, so the column stays narrow."""
    outcome = str(cell.get("outcome"))
    if outcome == "lost":
        text = f"lost {cell.get('lost_writes')}/{cell.get('acknowledged')}"
    else:
        conflicts = cell.stats.get("conflicts") if outcome == "none" else None
        text = outcome + (f" ({conflicts} conflicts)" if conflicts else "")
    notes = [cell.isolation_note] if cell.isolation_note and outcome != "n/a" else []
    if cell.get("matches_expectation") is False:
        notes.append(f"declared {cell.get('expected')}")
    return _e(text), "".join(f" <small>{_e(n)}</small>" for n in notes)


def column_heads(merged: Merged) -> list[str]:
    """A header per database; where runs are merged, which run measured it (see Sources)."""
    many = len(merged.runs) > 1
    heads = []
    for db in merged.databases:
        runs = merged.runs_of([c for c in merged.cells if c.key[2] == db]) if many else []
        which = f" <small>run {', '.join(str(r.number) for r in runs)}</small>" if runs else ""
        heads.append(f"<th>{_e(db)}{which}</th>")
    return heads


def _matrix(merged: Merged, heads: list[str], explained: set[str]) -> str:
    """Rows by what was asked (scenario, strategy, requested isolation and scope), a column per
    database in engine and version order: a heat map of verdicts with the figure in each cell, and
    from every finding's cell a link to its explanation."""
    dbs = merged.databases
    head = '<th class="label">scenario · strategy · asked</th>' + "".join(heads)
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
            text, note = verdict_html(cell)
            if cell.anchor in explained:
                text = f'<a href="#{_e(cell.anchor)}">{text}</a>'
            title = f"{cell.name}: {cell.get('outcome')}, isolation {cell.get('isolation') or '?'}"
            tds.append(f'<td class="{_e(" ".join(classes))}" title="{_e(title)}">{text}{note}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    table = f'<table id="matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll both">{table}</div>'


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


def _explanations(merged: Merged, found: list[Finding]) -> str:
    """Every finding: a group's lead open with its timeline (up to MAX_TIMELINES groups), the rest collapsed."""
    if not found:
        return "<p>No lost update in these results.</p>"
    parts: list[str] = []
    drawn = groups = 0
    for f in found:
        cell = f.cell
        anchor, name = _e(cell.anchor), _e(cell.name)
        if not f.lead:
            summary = f"{name}: {_e(cell.judged.figure or cell.get('outcome'))}"
            parts.append(
                f'<details class="finding" id="{anchor}"><summary>{summary}</summary>'
                f'<p class="explanation">{_e(f.text)}</p></details>'
            )
            continue
        groups += 1
        picture = ""
        if f.drawn is not None and charts.available() and (drawn < MAX_TIMELINES or f.failing):
            svg = charts.timeline(cell, f.drawn)
            if svg:
                drawn += 1
                picture = f'<figure class="timeline"><figcaption>{TIMELINE_CAPTION}</figcaption>{svg}</figure>'
        text = f'<p class="explanation">{_e(f.text)}</p>'
        parts.append(f'<section id="{anchor}"><h3>{name}</h3>{text}{picture}</section>')
    missing = "" if charts.available() else f'<p id="no-timelines">Timelines not drawn: {_e(charts.MISSING)}.</p>'
    capped = (
        f'<p id="timeline-cap">{len(found)} findings in {groups} scenario x strategy groups, every one explained '
        f"below; timelines are drawn for {drawn} groups (at most {MAX_TIMELINES}, and every group that differs "
        f"from its declaration). Each cell's full evidence is in its results.json and its history (histories/ "
        f"beside it; see Sources).</p>"
    )
    return missing + capped + "".join(parts)


def _sources(merged: Merged) -> str:
    rows = "".join(
        f"<tr><td>run {r.number}</td><td>{_e(r.where)}</td><td>{_e(r.platform)}</td><td>{_e(r.source)}</td></tr>"
        for r in merged.runs
    )
    head = "<tr><th>run</th><th>machine, load and time</th><th>platform</th><th>results.json</th></tr>"
    return f'<div class="scroll"><table id="sources"><thead>{head}</thead><tbody>{rows}</tbody></table></div>'


def _timing_note(merged: Merged) -> str:
    """Throughput and latency depend on the machine and its load: across runs they do not compare."""
    if len(merged.runs) < 2:
        return ""
    return (
        f" These cells come from {len(merged.runs)} runs (the column header names each database's run; machine, "
        f"load and time under Sources): compare figures within one run only."
    )


def render_html(merged: Merged, found: list[Finding]) -> str:
    """``found``: as for :func:`~race_harness.report.markdown.render_markdown`."""
    heads = column_heads(merged)  # the matrix's and every heat map's
    timing = _timing_note(merged)
    figures = "".join(
        f'<figure class="chart" id="{chart.id}"><figcaption>{_e(chart.caption)}.'
        f"{_e(timing) if chart.id in ('chart-throughput', 'chart-latency') else ''}</figcaption>{table}</figure>"
        if table
        else f'<p class="not-drawn" id="{chart.id}">{_e(chart.caption.split(":")[0])}: not drawn, {_e(chart.empty)} '
        f"in these results.</p>"
        for chart, table in heat_maps(merged, heads)
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in merged.notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>race-harness comparison</title><style>{CSS}</style></head>
<body>
<h1>race-harness comparison</h1>
{_headline(merged)}
<p>{len(merged.cells)} cells from {len(merged.sources)} result file(s);
databases: {_e(", ".join(merged.databases))}.</p>
<h2>Verdicts</h2>
<p><b>lost N/M</b>: N of M acknowledged writes lost. <b>none</b>: nothing lost although writes raced (contention is
required for it). Rows are what was asked: <i>default</i> is each database's own isolation level, shown small in
the cell (RC, RR, SER) when it is not the row's. A red outline marks a verdict that differs from the scenario's
declared one; a verdict that is a link leads to its explanation.</p>
{_matrix(merged, heads, {f.cell.anchor for f in found})}
<h2>Lost updates, explained</h2>
{_explanations(merged, found)}
<h2>Charts</h2>
{figures}
<h2>Figures</h2>
{_figures(merged)}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Sources</h2>
{_sources(merged)}
</body></html>
"""
