"""Every exit code means one thing: a loss the scenario declares that did not happen is exit 5 in
``run``, ``replay`` and ``explore`` (never a pass), and a harness error in a session is reported as
that (the session, the exception, where it was raised) by the CLI, in results.json and by the pytest
plugin, never as a race that did not happen."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.cli import race_harness

RACES = """
from dataclasses import replace

from race_harness import Scenario
from race_harness.examples import documents_core

# the fixed code, declared (wrongly) to lose updates: the declared loss cannot reproduce
MISDECLARED = replace(documents_core.FIXED, name="misdeclared", expected={"app": "lost"})


def _crash(ctx):
    return [][ctx.seq]  # a bug in the scenario's own code: every session dies on its first write


BROKEN = Scenario(
    "broken", entity=documents_core.FIXED.entity, next_write=_crash, expected={"app": "none"}
)
"""

NAIVE = "race_harness.examples.documents_core:SCENARIO"
SCHEDULE = "A=retitle B=edit_body A.read B.read A.write B.write"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "races.py").write_text(RACES)
    return tmp_path


def test_run_and_explore_exit_5_when_a_declared_loss_does_not_happen(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    proc = race_harness("run", "-s", "races.py:MISDECLARED", "--db", "sqlite", "--report-dir", "out", cwd=cwd)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "NOT REPRODUCED: app is declared to lose updates in misdeclared but came out none on sqlite" in proc.stderr
    (results,) = (cwd / "out").glob("run-*/results.json")  # the results are written all the same
    (cell,) = json.loads(results.read_text())["cells"]
    assert (cell["expected"], cell["outcome"], cell["matches_expectation"]) == ("lost", "none", False)
    proc = race_harness("explore", "-s", "races.py:MISDECLARED", "--db", "sqlite", cwd=cwd)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "NOT REPRODUCED: misdeclared is declared to lose updates but no interleaving explored did" in proc.stderr


def test_replay_holds_a_reproduction_to_what_it_declares(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    missed = race_harness("replay", "-s", "races.py:MISDECLARED", "--schedule", SCHEDULE, "--db", "sqlite", cwd=cwd)
    assert missed.returncode == 5, missed.stdout + missed.stderr
    assert "sqlite 3" in missed.stdout and ": not reproduced, 0/1 lost" in missed.stdout
    assert "NOT REPRODUCED: the schedule is expected to lose an update (misdeclared declares" in missed.stderr
    found = race_harness("replay", "-s", NAIVE, "--schedule", SCHEDULE, "--db", "sqlite", "--repeat", "3", cwd=cwd)
    assert found.returncode == 0 and "reproduced 3/3" in found.stdout, found.stdout + found.stderr
    wrong = race_harness("replay", "-s", NAIVE, "--schedule", SCHEDULE, "--db", "sqlite", "--expect", "none", cwd=cwd)
    assert wrong.returncode == 1 and "FAIL:" in wrong.stderr, wrong.stdout + wrong.stderr


def test_a_session_that_crashes_is_a_harness_error_with_where_it_was_raised(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    proc = race_harness("run", "-s", "races.py:BROKEN", "--db", "sqlite", "--report-dir", "out", cwd=cwd)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("INCONCLUSIVE:"))
    assert "runner: session" in line and "IndexError: list index out of range (at races.py:" in line, line
    assert "in _crash)" in line and "no contention" not in line, line
    (results,) = (cwd / "out").glob("run-*/results.json")
    (cell,) = json.loads(results.read_text())["cells"]
    assert any("IndexError" in e and "races.py" in e for e in cell["checker_errors"]), cell["checker_errors"]


PLUGIN_TESTS = """
import pytest

import races


@pytest.mark.race(expect="none")
def test_broken(race_runner):
    race_runner.stress(races.BROKEN)


@pytest.mark.race(expect="lost")
def test_misdeclared(race_runner):
    race_runner.stress(races.MISDECLARED, ops=40)
"""


def test_the_plugin_names_a_harness_error_and_a_loss_that_did_not_reproduce(tmp_path: Path) -> None:
    cwd = _project(tmp_path)
    (cwd / "test_inner.py").write_text(PLUGIN_TESTS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--race-db", "sqlite", "-q", "test_inner.py"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "2 failed" in report, report
    assert re.search(
        r"expected none, inconclusive on sqlite [\d.]+: broken x app \(stress\): a harness error: runner: session",
        report,
    ), report
    assert "IndexError: list index out of range (at races.py:" in report and "the race never happened" not in report
    assert re.search(
        r"expected lost, not reproduced on sqlite [\d.]+: none of 1 race run\(s\) lost an update", report
    ), report
