"""What a user's own project does with the plugin, run in a project directory outside this repository
(a real pytest run in a subprocess), and every command a failure prints run from that directory:

- the README's Hypothesis recipe, extracted from README.md and run as written;
- a stress test of a strategy defined in the user's test module (registered nowhere) that loses
  updates under ``expect="none"``: its message gives the run command with the seed, the saved
  history's path, and the losing pair's schedule; the schedule reproduces 20/20 and the run command
  runs, both from the project's directory.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import table_rows

REPO = Path(__file__).resolve().parents[2]

OWN_CODE = '''
import pytest
from race_harness import Strategy
from race_harness.strategies.base import full_row_write


class VersionBumpNoCheck(Strategy):
    """The user's own save: bumps a version column but never checks it (registered nowhere)."""

    name = "app-version-bump"
    token = "version"

    def save(self, conn, tables, snapshot, intent, now):
        return full_row_write(conn, tables, snapshot, intent, now, extra={"version": tables.parent.c.version + 1})


@pytest.mark.race(expect="none")
def test_own_save_under_stress(race_runner):
    race_runner.stress("glance_image_update", VersionBumpNoCheck(), ops=120, seed=7)
'''


def _readme_recipe() -> str:
    text = (REPO / "README.md").read_text()
    marker = "<!-- tests/integration/test_plugin_recipes.py runs this block as written -->"
    block = text.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    return block


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _race_harness(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A printed command, run verbatim: ``race-harness`` is the installed console script."""
    args = shlex.split(command)
    assert args[0] == "race-harness", command
    return _run([str(Path(sys.executable).parent / "race-harness"), *args[1:]], cwd)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nrace_db = ["sqlite"]\n')
    return tmp_path


def test_the_readme_hypothesis_recipe_runs_as_written(project: Path) -> None:
    (project / "test_recipe.py").write_text(_readme_recipe())
    proc = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


def test_a_stress_failure_prints_commands_that_reproduce_it_from_the_project(project: Path) -> None:
    (project / "test_own.py").write_text(OWN_CODE)
    proc = _run([sys.executable, "-m", "pytest", "-q"], project)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = proc.stdout
    headline = r"expected none, lost \d+/\d+ on \S+ [\d.]+[^:]*: glance_image_update x app-version-bump \(stress\)"
    assert re.search(headline, out), out[-3000:]

    run = re.search(r"run it again with:\n\s+(race-harness run .+)", out)
    history = re.search(r"history: (\S+\.history\.jsonl)", out)
    replay = re.search(r"the losing pair as a schedule:\n\s+(race-harness replay .+)", out)
    assert run and history and replay, out[-3000:]
    assert "--seed 7" in run[1] and "--ops 120" in run[1] and "-S test_own.py:VersionBumpNoCheck" in run[1]
    assert (project / history[1]).is_file() or Path(history[1]).is_file()

    replayed = _race_harness(replay[1], project)
    assert replayed.returncode == 0, replayed.stderr
    assert re.search(r"reproduced 20/20", replayed.stdout), replayed.stdout[-2000:]

    rerun = _race_harness(run[1] + " -q --report-dir rerun", project)
    assert rerun.returncode == 0, rerun.stderr  # the user's strategy declares nothing: exit 0 either way
    rows = {(r["scenario"], r["strategy"]): r for r in table_rows(rerun.stdout)}
    assert rows[("glance_image_update", "app-version-bump")]["verdict"] == "lost", rerun.stdout[-2000:]
