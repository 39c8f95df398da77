"""The HTML report's timelines, drawn with matplotlib and returned as inline SVG text.

Text stays text (``svg.fonttype = "none"``): searchable, copyable and small; the browser draws it
with a local sans-serif font, so a report still fetches nothing when opened from disk.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from race_harness.events import Operation, session_name
from race_harness.history import History
from race_harness.report.merge import ReportCell

plt: Any
try:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")  # no display: render to files only
    from matplotlib import pyplot as plt
except ImportError:  # pragma: no cover - exercised only without the extra
    plt = None

LOST, CLOBBER, OK, FAILED, READ = "#d62728", "#ff7f0e", "#9aa5b1", "#e4e7eb", "#6baed6"
NEMESIS = "#f7d774"  # a fault the nemesis injected


MISSING = "the timelines need matplotlib: pip install 'race-harness[report]'"


def available() -> bool:
    """Whether timelines can be drawn; the Markdown report, the HTML tables and heat maps need no matplotlib."""
    return plt is not None


def require_matplotlib() -> None:
    if plt is None:
        from race_harness.errors import UsageError

        raise UsageError("race-harness report draws charts with matplotlib: pip install 'race-harness[report]'")


FONTS = "'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif"
# text stays <text> (searchable, copyable, a fraction of the size of glyph paths); the browser draws
# it with the fonts named above, so the page still fetches nothing
STYLE: Any = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 8}


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = re.sub(r"<\?xml[^>]*>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    return re.sub(r"font-family: ?'?DejaVu Sans'?", f"font-family: {FONTS}", svg)


def timeline(cell: ReportCell, anomaly: dict[str, Any], max_ops: int = 60) -> str | None:
    """Jepsen-style timeline around one anomaly: sessions as lanes (named as the text names them),
    operations as bars on the text's own time axis (seconds into the run), and on each highlighted
    operation its read, its write and its acknowledgement marked."""
    require_matplotlib()
    path = cell.history_path
    ids = list(anomaly.get("ops") or [])
    if path is None or not path.exists() or not ids:
        return None
    if anomaly.get("kind") in ("lost-update", "stale-write", "removed-child"):  # ops: the lost write, then the other
        roles = ("lost", "overwrote it")
    else:  # same-read-overwrite: they read one version; the later commits wrote over the earlier one
        roles = ("overwritten", "wrote over it from the same read")
    history = History.read_jsonl(path)
    ops = {op.id: op for op in history.operations()}
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
    with matplotlib.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, max(2.4, 0.42 * len(lanes) + 1.2)))
        for op in shown:
            x0 = op.start / 1e9
            width = max(((op.end or hi) - op.start) / 1e9, (hi - lo) / 1e9 / 400)
            color = _color(op, ids)
            ax.broken_barh(
                [(x0, width)],
                (lane[op.process] - 0.3, 0.6),
                facecolors=color,
                edgecolor="#52606d",
                linewidth=0.4,
                hatch="//" if op.type == "info" else None,
            )
            if op.id in ids:
                _mark(ax, op, lane[op.process], color, roles[0] if op.id == ids[0] else roles[1])
        for fault in history.faults:  # what the nemesis did meanwhile: a band across every lane
            if fault.end >= lo and fault.start <= hi:
                ax.axvspan(fault.start / 1e9, max(fault.end, fault.start + (hi - lo) // 200) / 1e9,
                           color=NEMESIS, alpha=0.35, zorder=0)  # fmt: skip
                ax.annotate(fault.name, (max(fault.start, lo) / 1e9, -0.75), fontsize=7, color="#8d6e00")
        ax.set_xlim(lo / 1e9, hi / 1e9)  # the window around the anomaly; longer bars run off the edge
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.4f"))
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([_lane_name(shown, p) for p in lanes], fontsize=8)
        ax.set_ylim(len(lanes) - 0.4, -0.9)
        ax.set_xlabel("seconds into the run (the times the text gives)")
        ax.set_title(f"{cell.key[0]} x {cell.key[1]} x {cell.key[2]}", fontsize=9)
        return _svg(fig)


def _mark(ax: Any, op: Operation, y: int, color: str, role: str) -> None:
    """The moments of a highlighted operation: read (its last attempt's, else its start), write, acknowledgement."""
    moments = [("read", op.read_at if op.read_at is not None else op.start, "v")]
    if op.write_at is not None:
        moments.append(("write", op.write_at, "D"))
    if op.end is not None:
        moments.append(({"ok": "ack", "fail": "refused"}.get(op.type, "ended?"), op.end, "o"))
    for name, at, marker in moments:
        ax.plot([at / 1e9], [y], marker=marker, color="#1f2933", markersize=4, zorder=3)
        ax.annotate(name, (at / 1e9, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7)
    ax.annotate(
        f"op {op.id} {role}",
        (op.start / 1e9, y),
        xytext=(0, -11),
        textcoords="offset points",
        fontsize=8,
        color=color,
        fontweight="bold",
        va="top",
    )


def _lane_name(ops: Sequence[Operation], process: int) -> str:
    """As the explanations name it: "session F"; a reader says so."""
    role = next(op.role for op in ops if op.process == process)
    return f"session {session_name(process)}" + (" (reader)" if role == "reader" else "")


def _color(op: Operation, ids: Sequence[int]) -> str:
    if ids and op.id == ids[0]:
        return LOST
    if op.id in ids:
        return CLOBBER
    if not op.is_write:
        return READ
    return OK if op.type == "ok" else FAILED
