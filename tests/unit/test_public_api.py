"""The public API in ``race_harness/__init__.py``: every name resolves, the lazy table and the names
type checkers read agree, and loading the package, its pytest plugin or its CLI imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import race_harness

HEAVY = ("sqlalchemy", "numpy", "psycopg", "pymysql", "hypothesis", "rich", "matplotlib", "testcontainers")


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    import importlib

    for name in race_harness.__all__:
        module = importlib.import_module(race_harness._EXPORTS[name])
        assert getattr(race_harness, name) is getattr(module, name), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = race_harness.nope  # type: ignore[attr-defined]


def test_the_lazy_table_and_the_type_checking_imports_name_the_same_things() -> None:
    tree = ast.parse(Path(race_harness.__file__).read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    imported = {
        alias.name: node.module for node in guarded.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert imported == race_harness._EXPORTS
    assert sorted(race_harness.__all__) == sorted(race_harness._EXPORTS)


@pytest.mark.parametrize("module", ["race_harness", "race_harness.pytest_plugin", "race_harness.cli"])
def test_loading_imports_nothing_heavy(module: str) -> None:
    """What every pytest run of a project with race-harness installed pays, and --help."""
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_help_and_version_answer_without_loading_the_harness() -> None:
    code = (
        "import sys\nfrom race_harness.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("race-harness ") and proc.stdout.strip().endswith("[]"), proc.stdout


# what a replay on a server must not pay for before its verdict: the ORM (only for calls that take a
# Session), NumPy (preloaded while the database is made), SQLite's driver, psutil (the embedded
# server's, and for names without a start in clock ticks)
NOT_BEFORE_THE_VERDICT = ["numpy", "sqlalchemy.orm", "sqlite3", "psutil"]


def test_a_replay_loads_its_verdict_code_only_for_the_verdict() -> None:
    modules = "race_harness.cli, race_harness.runner.schedule, race_harness.databases, race_harness.strategies"
    code = (
        f"import sys, {modules}\nfrom race_harness.scenario import get_scenario\n"
        "from race_harness.strategies import get_strategy\n"
        "get_scenario('glance_image_update'); get_strategy('full-row')\n"
        f"print(sorted(m for m in {NOT_BEFORE_THE_VERDICT!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


def test_preload_imports_in_the_background_and_leaves_errors_to_the_importer() -> None:
    code = (
        "import sys\nfrom race_harness.preload import preload\n"
        "preload('no_such_module_here', 'json').join()\n"
        "print('json' in sys.modules)\n"  # stopped at the first failure: json was not reached
        "preload('json').join()\nprint('json' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "True"], proc.stdout + proc.stderr
