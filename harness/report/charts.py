"""Charts for the HTML report, drawn with matplotlib and returned as inline SVG text.

SVG output draws text as paths (matplotlib's default ``svg.fonttype = "path"``), so a report
needs no fonts and fetches nothing when opened from disk.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import Any

from race_harness.history import History, Operation
from race_harness.report.merge import Merged, ReportCell

plt: Any
try:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files only
    from matplotlib import pyplot as plt
except ImportError:  # pragma: no cover - exercised only without the extra
    plt = None

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac"]
LOST, CLOBBER, OK, FAILED, READ = "#d62728", "#ff7f0e", "#9aa5b1", "#e4e7eb", "#6baed6"


MISSING = "the charts and timelines need matplotlib: pip install 'race-harness[report]'"


def available() -> bool:
    """Whether charts can be drawn; the Markdown report and the HTML tables need no matplotlib."""
    return plt is not None


def require_matplotlib() -> None:
    if plt is None:
        from race_harness.errors import UsageError

        raise UsageError("race-harness report draws charts with matplotlib: pip install 'race-harness[report]'")


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = re.sub(r"<\?xml[^>]*>\s*", "", svg)
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)


def _row_label(row: tuple[str, str, str], show_variant: bool) -> str:
    return f"{row[0]} · {row[1]}" + (f" · {row[2]}" if show_variant else "")


def grouped_bars(
    merged: Merged, title: str, xlabel: str, value: Callable[[ReportCell], float | None], fmt: str = "{:.0f}"
) -> str:
    """One horizontal bar per measured cell, grouped by matrix row, coloured by database."""
    dbs = merged.databases
    colors = {db: PALETTE[i % len(PALETTE)] for i, db in enumerate(dbs)}
    groups: list[tuple[tuple[str, str, str], list[tuple[str, float]]]] = []
    for row in merged.rows:
        bars = [(db, v) for db in dbs if (c := merged.cell(row, db)) is not None and (v := value(c)) is not None]
        if bars:
            groups.append((row, bars))
    show_variant = len({row[2] for row, _ in groups}) > 1
    n_bars = sum(len(b) for _, b in groups)
    fig, ax = plt.subplots(figsize=(9, max(2.0, 0.2 * n_bars + 0.15 * len(groups) + 1.2)))
    y = 0.0
    ticks, tick_labels = [], []
    for row, bars in groups:
        ys = [y + i for i in range(len(bars))]
        drawn = ax.barh(ys, [v for _, v in bars], height=0.8, color=[colors[db] for db, _ in bars])
        ax.bar_label(drawn, labels=[fmt.format(v) for _, v in bars], padding=2, fontsize=7)
        ticks.append(y + (len(bars) - 1) / 2)
        tick_labels.append(_row_label(row, show_variant))
        y += len(bars) + 0.6
    ax.set_yticks(ticks)
    ax.set_yticklabels(tick_labels, fontsize=8)
    ax.set_ylim(y - 0.4, -0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.margins(x=0.15)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[db]) for db in dbs]
    ax.legend(handles, dbs, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _svg(fig)


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


def charts(merged: Merged) -> list[tuple[str, str, str]]:
    """(id, caption, svg) for every chart of the report."""
    require_matplotlib()
    return [
        (
            "chart-lost-rate",
            "Lost-update rate: lost / acknowledged writes, per strategy and database",
            grouped_bars(merged, "Lost updates", "% of acknowledged writes lost", lost_rate, "{:.0f}%"),
        ),
        (
            "chart-throughput",
            "Throughput: acknowledged writes per second",
            grouped_bars(merged, "Throughput", "acknowledged writes / s", throughput),
        ),
        (
            "chart-latency",
            "Write latency, 99th percentile (read, think time and write)",
            grouped_bars(merged, "Latency p99", "ms", p99, "{:.1f}"),
        ),
        (
            "chart-conflicts",
            "Conflict rate: save attempts refused or aborted per write",
            grouped_bars(merged, "Conflicts", "% of writes", conflict_rate, "{:.0f}%"),
        ),
        (
            "chart-retries",
            "Retry rate: extra attempts per write (--on-conflict retry, serializable-retry)",
            grouped_bars(merged, "Retries", "% of writes", retry_rate, "{:.0f}%"),
        ),
    ]


def timeline(cell: ReportCell, anomaly: dict[str, Any], max_ops: int = 60) -> str | None:
    """Jepsen-style timeline around one anomaly: sessions as lanes, operations as bars, the lost
    write (red) and the write that overwrote it (orange) highlighted."""
    require_matplotlib()
    path = cell.history_path
    ids = list(anomaly.get("ops") or [])
    if path is None or not path.exists() or not ids:
        return None
    if anomaly.get("kind") == "lost-update":
        roles = ("lost", "overwrote it")
    else:  # same-read-overwrite: both read one version; the later commit wrote over the earlier one
        roles = ("overwritten", "wrote over it from the same read")
    ops = {op.id: op for op in History.read_jsonl(path).operations()}
    marked = [ops[i] for i in ids if i in ops]
    if not marked:
        return None
    start = min(op.start for op in marked)
    end = max(op.end or op.start for op in marked)
    pad = max((end - start) // 5, 1_000_000)
    lo, hi = start - pad, end + pad
    window = [op for op in ops.values() if (op.end or hi) >= lo and op.start <= hi]
    window.sort(key=lambda op: (op.id not in ids, not op.is_write, abs(op.start - start)))
    shown = sorted(window[:max_ops], key=lambda op: op.start)
    lanes = sorted({op.process for op in shown}, key=lambda p: (min(o.role for o in shown if o.process == p), p))
    lane = {p: i for i, p in enumerate(lanes)}
    fig, ax = plt.subplots(figsize=(9, max(2.0, 0.32 * len(lanes) + 1)))
    for op in shown:
        x0 = (op.start - lo) / 1e6
        width = max(((op.end or hi) - op.start) / 1e6, 0.05)
        color = _color(op, ids)
        ax.broken_barh(
            [(x0, width)],
            (lane[op.process] - 0.35, 0.7),
            facecolors=color,
            edgecolor="#52606d",
            linewidth=0.4,
            hatch="//" if op.type == "info" else None,
        )
        if op.id in ids:
            label = f"op {op.id} " + (roles[0] if op.id == ids[0] else roles[1])
            ax.text(x0, lane[op.process] - 0.42, label, fontsize=7, color=color, va="bottom")
    ax.set_xlim(0, (hi - lo) / 1e6)  # the window around the anomaly; longer bars run off the edge
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([f"{shown_role(shown, p)} {p}" for p in lanes], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"ms from {lo / 1e9:.4f} s into the run")
    ax.set_title(f"{cell.key[0]} x {cell.key[1]} x {cell.key[2]}", fontsize=9)
    return _svg(fig)


def shown_role(ops: Sequence[Operation], process: int) -> str:
    return next(op.role for op in ops if op.process == process)


def _color(op: Operation, ids: Sequence[int]) -> str:
    if ids and op.id == ids[0]:
        return LOST
    if op.id in ids:
        return CLOBBER
    if not op.is_write:
        return READ
    return OK if op.type == "ok" else FAILED
