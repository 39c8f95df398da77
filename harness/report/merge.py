"""Read any number of ``results.json`` files and merge them into one comparison.

Nothing is merged silently: a file of another format or version is refused with the reason, and a
cell measured twice (same scenario, strategy, database, isolation, scope and writer mode) keeps the
newer measurement and records a note naming both files.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from race_harness.errors import UsageError
from race_harness.report.json_report import FORMAT, VERSION
from race_harness.tally import Judged

CellKey = tuple[str, str, str, str, str, str]


@dataclass(frozen=True)
class RunInfo:
    """Where a results file was measured: its figures are only comparable with figures from the same run."""

    number: int  # 1, 2, ...: how the report refers to it
    source: Path
    created: str
    hostname: str
    cpus: int | None
    load_1m: float | None
    platform: str

    @property
    def where(self) -> str:
        """``ci-runner-3, 2 CPUs, load 0.4, at 2026-12-04T20:31:02+00:00``."""
        parts = [self.hostname or "an unnamed host"]
        if self.cpus:
            parts.append(f"{self.cpus} CPUs")
        if self.load_1m is not None:
            parts.append(f"load {self.load_1m:g}")
        return ", ".join(parts) + (f", at {self.created}" if self.created else "")


@dataclass
class ReportCell:
    data: dict[str, Any]
    source: Path  # the results.json it came from
    created: str
    run: int = 1  # the RunInfo.number of its source

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def key(self) -> CellKey:
        """What was asked for: scenario, strategy, database, requested isolation ("default": the
        database's own), scope, writer mode. Each database's default is one value, so databases with
        different defaults share a row instead of making a diagonal."""
        d = self.data
        # files written before requested_isolation existed only say what ran
        requested = d["requested_isolation"] if "requested_isolation" in d else d.get("isolation")
        return (
            d["scenario"],
            d["strategy"],
            d["database"],
            requested or "default",
            d.get("scope") or "separate",
            d.get("writers_in") or "threads",
        )

    @property
    def row(self) -> tuple[str, str, str]:
        """Everything but the database: one row of the matrix."""
        k = self.key
        return (k[0], k[1], f"{_short(k[3])} {k[4]}" + (" processes" if k[5] == "processes" else ""))

    @property
    def isolation_note(self) -> str:
        """The isolation that ran, when the row does not already say it (RC, RR, SER), else ''."""
        used = self.data.get("isolation")
        return _short(used) if used and used != self.key[3] else ""

    @property
    def name(self) -> str:
        """How a reader finds it: scenario x strategy x database, and what was asked when it is not the default."""
        asked = self.row[2]
        return " x ".join(self.key[:3]) + ("" if asked == "default separate" else f" ({asked})")

    @property
    def anchor(self) -> str:
        """The id of its finding in report.html and report.md: the same cell, the same link, in both."""
        return "f-" + re.sub(r"[^a-z0-9]+", "-", " ".join(self.key).lower()).strip("-")

    @property
    def judged(self) -> Judged:
        lost = f"lost {self.get('lost_writes')}/{self.get('acknowledged')}" if self.get("outcome") == "lost" else ""
        expected = self.get("expected")
        return Judged(self.name, None if expected == "n/a" else expected, str(self.get("outcome")), lost, self.anchor)

    @property
    def history_path(self) -> Path | None:
        rel = self.data.get("history")
        return self.source.parent / rel if rel else None

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.data.get("stats") or {})


@dataclass
class Merged:
    cells: list[ReportCell]
    sources: list[Path]
    notes: list[str] = field(default_factory=list)
    runs: list[RunInfo] = field(default_factory=list)

    @property
    def databases(self) -> list[str]:
        """By engine, then by version as numbers (mariadb 10.6 before 10.11), then the rest of the label."""
        return sorted({c.key[2] for c in self.cells}, key=database_order)

    @property
    def rows(self) -> list[tuple[str, str, str]]:
        """In the order first seen, each scenario's rows together: a strategy that only a later file has
        (a regression found by a newer run) sits with its scenario, not at the end of the matrix."""
        rows = list(dict.fromkeys(c.row for c in self.cells))
        first = {scenario: i for i, (scenario, _, _) in reversed(list(enumerate(rows)))}
        return sorted(rows, key=lambda row: first[row[0]])

    def runs_of(self, cells: Sequence[ReportCell]) -> list[RunInfo]:
        """The runs these cells were measured in, in file order."""
        numbers = {c.run for c in cells}
        return [r for r in self.runs if r.number in numbers]

    def cell(self, row: tuple[str, str, str], database: str) -> ReportCell | None:
        return next((c for c in self.cells if c.row == row and c.key[2] == database), None)


def database_order(label: str) -> tuple[str, tuple[int, ...], str]:
    """``mariadb 10.11.19 (container)`` -> ("mariadb", (10, 11, 19), "(container)")."""
    engine, _, rest = label.partition(" ")
    version, _, extra = rest.partition(" ")
    numbers = tuple(int(p) for p in re.findall(r"\d+", version))
    return engine, numbers, extra


def _short(isolation: str) -> str:
    return {"read-committed": "RC", "repeatable-read": "RR", "serializable": "SER"}.get(isolation, isolation)


def read_results(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no such results file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read {path} as JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(f"expected a race-harness results file (format {FORMAT!r}) but {path} is not one")
    if doc.get("version") != VERSION:
        raise UsageError(
            f"{path} has results format version {doc.get('version')!r}; this race-harness reads version {VERSION} "
            f"(re-run it, or use the race-harness version that wrote it)"
        )
    cells = doc.get("cells")
    if not isinstance(cells, list):
        raise UsageError(f"{path}: expected a list of cells under 'cells' but got {type(cells).__name__}")
    for number, cell in enumerate(cells):
        problem = _cell_problem(cell)
        if problem:
            raise UsageError(f"{path}: cell {number}: {problem}")
    return doc


OUTCOMES = {"lost": "lost-updates", "none": "no-lost-updates", "inconclusive": "inconclusive", "n/a": None}


def _cell_problem(cell: object) -> str | None:
    """What makes ``cell`` not a cell of this format, in a few words; None when it is one."""
    if not isinstance(cell, dict):
        return f"expected an object but got {type(cell).__name__}"
    for name in ("scenario", "strategy", "database", "outcome"):
        if not isinstance(cell.get(name), str):
            return f"expected a text {name!r} but got {cell.get(name)!r}"
    outcome = cell["outcome"]
    if outcome not in OUTCOMES:
        return f"expected outcome lost, none, inconclusive or n/a but got {outcome!r}"
    if outcome != "n/a" and cell.get("verdict") != OUTCOMES[outcome]:
        return f"verdict {cell.get('verdict')!r} contradicts outcome {outcome!r}"
    counts: dict[str, int] = {}
    for name in ("lost_writes", "acknowledged"):
        value = cell.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            return f"expected {name} to be an integer from 0 to {MAX_COUNT:.0e} but got {value!r}"
        counts[name] = value
    if counts["lost_writes"] > counts["acknowledged"]:
        return f"lost_writes={counts['lost_writes']} exceeds acknowledged={counts['acknowledged']}"
    stats = cell.get("stats", {})
    if not isinstance(stats, dict):
        return f"expected stats to be an object but got {type(stats).__name__}"
    for name, value in stats.items():  # figures (a histogram or a tally of reasons is an object: skipped)
        if isinstance(value, bool) or (isinstance(value, int | float) and not (math.isfinite(value) and value >= 0)):
            return f"expected stats.{name} to be a finite number >= 0 but got {value!r}"
    if outcome == "lost" and not isinstance(cell.get("history"), str):
        return "a lost cell without its history: expected 'history', the path of the cell's JSON-lines history"
    return None


MAX_COUNT = 10**10  # writes a cell can have acknowledged: run's -n stops at 10,000,000


def merge(paths: Sequence[Path]) -> Merged:
    if not paths:
        raise UsageError("expected at least one results.json to report on")
    merged = Merged([], [])
    by_key: dict[CellKey, ReportCell] = {}
    read: set[Path] = set()
    for path in paths:
        if path.resolve() in read:  # overlapping globs name a file twice: it is one run, read once
            merged.notes.append(f"{path} was given twice; it is read once")
            continue
        read.add(path.resolve())
        doc = read_results(path)
        merged.sources.append(path)
        found = doc.get("machine")
        machine: dict[str, Any] = found if isinstance(found, dict) else {}  # files before the field: unknown
        run = RunInfo(
            len(merged.sources),
            path,
            str(doc.get("created", "")),
            str(machine.get("hostname") or ""),
            machine.get("cpus") if isinstance(machine.get("cpus"), int) else None,
            machine.get("load_1m") if isinstance(machine.get("load_1m"), int | float) else None,
            str(doc.get("platform", "")),
        )
        merged.runs.append(run)
        if doc.get("partial"):
            merged.notes.append(f"{path} holds the cells of an interrupted run (partial)")
        for data in doc["cells"]:
            cell = ReportCell(data, path, run.created, run.number)
            old = by_key.get(cell.key)
            if old is not None:
                keep, drop = (cell, old) if cell.created >= old.created else (old, cell)
                merged.notes.append(
                    f"{' x '.join(cell.key[:3])} ({cell.key[3]}, {cell.key[4]}) was measured in {drop.source} and "
                    f"{keep.source}; the newer one ({keep.source}) is shown"
                )
                by_key[cell.key] = keep
            else:
                by_key[cell.key] = cell
    merged.cells = list(by_key.values())
    return merged


FIGURE_COLUMNS = (
    "scenario",
    "strategy",
    "asked",
    "database",
    "isolation",
    "verdict",
    "lost/ack",
    "raced",
    "in flight",
    "conflicts",
    "retries",
    "ops/s",
    "p50 ms",
    "p99 ms",
)


def raced_share(stats: dict[str, Any]) -> str:
    """Settled writes that raced an acknowledgement, as a share; "-" in files from before the figure."""
    settled = int(stats.get("ok", 0)) + int(stats.get("fail", 0))
    if "raced_writes" not in stats or not settled:
        return "-"
    return f"{100 * stats['raced_writes'] / settled:.0f}%"


def figure_rows(merged: Merged) -> list[list[str]]:
    """Every cell's figures, one row each, in a stable order (for the Markdown and the HTML report)."""
    rows = []
    for c in sorted(merged.cells, key=lambda c: (c.key[0], c.key[1], database_order(c.key[2]), c.key[3:])):
        s = c.stats
        rows.append(
            [
                *c.row,
                c.key[2],
                _short(str(c.get("isolation") or "-")),
                str(c.get("outcome")),
                f"{c.get('lost_writes', '-')}/{c.get('acknowledged', '-')}",
                raced_share(s),
                f"{s['in_flight_p50']:g}" if "in_flight_p50" in s else "-",
                str(s.get("conflicts", "-")),
                str(s.get("retries", "-")),
                f"{s.get('ops_per_s', 0):.0f}",
                f"{s.get('latency_p50_ms', 0):.1f}",
                f"{s.get('latency_p99_ms', 0):.1f}",
            ]
        )
    return rows
