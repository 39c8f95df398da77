"""The comparison table a person reads at the end of a run (plain text: it goes to CI logs as is)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from race_harness.checkers import CheckResult
from race_harness.checkers.result import headline
from race_harness.matrix import CellResult
from race_harness.report.text import pack, plain_width, wrap

GAP = 2
ISOLATION_SHORT = {"read-committed": "RC", "repeatable-read": "RR", "serializable": "SER"}


@dataclass(frozen=True)
class Column:
    name: str
    value: Callable[[CellResult], str]
    # key: names the cell (printed once as a heading when the same in every row, never dropped);
    # keep: a figure never dropped; else dropped when the table does not fit, lowest drop first
    key: bool = False
    keep: bool = False
    drop: int = 0


def _stat(fmt: Callable[[CheckResult], str]) -> Callable[[CellResult], str]:
    """A figure of a cell that ran; "-" for one that did not."""
    return lambda c: "-" if c.result is None else fmt(c.result)


def _raced(r: CheckResult) -> str:
    settled = r.stats.ok + r.stats.fail
    return f"{100 * r.stats.raced_writes / settled:.0f}%" if settled else "-"


def _verdict(c: CellResult) -> str:
    return c.shown + ("" if c.matches in (True, None) else " !")


COLUMNS = (
    Column("scenario", lambda c: c.scenario, key=True),
    Column("strategy", lambda c: c.strategy, keep=True),
    Column("database", lambda c: c.database, key=True),
    Column("isolation", lambda c: ISOLATION_SHORT[c.plan.isolation] if c.plan else "-", key=True),
    Column("scope", lambda c: c.plan.scope if c.plan else "-", key=True),
    Column("writers", lambda c: c.writers_in, key=True),
    Column("verdict", _verdict, keep=True),  # before "expected": the answer, then what it should be
    Column("expected", lambda c: c.expected or "-", keep=True),
    Column("lost/ack", _stat(lambda r: f"{r.lost_writes}/{r.acknowledged}"), keep=True),
    Column("raced", _stat(_raced), drop=8),
    Column("in-flight", _stat(lambda r: f"{r.stats.in_flight_p50:g}"), drop=3),
    Column("same-read", _stat(lambda r: str(r.stats.same_read_pairs)), drop=2),
    Column("conflicts", _stat(lambda r: str(r.stats.conflicts)), drop=9),
    Column("retries", _stat(lambda r: str(r.stats.retries)), drop=4),
    Column("ops/s", _stat(lambda r: f"{r.stats.ops_per_s:.0f}"), drop=5),
    Column("p50-ms", _stat(lambda r: f"{r.stats.latency_p50_ms:.1f}"), drop=1),
    Column("p99-ms", _stat(lambda r: f"{r.stats.latency_p99_ms:.1f}"), drop=6),
)

LEGEND_ENTRIES = {
    "verdict": "lost = an acknowledged update was lost (evidence in results.json); none = no lost update "
    "although writes raced; inconclusive = no contention or a harness error, never a pass; n/a = not run; "
    "' !' = differs from the scenario's declared verdict (expected).",
    "isolation": "the level that ran: RC read committed, RR repeatable read, SER serializable.",
    "scope": "separate = read and write in two transactions (the seed bugs); single = one transaction.",
    "writers": "threads or OS processes.",
    "lost/ack": "acknowledged writes (or increments) lost / acknowledged.",
    "raced": "contention, measured: share of settled writes during which another write to the same entity "
    "was acknowledged (a read taken at their start was stale by their end); a cell with no raced write, no "
    "conflict and no same-read pair is inconclusive.",
    "in-flight": "median writes to one entity in flight, itself included, as a write ended.",
    "same-read": "pairs of acknowledged writes that read the same version.",
    "conflicts": "save attempts refused or aborted.",
    "retries": "extra attempts (--on-conflict retry, serializable-retry).",
    "ops/s": "acknowledged writes per second.",
    "p50-ms": "median latency of acknowledged writes.",
    "p99-ms": "99th-percentile latency of acknowledged writes.",
}


# the default legend: a few words per column shown, packed on a few lines (--legend: LEGEND_ENTRIES)
SHORT_LEGEND = {
    "verdict": "none: nothing lost, writes raced",
    "inconclusive": "inconclusive: proved nothing",
    "!": "' !': not as expected",
    "isolation": "RC/RR/SER: read committed/repeatable read/serializable",
    "lost/ack": "lost/ack: writes lost / acknowledged",
    "raced": "raced: writes that raced another's acknowledgement",
    "in-flight": "in-flight: median writes in flight",
    "same-read": "same-read: pairs that read one version",
    "conflicts": "conflicts: saves refused",
    "retries": "retries: extra attempts",
    "ops/s": "ops/s: acknowledged writes/s",
    "p50-ms": "p50-ms: median write latency",
    "p99-ms": "p99-ms: write latency, 99th percentile",
}


@dataclass
class Layout:
    """What fits: the heading (values the same in every row), the columns shown, the ones left out;
    ``stacked`` when even the columns that are never left out do not fit the width."""

    heading: list[tuple[str, str]]
    columns: list[Column]
    rows: list[list[str]]
    dropped: list[str]
    stacked: bool
    width: int

    def lines(self) -> list[str]:
        out = []
        if self.heading:
            out += pack([f"{n} {v}" for n, v in self.heading], self.width, sep=" · ", first="in every row: ")
            out.append("")
        if self.stacked:
            return out + self.stacked_lines()
        header = [c.name for c in self.columns]
        out.append(plain_table([header, *self.rows]))
        return "\n".join(out).split("\n")

    def stacked_lines(self) -> list[str]:
        """One block per cell: what it is, then its figures, wrapped at the width."""
        out: list[str] = []
        for row in self.rows:
            named = dict(zip((c.name for c in self.columns), row, strict=True))
            title = [named.pop(c.name) for c in self.columns if c.key or c.name == "strategy"]
            out += pack(title, self.width, sep=" · ")
            out += pack([f"{k} {v}" for k, v in named.items()], self.width, indent="  ")
        return out


def layout(cells: Sequence[CellResult], width: int) -> Layout:
    columns = list(COLUMNS)
    rows = [[col.value(c) for col in columns] for c in cells]
    heading: list[tuple[str, str]] = []
    for i in reversed(range(len(columns))):
        values = {r[i] for r in rows}
        # a column of zero retries (and n/a cells' "-") says nothing per row: once in the heading
        constant = (len(values) == 1 and columns[i].key) or (columns[i].name == "retries" and values <= {"0", "-"})
        if constant and rows:
            heading.insert(0, (columns[i].name, "0" if columns[i].name == "retries" else rows[0][i]))
            del columns[i]
            for r in rows:
                del r[i]
    dropped: list[str] = []
    every_column, every_row = list(columns), [list(r) for r in rows]

    def needed() -> int:
        widths = [max(len(c.name), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        return sum(widths) + GAP * (len(widths) - 1)

    while needed() > width:
        optional = [(c.drop, i) for i, c in enumerate(columns) if not (c.key or c.keep)]
        if not optional:  # stacked: every figure, wrapped, instead of a table with none
            return Layout(heading, every_column, every_row, [], True, width)
        _, i = min(optional)
        dropped.append(columns[i].name)
        del columns[i]
        for r in rows:
            del r[i]
    return Layout(heading, columns, rows, dropped, False, width)


def plain_table(rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns for logs and pipes: the header, a dashed rule that marks each column, the rows."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [(" " * GAP).join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, (" " * GAP).join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(cells: Sequence[CellResult], width: int | None = None) -> str:
    return "\n".join(layout(cells, width or plain_width()).lines())


def format_legend(cells: Sequence[CellResult], width: int | None = None, *, full: bool = False) -> str:
    """What the table shows, wrapped at the width: a few lines naming the columns shown, or with
    ``full`` (``--legend``) a paragraph per column; and what it left out at this width."""
    width = width or plain_width()
    shown = layout(cells, width)
    names = {name for name, _ in shown.heading} | {c.name for c in shown.columns}
    left_out = f"not shown at {width} columns: {', '.join(shown.dropped)}" if shown.dropped else ""
    if full:
        entries = [f"{n}: {LEGEND_ENTRIES[n]}" for n in LEGEND_ENTRIES if n in names or n == "verdict"]
        if left_out:
            entries.append(f"{left_out} (every figure is in results.json)")
        return "\n".join(wrap(e, width) for e in entries)
    short = [text for n, text in SHORT_LEGEND.items() if n in names or n in ("verdict", "inconclusive", "!")]
    tail = [left_out] if left_out else []
    return "\n".join(pack([*short, *tail, "--legend: every column explained"], width, sep=" · "))


def format_not_run(cells: Sequence[CellResult], width: int | None = None) -> str:
    reasons = sorted({c.not_run for c in cells if c.not_run and "is not a scenario for" not in c.not_run})
    return "\n".join(wrap(f"- n/a: {r}", width or plain_width()) for r in reasons)


def format_evidence(cells: Sequence[CellResult], per_scenario: int = 1, width: int | None = None) -> str:
    """One plain-language example of a lost update (or other failing finding) per scenario, wrapped at the width."""
    shown: dict[str, int] = {}
    lines = []
    for cell in cells:
        if cell.result is None or shown.get(cell.scenario, 0) >= per_scenario:
            continue
        at = headline([a.kind for a in cell.result.anomalies])
        if at is not None:
            shown[cell.scenario] = shown.get(cell.scenario, 0) + 1
            text = f"- {cell.scenario} x {cell.strategy} x {cell.database}: {cell.result.anomalies[at].explanation}"
            lines.append(wrap(text, width or plain_width()))
    return "\n".join(lines)


VERDICT_STYLE = {"lost": "bold red", "none": "green", "inconclusive": "yellow", "n/a": "dim"}


def print_rich_table(cells: Sequence[CellResult], console: Console) -> None:
    """The same layout for a person at a terminal, at the console's width, verdicts in colour."""
    shown = layout(cells, console.width)
    if shown.heading:
        for line in pack([f"{n} {v}" for n, v in shown.heading], console.width, sep=" · ", first="in every row: "):
            console.print(line, highlight=False, soft_wrap=True)
        console.print()
    if shown.stacked:
        for line in shown.stacked_lines():
            console.print(line, highlight=False, soft_wrap=True)
        return
    # no box, one space of padding each side: columns GAP apart, exactly the width layout() measured
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold underline", expand=False)
    for col in shown.columns:
        table.add_column(col.name, no_wrap=True)
    verdict = [c.name for c in shown.columns].index("verdict")
    for cell, row in zip(cells, shown.rows, strict=True):
        row = list(row)
        row[verdict] = f"[{VERDICT_STYLE.get(cell.shown, '')}]{row[verdict]}[/]"
        table.add_row(*row)
    console.print(table)


