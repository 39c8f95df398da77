"""Frameworks as teams use them: a Django application and a FastAPI service, each its own project in
``tests/outside_app/``, installed non-editable into a fresh virtualenv beside a non-editable
race-harness, driven from their own directories on PostgreSQL, MariaDB/MySQL and SQLite.

- ``django_bookshop``: Django's ORM on its own connections (psycopg 3, mysqlclient, sqlite3), its
  schema by ``migrate``, its tests through pytest-django beside race-harness's plugin. The naive
  ``save()``, a stock count saved back and a tag set replaced from a stale read lose updates;
  ``save(update_fields=...)``, ``select_for_update()``, a version check that retries, ``F()`` and
  ``get_or_create`` do not, while their requests raced.
- ``fastapi_notes``: each operation a client's real HTTP requests through the ASGI app (Starlette's
  TestClient); the naive PATCH loses, the If-Match PATCH with a client that retries on 412 does not.

Through ``run`` (stress), a phase ``replay``, ``explore`` and the plugin: naive code ``lost`` (a
stress burst that misses is tried again with the next seed), fixed code ``none`` with contention;
every replay command printed reproduces the loss 20/20, run verbatim from the project's directory;
no scratch database of these runs is left on a server, and no database file in the project.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from race_harness.databases.creators import creator_of
from tests.cli import printed_command
from tests.installs import _build_and_install, ok, run
from tests.integration.conftest import get_backend
from tests.integration.test_outside_app import _servers

APPS = Path(__file__).resolve().parents[1] / "outside_app"
DJANGO_NAIVE = ["SAVE", "STOCK", "TAGS"]
DJANGO_FIXED = ["UPDATE_FIELDS", "LOCKED", "CHECKED", "STOCK_F", "TAGS_ADDED"]
# the pair of operations each scenario's phase schedule runs, session A's then B's
DJANGO_PAIRS = {"SAVE": "A=retitle B=reblurb", "STOCK": "A=receive B=sell", "TAGS": "A=tag B=tag"}
LOST_PAIR = "A.read B.read A.write B.write"
SEEDS = 4  # a stress burst that misses a naive loss is tried again with the next seed


@pytest.fixture(scope="module")
def venv() -> Iterator[Path]:
    """race-harness's wheel and both projects (with their test extras) in one fresh virtualenv."""
    root = Path(tempfile.mkdtemp(prefix="race_harness_venv_"))
    try:
        bin_dir = _build_and_install(root)
        apps = [f"{APPS / 'django_bookshop'}[test,mysql]", f"{APPS / 'fastapi_notes'}[test]"]
        ok(run([str(bin_dir / "python"), "-m", "pip", "install", "-q", *apps], root, timeout=900), "pip install")
        yield bin_dir
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _project(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(APPS / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    return target


class _Tracked:
    """Commands run in the project's directory, and the ids of the processes that ran them: the
    scratch databases a process makes carry its id, so those left behind are found by it."""

    def __init__(self, venv: Path, cwd: Path) -> None:
        self.venv, self.cwd, self.pids = venv, cwd, set[int]()

    def __call__(self, args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run(args, self.cwd, timeout=timeout, venv_bin=self.venv, pids=self.pids)

    def left_behind(self) -> list[str]:
        """Scratch databases on the servers made by these commands' processes."""
        left = []
        for name in ("postgres", "mysql"):
            try:
                backend = get_backend(name)
            except pytest.skip.Exception:
                continue
            for db in backend.leftover_databases():
                creator = creator_of(db)
                if creator is not None and creator.pid in self.pids:
                    left.append(f"{db} on {backend.label}")
        return left


def _dbs() -> list[str]:
    return ["sqlite", *_servers()]


def _plugin(sh: _Tracked, dbs: list[str], tests: int) -> list[str]:
    """The project's own tests through the plugin on every database; the replay commands it saved."""
    report = sh.cwd / "race-report"
    args = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--race-report-dir", str(report)]
    out = ok(sh([*args, *(f"--race-db={db}" for db in dbs)]), "the project's tests")
    assert f"{tests} passed" in out, out
    lines = [json.loads(line) for line in (report / "results.jsonl").read_text().splitlines()]
    for line in lines:
        if "naive" in str(line["test"]):
            assert line["verdict"] == "lost-updates", line
    assert any(line["verdict"] == "no-lost-updates" and int(line["contention"]) > 0 for line in lines), lines
    return sorted({str(line["replay_command"]) for line in lines if "replay_command" in line})


def _stress(sh: _Tracked, refs: list[str], naive: list[str], db: str) -> None:
    """``race-harness run`` over every scenario: the naive ones lost, the others none with contention.
    A fixed one that loses fails at once; a burst that misses a naive loss (exit 5) or in which a fixed
    one's writes did not race (exit 3: a loaded machine) is tried again with the next seed."""
    scenarios = [a for ref in refs for a in ("-s", f"tests.races:{ref}")]
    for seed in range(SEEDS):
        args = ["race-harness", "run", "-q", *scenarios, "-d", db, "-w", "8", "-n", "8", "--think-ms", "50"]
        proc = sh([*args, "--seed", str(seed), "--report-dir", str(sh.cwd / "runs")])
        assert proc.returncode in (0, 3, 5), f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        results = sorted((sh.cwd / "runs").glob("run-*/results.json"), key=lambda p: p.stat().st_mtime)[-1]
        cells = json.loads(results.read_text())["cells"]
        assert len(cells) == len(refs) and len([c for c in cells if c["expected"] == "lost"]) == len(naive), cells
        for cell in cells:
            assert cell["expected"] == "lost" or cell["outcome"] != "lost", cell  # never a fixed one lost
        caught = all(c["outcome"] == "lost" for c in cells if c["expected"] == "lost")
        raced = all(c["outcome"] == "none" and c["stats"]["raced_writes"] > 0 for c in cells if c["expected"] == "none")
        if caught and raced:
            assert proc.returncode == 0, proc.stdout[-2000:]
            return
    raise AssertionError(f"not every naive cell lost and every fixed one raced in {SEEDS} bursts on {db}: {cells}")


def _explore(sh: _Tracked, naive: str, fixed: str, db: str) -> list[str]:
    """``explore``: the naive scenario's loss found (its printed replay command returned), the fixed
    one's interleavings all explored, none with contention."""
    found = sh(["race-harness", "explore", "-s", f"tests.races:{naive}", "-d", db])
    assert found.returncode == 0, f"{found.stdout[-2000:]}\n{found.stderr[-2000:]}"
    safe = sh(["race-harness", "explore", "-s", f"tests.races:{fixed}", "-d", db])
    assert safe.returncode == 0 and "no lost update in any of" in safe.stdout, safe.stdout[-2000:] + safe.stderr
    assert "with contention" in safe.stdout, safe.stdout[-2000:]
    return [shlex.join(printed_command(found.stdout))]


def _replays(sh: _Tracked, commands: list[str]) -> None:
    for command in commands:
        assert command.startswith("race-harness replay ") and "--repeat 20" in command, command
        proc = sh(shlex.split(command), timeout=600)
        assert proc.returncode == 0 and "reproduced 20/20" in proc.stdout, f"{command}\n{proc.stdout}\n{proc.stderr}"


def _schedules(sh: _Tracked, pairs: dict[str, str], db: str) -> None:
    """A phase replay of each naive scenario's lost pair, 20/20."""
    for ref, ops in pairs.items():
        command = ["race-harness", "replay", "-s", f"tests.races:{ref}", "-d", db, "--schedule", f"{ops} {LOST_PAIR}"]
        proc = sh([*command, "--repeat", "20"], timeout=600)
        assert proc.returncode == 0 and "reproduced 20/20" in proc.stdout, f"{command}\n{proc.stdout}\n{proc.stderr}"


def test_a_django_application_through_every_mode(venv: Path, tmp_path: Path) -> None:
    app, dbs = _project("django_bookshop", tmp_path), _dbs()
    sh = _Tracked(venv, app)
    commands = _plugin(sh, dbs, tests=9 * len(dbs) + 1)  # 9 race tests per database, and a plain Django one
    assert len(commands) >= len(DJANGO_NAIVE) * len(dbs), commands
    for db in dbs:
        _stress(sh, DJANGO_NAIVE + DJANGO_FIXED, DJANGO_NAIVE, db)
        _schedules(sh, DJANGO_PAIRS, db)
        commands += _explore(sh, "SAVE", "CHECKED", db)
    _replays(sh, commands)
    assert not sh.left_behind(), sh.left_behind()
    assert not [p.name for p in app.rglob("*.sqlite3")], "Django's own database file was made in the project"


def test_a_fastapi_service_through_every_mode(venv: Path, tmp_path: Path) -> None:
    app, dbs = _project("fastapi_notes", tmp_path), _dbs()
    sh = _Tracked(venv, app)
    commands = _plugin(sh, dbs, tests=4 * len(dbs))
    for db in dbs:
        _stress(sh, ["PATCH", "IF_MATCH"], ["PATCH"], db)
        _schedules(sh, {"PATCH": "A=set_title B=set_body"}, db)
        commands += _explore(sh, "PATCH", "IF_MATCH", db)
    _replays(sh, commands)
    assert not sh.left_behind(), sh.left_behind()
