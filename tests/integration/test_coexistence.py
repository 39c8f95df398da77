"""race-harness inside somebody else's project, installed the way users get it.

The package is built (sdist, then the wheel from that sdist, so the sdist is proven complete) and
installed, non-editable and without extras, into a fresh virtualenv outside this repository. A user
project with its own ``harness`` and ``scenarios`` packages at its root then runs its own tests with
the plugin loaded, and ``race-harness`` from that directory finds the bundled scenarios. The same
install is where missing extras show: ``report`` must write its Markdown without matplotlib.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.installs import ok as _ok
from tests.installs import run as _run

USER_TESTS = """
import sys

import harness
import scenarios
import pytest


def test_own_packages_win(pytestconfig):
    assert harness.OWNER == "user" and scenarios.OWNER == "user"
    assert pytestconfig.pluginmanager.has_plugin("race_harness")


def test_plugin_loaded_nothing_heavy():
    heavy = {"sqlalchemy", "numpy", "psycopg", "pymysql", "hypothesis"} & set(sys.modules)
    assert not heavy, heavy


@pytest.mark.race(expect="lost")
def test_bundled_scenario_through_the_plugin(race_runner):
    race_runner.schedule("A.read B.read A.write B.write", "counter", "full-row")
"""


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    for package in ("harness", "scenarios"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('OWNER = "user"\n')
    (tmp_path / "test_app.py").write_text(textwrap.dedent(USER_TESTS))
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nrace_db = ["sqlite"]\n')
    return tmp_path


def test_a_project_with_its_own_harness_and_scenarios_packages(installed: Path, user_project: Path) -> None:
    out = _ok(_run([str(installed / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], user_project), "pytest")
    assert "3 passed" in out, out

    out = _ok(
        _run([str(installed / "race-harness"), "run", "-q", "-s", "counter", "--db", "sqlite"], user_project),
        "race-harness run",
    )
    results = Path(out.split("results: ")[-1].split()[0])
    cells = json.loads((user_project / results).read_text())["cells"]
    assert {c["scenario"] for c in cells} == {"counter"} and len(cells) == 5

    # the base install has no matplotlib: the Markdown report and the HTML heat maps are complete, the HTML
    # says that its timelines are missing and why
    assert _run([str(installed / "python"), "-c", "import matplotlib"], user_project).returncode != 0
    proc = _run([str(installed / "race-harness"), "report", str(results), "-o", "merged"], user_project)
    _ok(proc, "race-harness report")
    assert "pip install 'race-harness[report]'" in proc.stderr
    assert "| counter |" in (user_project / "merged" / "report.md").read_text()
    page = (user_project / "merged" / "report.html").read_text()
    assert 'id="no-timelines"' in page and '<figure class="chart" id="chart-lost-rate">' in page

    version = _ok(_run([str(installed / "race-harness"), "--version"], user_project), "--version")
    assert version.startswith("race-harness ")

    # the main job on the zero-setup default, from the wheel (one test: the install is built once per worker)
    args = [str(installed / "race-harness"), "run", "-q", "-s", "counter", "-S", "full-row", "-S", "version-occ"]
    out = _ok(_run([*args, "-n", "60", "--report-dir", "embedded-run"], user_project), "race-harness run (embedded)")
    assert "(embedded)" in out and "lost" in out, out
