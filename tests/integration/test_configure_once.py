"""An application that can be configured once per process (oslo.db's enginefacade raises
AlreadyStartedError on a second configuration) runs unmodified in every mode: ``run`` with several
cells, ``replay --repeat 20``, ``explore``, and a pytest module of several race tests. The harness
gives every scratch database it makes for such an application in one process the same name
(:attr:`race_harness.Scenario.database_key`), so the application stays pointed at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import race_harness
from tests.integration.conftest import cli_db

APP = Path(__file__).parent / "once"
DATABASES = ["postgres", "mysql", "sqlite"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for source in APP.glob("*.py"):
        shutil.copy(source, tmp_path / source.name)
    return tmp_path


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "AlreadyStartedError" not in proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", DATABASES)
def test_run_with_several_cells_configures_the_application_once(project: Path, name: str) -> None:
    db = cli_db(name)
    args = ["run", "-s", "once_app.py:LOST", "-s", "once_app.py:FIXED", "-d", db, "-w", "8", "-n", "400"]
    _ok(race_harness(*args, "--think-ms", "5", "-q", cwd=project, timeout=600))
    (results,) = (project / "reports").glob("run-*/results.json")
    cells = {c["scenario"]: c for c in json.loads(results.read_text())["cells"]}
    assert cells["once_notes"]["outcome"] == "lost", cells["once_notes"]["anomalies"][:1]
    assert cells["once_notes_fixed"]["outcome"] == "none"


@pytest.mark.parametrize("name", DATABASES)
def test_replay_explore_and_a_module_of_race_tests_configure_it_once(project: Path, name: str) -> None:
    db = cli_db(name)
    schedule = "A=retitle B=rewrite A.read B.read A.write B.write"
    out = _ok(race_harness("replay", "-s", "once_app.py:LOST", "-d", db, "--schedule", schedule, "--repeat", "20",
                           "-q", cwd=project))  # fmt: skip
    assert "reproduced 20/20" in out, out
    _ok(race_harness("explore", "-s", "once_app.py:LOST", "-d", db, cwd=project))
    (project / "pyproject.toml").write_text(f'[tool.pytest.ini_options]\nrace_db = ["{name}"]\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_XDIST_WORKER")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "once_races.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout, proc.stdout[-2000:]


def test_a_stable_name_is_never_taken_from_a_database_still_open() -> None:
    """Two databases for one key at once (two schedule runners in one test): the second gets a fresh
    name instead of dropping the first from under it; once the first is dropped, the name is free."""
    from race_harness.databases import resolve

    (backend,) = resolve("sqlite")
    backend.start()
    try:
        first = backend.scratch_for("app.db:configure")
        second = backend.scratch_for("app.db:configure")
        assert first.name != second.name
        second.drop()
        first.drop()
        again = backend.scratch_for("app.db:configure")
        assert again.name == first.name
        again.drop()
    finally:
        backend.close()
