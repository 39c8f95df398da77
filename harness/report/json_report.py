"""Results and histories on disk: ``results.json`` plus one JSON-lines history per cell.

``results.json`` carries ``format`` and ``version`` so later readers (``race-harness report``) can
refuse what they do not understand instead of silently misreading it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from race_harness.databases.base import Backend
from race_harness.databases.urls import mask_url
from race_harness.matrix import CellResult
from race_harness.report.files import write_atomic
from race_harness.runner import RunConfig

FORMAT = "race-harness-results"
VERSION = 1


def harness_version() -> str:
    try:
        return version("race-harness")
    except PackageNotFoundError:
        return "unknown"


def machine() -> dict[str, object]:
    """Where and under what load a run was measured: a merged report shows it beside figures from elsewhere."""
    try:
        load: float | None = round(os.getloadavg()[0], 2)
    except OSError:  # not every platform has a load average
        load = None
    return {"hostname": socket.gethostname(), "cpus": os.cpu_count(), "load_1m": load}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def new_run_dir(root: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = root / f"run-{stamp}-{uuid.uuid4().hex[:6]}"
    (path / "histories").mkdir(parents=True)
    return path


def write_results(
    run_dir: Path,
    cells: Sequence[CellResult],
    backends: Sequence[Backend],
    configs: Sequence[RunConfig],
    argv: Sequence[str],
    *,
    partial: bool = False,
) -> Path:
    """``partial``: the run was interrupted and these are the cells it finished."""
    out_cells = []
    for cell in cells:
        entry: dict[str, object] = {
            "scenario": cell.scenario,
            "strategy": cell.strategy,
            "database": cell.database,
            "expected": cell.expected,
            # what ran, or for a cell that could not run, what was asked for (None: the database's default)
            "isolation": cell.plan.isolation if cell.plan else cell.requested[0],
            # what was asked for (None: the database's default), the key of a comparison row
            "requested_isolation": cell.requested[0],
            "scope": cell.plan.scope if cell.plan else cell.requested[1],
            "writers_in": cell.writers_in,
            "not_run": cell.not_run,
            "outcome": cell.shown,  # the table's word: lost | none | inconclusive | n/a
            "matches_expectation": cell.matches,
            "wall_s": round(cell.wall_s, 3),
        }
        if cell.setup_s is not None:
            entry["setup_s"] = round(cell.setup_s, 3)  # the application's migrations, apart from the run
        if cell.result is not None:
            entry.update(cell.result.to_json())  # adds "verdict": lost-updates | no-lost-updates | inconclusive
            entry["initial_state"] = cell.initial
            entry["final_state"] = cell.final
        if cell.history is not None and cell.history.faults:
            counts: dict[str, int] = {}
            for fault in cell.history.faults:
                counts[fault.name] = counts.get(fault.name, 0) + 1
            entry["nemesis"] = counts  # each fault is a line of the history, with its times and detail
        if cell.history is not None:
            rel = Path("histories") / f"{_slug(cell.scenario)}--{_slug(cell.strategy)}--{_slug(cell.database)}.jsonl"
            cell.history.write_jsonl(run_dir / rel)
            entry["history"] = str(rel)
        out_cells.append(entry)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "harness_version": harness_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": machine(),
        "command": [mask_url(a) for a in argv],
        "configs": [asdict(c) for c in configs],
        "databases": [{"label": b.label, "family": b.family, "source": b.source} for b in backends],
        "cells": out_cells,
    }
    if partial:
        doc["partial"] = True
    path = run_dir / "results.json"
    write_atomic(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path
