"""What race-harness costs before it does any work: in a project's every pytest run (the plugin
autoloads), at ``race-harness --help``, and for one schedule replayed end to end.

Each figure is a whole process, timed from spawn to exit (best of N, the median beside it), next to
a reference process measured in the same run:

- pytest collection of a one-test project with the plugin blocked (``-p no:race_harness``: what
  pytest costs when race-harness is not loaded) and with it loaded: the difference is the plugin's.
  Hypothesis's plugin is blocked on both sides: it comes with the ``explore`` extra, not with
  race-harness itself;
- ``python -c pass`` (the interpreter's own start) beside ``race-harness --help``;
- ``import sqlalchemy, psycopg`` (the stack a replay on PostgreSQL cannot start without) beside
  ``race-harness replay -q -s glance_image_update --db DB`` (the named schedule, full-row): the
  difference is the harness's own share (its imports, the scratch database, the schedule, the verdict).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import BenchError, section, table

PLUGIN_TARGET_S = 0.050
HELP_TARGET_S = 0.3
# the harness's own share of a one-schedule replay: the process minus importing the stack it cannot
# start without (the whole process was held to 0.5 s before: import time alone nearly fills that)
REPLAY_SHARE_TARGET_S = 0.25


def _bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise BenchError(f"{name} is not installed beside {sys.executable}")
    return str(path)


# PYTHONDONTWRITEBYTECODE keeps pytest from caching the modules it rewrites (every module of a
# distribution with a pytest11 entry point), which costs a second a run that users do not pay
UNSET = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")


def _times(args: Sequence[str], cwd: Path, repeat: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120)
        out.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise BenchError(f"{' '.join(args[:4])} ... exited {proc.returncode}: {last[0]}")
    return out


def _pair(reference: Sequence[str], measured: Sequence[str], cwd: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Interleaved, so that a slow moment of the machine hits both sides alike."""
    ref: list[float] = []
    got: list[float] = []
    for _ in range(repeat):
        ref += _times(reference, cwd, 1)
        got += _times(measured, cwd, 1)
    return ref, got


def _row(what: str, ref_name: str, ref: list[float], got: list[float], target: float, extra: bool) -> list[object]:
    figure = min(got) - min(ref) if extra else min(got)
    return [
        what,
        f"{min(got) * 1000:.0f} ms (median {statistics.median(got) * 1000:.0f})",
        f"{ref_name}: {min(ref) * 1000:.0f} ms (median {statistics.median(ref) * 1000:.0f})",
        f"{figure * 1000:.0f} ms",
        f"< {target * 1000:.0f} ms",
        "yes" if figure < target else "no",
    ]


def bench(db: str, quick: bool) -> None:
    section(
        "startup",
        "whole processes, spawn to exit, best of N (median); reference measured in the same run, interleaved",
    )
    repeat = 3 if quick else 10
    python = sys.executable
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="race_harness_bench_") as tmp:
        project = Path(tmp)
        (project / "test_one.py").write_text("def test_one():\n    assert True\n")
        base = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
        ref, got = _pair([*base, "-p", "no:race_harness"], base, project, repeat)
        rows.append(_row("pytest --collect-only, plugin cost", "plugin blocked", ref, got, PLUGIN_TARGET_S, True))

        cli = _bin("race-harness")
        ref, got = _pair([python, "-c", "pass"], [cli, "--help"], project, repeat)
        rows.append(_row("race-harness --help", "python -c pass", ref, got, HELP_TARGET_S, False))

        replay = [cli, "replay", "-q", "-s", "glance_image_update", "--db", db]
        ref, got = _pair([python, "-c", "import sqlalchemy, psycopg"], replay, project, max(3, repeat // 2))
        rows.append(
            _row(f"one-schedule replay ({db})", "import sqlalchemy, psycopg", ref, got, REPLAY_SHARE_TARGET_S, True)
        )
    table(rows, ["what", "measured", "reference", "figure", "target", "met"])
    print(
        "   figure: the plugin's cost over the blocked run; the replay's over importing sqlalchemy and psycopg "
        "(the harness's own share); --help: the process itself"
    )
    if any(os.environ.get(name) for name in UNSET):
        print(f"   (measured with {' and '.join(UNSET)} unset, as in a user's shell)")
