"""Systematic exploration against frontrun 0.7.0: interleavings and wall time to the first counterexample.

For the Glance (ORM), Nova (Core) and counter races of :mod:`race_harness.examples` on one
PostgreSQL, both tools run the same unmodified application code from a process start:

- race-harness: ``race-harness explore -s race_harness.examples.APP:SCENARIO -d DB``, a subprocess
  timed from its start to its exit (scratch database, tables, every interleaving, the verdict);
- frontrun: ``frontrun python frontrun_peer.py RACE URL`` (its own command wrapper, which preloads
  its I/O interception), DPOR over the same functions with an invariant on the final state, timed
  the same way, in a database the benchmark makes for it.

frontrun is not a dependency: it is installed into a virtualenv of its own under the temporary
directory (``pip install frontrun==0.7.0 sqlglot``, once; later runs reuse it), which sees this
interpreter's packages for SQLAlchemy, the drivers and race-harness itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchError, section, start_backend, table

RACES = {"glance": "glance_orm", "nova": "nova_core", "counter": "counter_core"}
PEER = "frontrun==0.7.0"
PEER_DIR = Path(tempfile.gettempdir()) / "race-harness-bench-frontrun-0.7.0"


def _peer_venv() -> Path:
    """A virtualenv with frontrun 0.7.0 that sees this interpreter's packages (made once)."""
    python = PEER_DIR / "bin" / "python"
    if not (PEER_DIR / "bin" / "frontrun").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", PEER, "sqlglot"], capture_output=True, text=True, check=False
        )
        if pip.returncode != 0:
            last = (pip.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise BenchError(f"could not install {PEER} for the comparison: {last}")
    site = next((PEER_DIR / "lib").glob("python3*/site-packages"))
    # an import line in a .pth runs at start-up: this interpreter's site-packages (editable installs too)
    (site / "zz_race_harness.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    return PEER_DIR


def _ours(app: str, db: str) -> tuple[int, float, bool]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "race_harness.cli", "explore", "-s", f"race_harness.examples.{app}:SCENARIO", "-d", db],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - started
    found = re.search(r"^explored (\d+) of", proc.stdout, re.M)
    if proc.returncode != 0 or not found:
        raise BenchError(f"race-harness explore failed on {app}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return int(found.group(1)), seconds, "lost update in interleaving" in proc.stdout


def _peer(venv: Path, race: str, url: str) -> tuple[int, float, bool]:
    script = Path(__file__).with_name("frontrun_peer.py")
    started = time.monotonic()
    proc = subprocess.run(
        [str(venv / "bin" / "frontrun"), str(venv / "bin" / "python"), str(script), race, url],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - started
    line = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        out = json.loads(line)
    except json.JSONDecodeError:
        raise BenchError(f"frontrun failed on {race}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}") from None
    return int(out["explored"]), seconds, bool(out["found"])


def bench(pg: str, quick: bool) -> None:
    section(
        "explore",
        "interleavings and wall time (process start to exit) to the first lost update, same code, same PostgreSQL",
    )
    venv = _peer_venv()
    backend = start_backend(pg)
    rows = []
    try:
        for race, app in RACES.items():
            ours = _ours(app, pg)
            scratch = backend.create_database()  # the peer's tables live in a database of its own
            try:
                theirs = _peer(venv, race, scratch.url.render_as_string(hide_password=False))
            finally:
                scratch.drop()
            rows.append(
                [
                    race,
                    f"{ours[0]}" + ("" if ours[2] else " (not found)"),
                    f"{ours[1]:.2f}",
                    f"{theirs[0]}" + ("" if theirs[2] else " (not found)"),
                    f"{theirs[1]:.2f}",
                    f"{theirs[1] / ours[1]:.1f}x",
                ]
            )
    finally:
        backend.close()
    table(
        rows,
        ["race", "race-harness interleavings", "wall s", "frontrun 0.7.0 interleavings", "wall s", "frontrun/ours"],
    )
