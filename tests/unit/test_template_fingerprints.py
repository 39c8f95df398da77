"""Schema templates are keyed by what the application's ``create`` runs: a changed migration, a
changed command input or a changed callable's package makes a new template, nothing else does."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_harness import Alembic, Command
from race_harness.databases.templates import fingerprint, hash_paths, template_name, templates_enabled
from race_harness.errors import UsageError


def test_a_changed_migration_makes_a_new_template(tmp_path: Path) -> None:
    """The fingerprint follows the migrations' files: edit one, and the old template no longer serves."""
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r01.py").write_text("revision = 'r01'\n")
    migrations = Alembic(script_location=str(tmp_path / "migrations"))
    before = fingerprint(migrations)
    assert fingerprint(migrations) == before
    (versions / "r01.py").write_text("revision = 'r01'\n# changed\n")
    assert fingerprint(migrations) != before
    assert hash_paths([versions]) != hash_paths([tmp_path / "nowhere"])


def test_a_command_is_keyed_by_its_inputs_and_arguments(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id INT);\n")
    command = Command(["myapp-manage", "migrate", "{url}"], inputs=[str(tmp_path / "schema.sql")])
    before = fingerprint(command)
    assert fingerprint(Command(["myapp-manage", "upgrade", "{url}"], inputs=[str(tmp_path / "schema.sql")])) != before
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id INT, name TEXT);\n")
    assert fingerprint(command) != before


def test_a_callable_with_a_fingerprint_of_its_own_is_keyed_by_it() -> None:
    class Make:
        def __init__(self, version: str) -> None:
            self.version = version

        def __call__(self, url: str) -> None: ...

        def fingerprint(self) -> str:
            return self.version

    assert fingerprint(Make("1")) == fingerprint(Make("1")) != fingerprint(Make("2"))
    assert template_name(fingerprint(Make("1"))).startswith("race_harness_template_")


def test_templates_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert templates_enabled()
    for off in ("off", "0", "no", "false", "OFF"):
        monkeypatch.setenv("RACE_HARNESS_TEMPLATES", off)
        assert not templates_enabled()
    monkeypatch.setenv("RACE_HARNESS_TEMPLATES", "sometimes")
    with pytest.raises(UsageError, match=r"^RACE_HARNESS_TEMPLATES='sometimes': expected on or off$"):
        templates_enabled()


def test_a_checkout_elsewhere_has_the_same_fingerprint(tmp_path: Path) -> None:
    for where in ("a", "b"):
        (tmp_path / where / "versions").mkdir(parents=True)
        (tmp_path / where / "versions" / "r01.py").write_text("revision = 'r01'\n")
    assert fingerprint(Alembic(str(tmp_path / "a"))) == fingerprint(Alembic(str(tmp_path / "b")))