class CellProgress:
    """Progress over the cells of a run: a rich bar with ETA on a terminal, plain lines otherwise."""

    def __init__(self, total: int, *, quiet: bool, console: Console) -> None:
        self.quiet = quiet
        self.fancy = not quiet and console.is_terminal
        self._width = len(str(total))
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("starting", total=total)
        self._open = False  # a plain "[i/n] cell ..." line waits for its verdict

    def __enter__(self) -> CellProgress:
        if self.fancy:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fancy:
            self._bar.stop()
        self.end_line()

    def end_line(self) -> None:
        """Finish a plain progress line left open by an interrupted cell, so what follows starts a line."""
        if self._open:
            print(file=sys.stderr, flush=True)
            self._open = False

    def __call__(self, i: int, total: int, name: str, cell: CellResult | None) -> None:
        if self.quiet:
            return
        if self.fancy:
            if cell is None:
                self._bar.update(self._task, description=name)
            else:
                self._bar.advance(self._task)
                self._bar.console.print(f"{name}: [{VERDICT_STYLE.get(cell.shown, '')}]{cell.shown}[/] {_detail(cell)}")
            return
        if cell is None:
            print(f"[{i:>{self._width}}/{total}] {name} ...", end="", file=sys.stderr, flush=True)
        else:
            print(f" {cell.shown} {_detail(cell)}", file=sys.stderr, flush=True)
        self._open = cell is None


def _detail(cell: CellResult) -> str:
    r = cell.result
    if r is None:
        return f"({cell.not_run})"
    setup = f" (+ {cell.setup_s:.2f} s the application's schema set-up)" if cell.setup_s is not None else ""
    return f"({r.lost_writes}/{r.acknowledged} lost) in {cell.wall_s:.1f} s{setup}"
