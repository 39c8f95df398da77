"""An application's migrations, paid once: schema templates (issue 28).

The application is ``tests/large_schema`` (12 Alembic revisions, 114 tables, configured once per
process). For each database:

- the reference: one set-up, the set-up of a run of one cell with ``RACE_HARNESS_TEMPLATES=off``
  (the migrations, in a process that starts cold as every run does), the median of three runs;
- a first run of 10 stress cells in one process, the template dropped beforehand (so this run makes
  it): the set-up time of all 10 cells added up, over the reference (target <= 1.5);
- a second run, a new process on the same server: it finds the template the first one left, so
  even its first cell copies instead of migrating;
- (not with --quick) the 10 cells with ``RACE_HARNESS_TEMPLATES=off``: each cell migrates, as before.

Each run is a process of its own, as a user's ``race-harness run`` is.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import BenchError, section, table
from race_harness.databases import resolve

CELLS = 10
TARGET = 1.5
ROOT = Path(__file__).resolve().parent.parent
_CELLS_SCRIPT = """
import json, sys
from race_harness.databases import resolve
from race_harness.matrix import run_cell
from race_harness.runner.config import RunConfig
from race_harness.strategies import get_strategy
from tests.large_schema.ledger import FIXED, LOST

(backend,) = resolve(sys.argv[1])
backend.start()
setups, declared = [], 0
try:
    for n in range(int(sys.argv[2])):
        scenario = LOST if n % 2 == 0 else FIXED
        cell = run_cell(scenario, get_strategy("app"), backend, RunConfig(writers=4, readers=0, ops=100))
        if cell.result is None:
            raise SystemExit(f"cell {n} did not run: {cell.not_run}")
        setups.append(cell.setup_s or 0.0)
        declared += cell.shown == scenario.expected["app"]
finally:
    backend.close()
print(json.dumps({"setups": setups, "declared": declared}))
"""


def _cells(db: str, cells: int, templates: bool = True) -> tuple[list[float], int]:
    """The set-up seconds of each cell of a run, and how many cells ended as declared."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not templates:
        env["RACE_HARNESS_TEMPLATES"] = "off"
    proc = subprocess.run(
        [sys.executable, "-c", _CELLS_SCRIPT, db, str(cells)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(f"the cells on {db} failed: {last[0]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return [float(x) for x in out["setups"]], int(out["declared"])


def _drop_template(db: str) -> tuple[str, str]:
    """Drop the application's template on ``db`` (the first run below makes it); the database's
    label and the template's name."""
    sys.path.insert(0, str(ROOT))
    from race_harness.entity import EntityTables
    from tests.large_schema.ledger import ENTITY

    (backend,) = resolve(db)
    backend.start()
    try:
        template = EntityTables(ENTITY, "ledger").template()
        assert template is not None
        if template.name in backend.template_names():
            backend.drop_template(template.name)
        return backend.label, template.name
    finally:
        backend.close()


def bench(dbs: list[str], quick: bool) -> None:
    section(
        "schema templates",
        f"tests/large_schema (114 tables, 12 Alembic revisions) x {CELLS} stress cells per run; each run a process",
    )
    rows: list[list[object]] = []
    for db in dbs:
        # the reference: the set-up of a run of one cell as it was before templates (the migrations,
        # in a process that starts cold, as a run does), the median of three such runs
        one = statistics.median(_cells(db, 1, templates=False)[0][0] for _ in range(3))
        off = _cells(db, CELLS, templates=False)[0] if not quick else None
        label, name = _drop_template(db)
        first, declared = _cells(db, CELLS)
        second, again = _cells(db, CELLS)
        rows.append(
            [
                label,
                f"{one:.2f} s",
                f"{sum(first):.2f} s",
                f"{sum(first) / one:.2f}x",
                f"{second[0] * 1000:.0f} ms",
                f"{sum(second):.2f} s",
                f"{sum(second) / one:.2f}x",
                f"{sum(off):.2f} s ({sum(off) / one:.1f}x)" if off is not None else "(--quick: not run)",
                f"{declared + again}/{2 * CELLS}",
            ]
        )
        print(f"   {label}: template {name}")
    table(
        rows,
        [
            "database",
            "one set-up (ref)",
            "1st run: set-up",
            "/ ref",
            "2nd run: 1st cell",
            "2nd run: set-up",
            "/ ref",
            "templates off",
            "as declared",
        ],
    )
    print("   one set-up (ref): a run of one cell with RACE_HARNESS_TEMPLATES=off (it migrates), median of 3 runs")
    print(f"   set-up: what the {CELLS} cells' set-ups add up to (making or copying the schema); target <= {TARGET}x")
    print("   2nd run: a new process on the same server, which finds the template the 1st run made")
    print("   as declared: cells of both runs whose verdict was the declared one (LOST lost, FIXED none)")
