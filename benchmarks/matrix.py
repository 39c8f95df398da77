"""Wall time of the default matrix: every scenario x the seed strategies x PostgreSQL, MariaDB/MySQL
and SQLite, as the CLI runs it (one cell after another) and as ``pytest -n 2`` runs the same cells
(``test_declared_verdict``, which also reruns a cell that did not prove its race). The reference is
the sum of the cells' own run times from the CLI's results.json: the time the runs themselves take.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchError, section, table
from race_harness.scenario import get_scenario, scenario_names
from race_harness.strategies import DEFAULT_SPECS, get_strategy

ROOT = Path(__file__).resolve().parent.parent
DBS = ("postgres", "mysql", "sqlite")


def _node_ids() -> list[str]:
    return [
        f"tests/integration/test_verdicts.py::test_declared_verdict[{db}-{scenario}-{spec}]"
        for db in DBS
        for scenario in scenario_names()
        for spec in DEFAULT_SPECS
        if get_scenario(scenario).expectation(get_strategy(spec)) != "n/a"
    ]


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, out


def bench(quick: bool) -> None:
    missing = [var for var in ("RACE_HARNESS_POSTGRES_URL", "RACE_HARNESS_MYSQL_URL") if not os.environ.get(var)]
    if missing:
        raise BenchError(f"the matrix benchmark runs on the servers in ${missing[0]}, which is not set")
    env = dict(os.environ, RACE_HARNESS_BACKENDS=",".join(DBS), RACE_HARNESS_REQUIRE=",".join(DBS[:2]))
    ids = _node_ids()
    section(
        "default matrix",
        f"{len(ids)} cells: {len(scenario_names())} scenarios x {', '.join(DEFAULT_SPECS)} x {', '.join(DBS)}",
    )
    with tempfile.TemporaryDirectory() as reports:
        cli_s, cli = _run(
            [sys.executable, "-m", "race_harness.cli", "run", "-q", "--report-dir", reports, *_db_args()], env
        )
        if cli.returncode not in (0, 1):
            raise BenchError(f"race-harness run failed (exit {cli.returncode}): {_last(cli)}")
        results = next(Path(reports).glob("*/results.json"))
        cells_s = sum(c.get("wall_s") or 0.0 for c in json.loads(results.read_text())["cells"])
    rows = [("race-harness run (CLI)", f"{cli_s:.1f} s", f"{cli_s / cells_s:.2f}x", f"exit {cli.returncode}")]
    if not quick:
        pytest_s, py = _run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", *ids], env)
        if py.returncode != 0:
            raise BenchError(f"pytest -n 2 on the default matrix failed (exit {py.returncode}): {_last(py)}")
        rows.append(
            ("pytest -n 2 (test_declared_verdict)", f"{pytest_s:.1f} s", f"{pytest_s / cells_s:.2f}x", _last(py))
        )
    table(rows, ["how", "wall", "vs sum of cell runs", "result"])
    print(f"   sum of the CLI's cell run times (reference): {cells_s:.1f} s; target: pytest -n 2 < 60 s")


def _db_args() -> list[str]:
    return [arg for db in DBS for arg in ("--db", db)]


def _last(out: subprocess.CompletedProcess[str]) -> str:
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[-1] if lines else "no output"
