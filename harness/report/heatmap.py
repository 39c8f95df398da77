"""The report's charts as heat maps in HTML: a row per matrix row, a column per database.

A chart per figure (lost-update rate, throughput, latency, conflicts, retries), each cell shaded by
its value and showing it as text. An HTML table grows with the rows and the databases, never with
the number of cells, keeps its text as text, needs no plotting library, and costs a few dozen bytes
a cell: the 660-cell merge of a 15-database matrix stays well under a megabyte.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from race_harness.report.merge import Merged, ReportCell

Figure = Callable[[ReportCell], float | None]


def lost_rate(cell: ReportCell) -> float | None:
    ack = cell.get("acknowledged")
    return None if not ack or cell.get("outcome") == "n/a" else 100.0 * cell.get("lost_writes", 0) / ack


def throughput(cell: ReportCell) -> float | None:
    return cell.stats.get("ops_per_s") if cell.get("outcome") != "n/a" else None


def p99(cell: ReportCell) -> float | None:
    return cell.stats.get("latency_p99_ms") if cell.get("outcome") != "n/a" else None


def conflict_rate(cell: ReportCell) -> float | None:
    writes = cell.stats.get("writes")
    return None if not writes else 100.0 * cell.stats.get("conflicts", 0) / writes


def retry_rate(cell: ReportCell) -> float | None:
    writes = cell.stats.get("writes")
    return None if not writes else 100.0 * cell.stats.get("retries", 0) / writes


@dataclass(frozen=True)
class Chart:
    id: str
    caption: str
    value: Figure
    fmt: str
    rgb: tuple[int, int, int]  # the colour of the largest value; 0 is white
    empty: str  # why a chart with nothing to show is not drawn
    zero_is_empty: bool = False  # all zeros says nothing either (no conflict, no retry)


CHARTS = (
    Chart("chart-lost-rate", "Lost-update rate: % of acknowledged writes lost", lost_rate, "{:.0f}%", (192, 57, 43),
          "no cell acknowledged a write"),
    Chart("chart-throughput", "Throughput: acknowledged writes per second", throughput, "{:.0f}", (41, 98, 168),
          "no cell has a throughput"),
    Chart("chart-latency", "Write latency, 99th percentile, ms (read, think time and write)", p99, "{:.1f}",
          (214, 110, 20), "no cell has a latency"),
    Chart("chart-conflicts", "Conflict rate: % of writes whose save was refused or aborted", conflict_rate,
          "{:.0f}%", (106, 61, 154), "no save attempt was refused or aborted", zero_is_empty=True),
    Chart("chart-retries", "Retry rate: extra attempts per write, % (--on-conflict retry, serializable-retry)",
          retry_rate, "{:.0f}%", (35, 139, 69), "no write was retried", zero_is_empty=True),
)  # fmt: skip


def _shade(rgb: tuple[int, int, int], share: float) -> str:
    r, g, b = (round(255 + (c - 255) * share) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(merged: Merged, chart: Chart, heads: list[str]) -> str | None:
    """The chart as an HTML table under the matrix's column ``heads``; None when no cell has anything to show."""
    dbs = merged.databases
    grid = {
        (row, db): v
        for row in merged.rows
        for db in dbs
        if (c := merged.cell(row, db)) and (v := chart.value(c)) is not None
    }
    values = list(grid.values())
    if not values or (chart.zero_is_empty and not any(values)):
        return None
    top = max(values) or 1.0
    variant = len({row[2] for row in merged.rows}) > 1  # "default separate" in every row says nothing
    head = '<th class="label"></th>' + "".join(heads)
    body = []
    for row in merged.rows:
        if not any((row, db) in grid for db in dbs):
            continue
        tds = [f'<th class="label">{html.escape(" · ".join(row if variant else row[:2]))}</th>']
        for db in dbs:
            v = grid.get((row, db))
            if v is None:
                tds.append("<td></td>")
                continue
            share = max(0.0, v / top)
            ink = ";color:#fff" if share > 0.6 else ""
            tds.append(f'<td style="background:{_shade(chart.rgb, 0.85 * share)}{ink}">{chart.fmt.format(v)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    table = f'<table class="heat"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def heat_maps(merged: Merged, heads: list[str]) -> list[tuple[Chart, str | None]]:
    """Every chart with its table, or None (its caption then says why it is not drawn)."""
    return [(chart, heat_map(merged, chart, heads)) for chart in CHARTS]
