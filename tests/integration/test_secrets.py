"""No password is ever printed: every form a URL can carry one in, through every command's error path,
a successful run's output, its results.json, its JUnit XML, and the merged report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import race_harness

from .conftest import get_backend

SECRETS = ("hunter2", "ss:w", "w@rd")  # nothing of any password below may show
FORMS = {
    "reserved characters unescaped": "postgresql://rhpw:ss:w@rd@127.0.0.1:1/db",
    "an @ in the user name": "mysql://user@corp:hunter2@127.0.0.1:1/test",
    "password= in the query": "postgresql://rh@127.0.0.1:1/db?password=hunter2",
    "passwd= in the query": "mysql://root@127.0.0.1:1/test?passwd=hunter2",
    "sslpassword= in the query": "postgresql://rh@127.0.0.1:1/db?connect_timeout=2&sslpassword=hunter2",
}
COMMANDS = {
    "run": ["run", "-s", "counter", "-S", "version-occ", "-q"],
    "replay": ["replay", "-s", "counter", "-S", "full-row"],
    "explore": ["explore", "-s", "race_harness.examples.documents_core:SCENARIO"],
    "p4": ["p4", "-q"],
    "list": ["list"],
    "clean": ["clean"],
}


def _shows_a_secret(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.mark.parametrize("form", FORMS)
def test_no_error_path_prints_a_password(tmp_path: Path, form: str) -> None:
    for name, args in COMMANDS.items():
        proc = race_harness(*args, "-d", FORMS[form], cwd=tmp_path, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode in ((0,) if name == "list" else (2,)), f"{name}: {out}"
        assert "Traceback" not in out and not _shows_a_secret(out), f"{name} with {form}: {out}"


def test_a_url_from_the_environment_is_masked_too(tmp_path: Path) -> None:
    env = {"RACE_HARNESS_POSTGRES_URL": "postgresql://rh:hunter2@127.0.0.1:1/db?sslpassword=hunter2"}
    for name, args in COMMANDS.items():
        proc = race_harness(*args, "-d", "postgres", cwd=tmp_path, env=env, timeout=120)
        assert not _shows_a_secret(proc.stdout + proc.stderr), f"{name}: {proc.stdout}{proc.stderr}"


def test_a_run_that_connects_with_a_password_shows_it_nowhere(tmp_path: Path) -> None:
    """The local PostgreSQL trusts 127.0.0.1, so a password in the URL is accepted and ignored: the run is
    real, and neither its output, its results, its JUnit XML nor the report made from them shows it."""
    pg = get_backend("postgres")
    url = pg.admin_url.set(password="hunter2").render_as_string(hide_password=False)  # type: ignore[attr-defined]
    url += "?sslpassword=hunter2" if "?" not in url else "&sslpassword=hunter2"
    args = ["-s", "counter", "-S", "version-occ", "-n", "20", "-q", "--report-dir", "out", "--junit-xml", "j.xml"]
    proc = race_harness("run", *args, "-d", url, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (results,) = (tmp_path / "out").glob("run-*/results.json")
    report = race_harness("report", str(results), "-o", "merged", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    written = [results, tmp_path / "j.xml", tmp_path / "merged" / "report.md", tmp_path / "merged" / "report.html"]
    for text in [proc.stdout + proc.stderr, report.stdout + report.stderr, *(p.read_text() for p in written)]:
        assert not _shows_a_secret(text), text[:2000]
    assert "***" in results.read_text()  # the URL is there, masked
