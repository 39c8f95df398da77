"""The comparison table a person reads at the end of a run (plain text: it goes to CI logs as is)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from race_harness.matrix import CellResult

COLUMNS = (
    "scenario",
    "strategy",
    "database",
    "isolation",
    "scope",
    "writers",
    "verdict",
    "expected",
    "lost/ack",
    "overlap",
    "same-read",
    "conflicts",
    "retries",
    "ops/s",
    "p50-ms",
    "p99-ms",
)


ISOLATION_SHORT = {"read-committed": "RC", "repeatable-read": "RR", "serializable": "SER"}


def _row(cell: CellResult) -> list[str]:
    expected = cell.expected or "-"
    verdict = cell.shown + ("" if cell.matches in (True, None) else " !")
    plan = [ISOLATION_SHORT[cell.plan.isolation], cell.plan.scope] if cell.plan else ["-", "-"]
    head = [cell.scenario, cell.strategy, cell.database, *plan, cell.writers_in]
    if cell.result is None:
        return [*head, verdict, expected] + ["-"] * 8
    r, s = cell.result, cell.result.stats
    return [
        *head,
        verdict,
        expected,
        f"{r.lost_writes}/{r.acknowledged}",
        str(s.overlapping_write_pairs),
        str(s.same_read_pairs),
        str(s.conflicts),
        str(s.retries),
        f"{s.ops_per_s:.0f}",
        f"{s.latency_p50_ms:.1f}",
        f"{s.latency_p99_ms:.1f}",
    ]


def plain_table(rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns for logs and pipes: the header, a dashed rule that marks each column, the rows."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(cells: Sequence[CellResult]) -> str:
    return plain_table([list(COLUMNS)] + [_row(c) for c in cells])


LEGEND = (
    "verdict: lost = an acknowledged update was lost (evidence in results.json); none = no lost update\n"
    "  despite contention; inconclusive = no contention or a harness error, never a pass; n/a = not run.\n"
    "  ' !' marks a verdict that differs from the scenario's declared one.\n"
    "isolation: RC read committed, RR repeatable read, SER serializable.  scope: separate = read and write\n"
    "  in two transactions (the seed bugs), single = one transaction.  writers: threads or OS processes.\n"
    "lost/ack: acknowledged writes (or increments) lost / acknowledged.  overlap: pairs of writes to one\n"
    "  entity that overlapped in time (contention).  same-read: pairs of acknowledged writes that read the\n"
    "  same version.  conflicts: save attempts refused or aborted.  ops/s, p50/p99: acknowledged writes."
)


def format_not_run(cells: Sequence[CellResult]) -> str:
    reasons = sorted({c.not_run for c in cells if c.not_run and "is not a scenario for" not in c.not_run})
    return "\n".join(f"- n/a: {r}" for r in reasons)


def format_evidence(cells: Sequence[CellResult], per_scenario: int = 1) -> str:
    """One plain-language example of a lost update per scenario."""
    shown: dict[str, int] = {}
    lines = []
    for cell in cells:
        if cell.result is None or shown.get(cell.scenario, 0) >= per_scenario:
            continue
        lost = [a for a in cell.result.anomalies if a.kind in ("lost-update", "counter-lost")]
        if lost:
            shown[cell.scenario] = shown.get(cell.scenario, 0) + 1
            lines.append(f"- {cell.scenario} x {cell.strategy} x {cell.database}: {lost[0].explanation}")
    return "\n".join(lines)


VERDICT_STYLE = {"lost": "bold red", "none": "green", "inconclusive": "yellow", "n/a": "dim"}


def print_rich_table(cells: Sequence[CellResult], console: Console) -> None:
    """The same table for a person at a terminal: aligned boxes, verdicts in colour."""
    table = Table(*COLUMNS, box=box.SIMPLE_HEAVY, header_style="bold")
    for cell in cells:
        row = _row(cell)
        verdict = COLUMNS.index("verdict")
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

    def __enter__(self) -> CellProgress:
        if self.fancy:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fancy:
            self._bar.stop()

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


def _detail(cell: CellResult) -> str:
    r = cell.result
    if r is None:
        return f"({cell.not_run})"
    setup = f" (+ {cell.setup_s:.2f} s the application's schema set-up)" if cell.setup_s is not None else ""
    return f"({r.lost_writes}/{r.acknowledged} lost) in {cell.wall_s:.1f} s{setup}"
