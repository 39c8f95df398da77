"""An application's migrations run once per server, not once per cell (issue 28): the first run makes
a schema template, later cells and later runs get a copy of it, and a copy a run has used is given
back exactly what a fresh copy holds before it serves again.

``tests/large_schema`` is the application: 12 Alembic revisions, 114 tables, an engine configured once
per process. Its migrations write a line to ``$LEDGER_MIGRATION_LOG`` each time they run, which is how
these tests count them (no timing: the benchmark ``python -m benchmarks schema`` has the figures)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL

from race_harness.databases import Backend, resolve
from race_harness.databases.templates import SchemaTemplate
from race_harness.entity import EntityTables
from race_harness.runner.receipts import RECEIPTS
from tests.cli import race_harness
from tests.integration.conftest import cli_db, get_backend
from tests.large_schema.ledger import ENTITY

LEDGER = str(Path(__file__).parents[1] / "large_schema" / "ledger.py")
DATABASES = ["postgres", "mysql", "sqlite"]


@pytest.fixture
def sqlite_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SQLite's templates in a folder of the test's own, so that clean --templates touches no other."""
    folder = tmp_path / "sqlite-templates"
    monkeypatch.setenv("RACE_HARNESS_SQLITE_TEMPLATES", str(folder))
    return folder


def _backend(name: str) -> Iterator[Backend]:
    (backend,) = resolve(cli_db(name))
    backend.start()
    try:
        yield backend
    finally:
        backend.close()


def _cells(project: Path) -> list[dict[str, object]]:
    (results,) = project.glob("run-*/results.json")
    cells: list[dict[str, object]] = json.loads(results.read_text())["cells"]
    for path in project.glob("run-*"):
        for f in sorted(path.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        path.rmdir()
    return cells


@pytest.mark.parametrize("name", DATABASES)
def test_the_migrations_run_once_per_server_and_not_again_in_a_later_run(
    name: str, tmp_path: Path, sqlite_templates: Path
) -> None:
    template = EntityTables(ENTITY, "ledger").template()
    assert template is not None
    for backend in _backend(name):
        if template.name in backend.template_names():
            backend.drop_template(template.name)  # this run makes it
    log = tmp_path / "migrations.log"
    env = {"LEDGER_MIGRATION_LOG": str(log)}
    args = ["run", "-s", f"{LEDGER}:LOST", "-s", f"{LEDGER}:FIXED", "-s", f"{LEDGER}:LOST", "-d", cli_db(name)]
    args += ["-w", "8", "-n", "300", "-q", "--report-dir", str(tmp_path)]

    first = race_harness(*args, cwd=tmp_path, env=env, timeout=600)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "AlreadyStartedError" not in first.stdout + first.stderr  # configured once, cell after cell
    assert log.read_text().count("upgrade") == 1  # three cells, one migration: the template's
    assert [c["outcome"] for c in _cells(tmp_path)] == ["lost", "none", "lost"]
    for backend in _backend(name):
        assert template.name in backend.template_names()

    second = race_harness(*args, cwd=tmp_path, env=env, timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert log.read_text().count("upgrade") == 1  # a later run copies the template: no migration at all
    assert [c["outcome"] for c in _cells(tmp_path)] == ["lost", "none", "lost"]

    off = race_harness(*args, cwd=tmp_path, env={**env, "RACE_HARNESS_TEMPLATES": "off"}, timeout=600)
    assert off.returncode == 0, off.stdout[-2000:] + off.stderr[-2000:]
    assert log.read_text().count("upgrade") == 4  # templates off: each cell migrates, as before
    assert [c["outcome"] for c in _cells(tmp_path)] == ["lost", "none", "lost"]


@pytest.mark.parametrize("name", ["postgres", "mysql"])
def test_a_run_that_fails_later_still_publishes_the_template_it_made(name: str, tmp_path: Path) -> None:
    """The first cell made the template's database and was done with it; a later scenario's seed
    fails (exit 2): the template is published all the same, and the next run does not migrate."""
    template = EntityTables(ENTITY, "ledger").template()
    assert template is not None
    for backend in _backend(name):
        if template.name in backend.template_names():
            backend.drop_template(template.name)
    log = tmp_path / "migrations.log"
    env = {"LEDGER_MIGRATION_LOG": str(log)}
    failed = race_harness(
        "run", "-s", f"{LEDGER}:LOST", "-s", f"{LEDGER}:BROKEN", "-d", cli_db(name), "-q",
        "--report-dir", str(tmp_path), cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert failed.returncode == 2 and "its seed raised RuntimeError: no such account" in failed.stderr, failed.stderr
    assert log.read_text().count("upgrade") == 1
    for backend in _backend(name):
        assert template.name in backend.template_names()
    again = race_harness(
        "run", "-s", f"{LEDGER}:LOST", "-d", cli_db(name), "-q", "--report-dir", str(tmp_path),
        cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert log.read_text().count("upgrade") == 1  # the template the failed run published served


@pytest.mark.parametrize("templates", ["on", "off"])
@pytest.mark.parametrize("name", DATABASES)
def test_every_repetition_starts_from_what_the_migrations_left(
    name: str, templates: str, tmp_path: Path, sqlite_templates: Path
) -> None:
    """A replay's repetitions and an exploration's interleavings each start where the migrations
    left the database: the seed's accounts refer to the currencies a data migration wrote, so a
    repetition that emptied every table instead fails its seed (a foreign key, on the servers)."""
    env = {"RACE_HARNESS_TEMPLATES": templates}
    schedule = "A=rename B=change_email A.read B.read A.write B.write"
    replay = race_harness(
        "replay", "-s", f"{LEDGER}:LOST", "-d", cli_db(name), "--schedule", schedule, "--repeat", "5", "-q",
        cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert replay.returncode == 0 and "reproduced 5/5" in replay.stdout, replay.stdout[-2000:] + replay.stderr
    explore = race_harness("explore", "-s", f"{LEDGER}:FIXED", "-d", cli_db(name), cwd=tmp_path, env=env, timeout=600)
    assert explore.returncode == 0, explore.stdout[-2000:] + explore.stderr[-2000:]
    assert "no lost update in any of" in explore.stdout and "with contention" in explore.stdout, explore.stdout


# --- a copy a run has used serves again only as a fresh copy would be ----------------------------

MD = MetaData()
KINDS = Table("kinds", MD, Column("code", String(8), primary_key=True), Column("label", String(40)))
ITEMS = Table(
    "items",
    MD,
    Column("id", Integer, primary_key=True),  # autoincrement: a SERIAL / AUTO_INCREMENT counter
    Column("kind", String(8), ForeignKey("kinds.code"), nullable=False),
    Column("name", String(40), nullable=False),
)


def _make_schema(url: URL) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            MD.create_all(conn)
            conn.execute(insert(KINDS), [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}])  # a data migration
            conn.execute(insert(ITEMS).values(kind="a", name="first"))  # and a row with a counter behind it
    finally:
        engine.dispose()


def _contents(url: URL) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            kinds = [tuple(r) for r in conn.execute(select(KINDS).order_by(KINDS.c.code))]
            items = [tuple(r) for r in conn.execute(select(ITEMS).order_by(ITEMS.c.id))]
        return kinds, items
    finally:
        engine.dispose()


def _use(url: URL) -> None:
    """What a run does to its copy: rows in every table, the counter moved on, the harness's receipts."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            RECEIPTS.create(conn)
            conn.execute(insert(RECEIPTS).values(op="A-1"))
            conn.execute(insert(KINDS).values(code="c", label="C"))
            conn.execute(KINDS.update().values(label="changed"))
            conn.execute(insert(ITEMS), [{"kind": "c", "name": f"n{i}"} for i in range(5)])
            conn.execute(ITEMS.delete().where(ITEMS.c.name == "first"))
    finally:
        engine.dispose()


def _next_id(url: URL) -> int:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(ITEMS).values(kind="a", name="probe"))
            return int(conn.execute(select(ITEMS.c.id).where(ITEMS.c.name == "probe")).scalar_one())
    finally:
        engine.dispose()


def _use_twice(backend: Backend, template: SchemaTemplate) -> str:
    """A copy a run uses, then the next copy in the same process: it holds what a fresh copy holds.
    The name of the database, which the backend keeps for its next copy."""
    first = backend.scratch_for("templates-test", template)
    assert first.template == template.name and first.schema_made
    assert _contents(first.url) == FRESH
    assert _next_id(first.url) == 2
    _use(first.url)
    first.drop()
    again = backend.scratch_for("templates-test", template)
    assert again.name == first.name or backend.family == "sqlite"  # on a server, the same database reset
    engine = create_engine(again.url)
    assert not inspect(engine).has_table(RECEIPTS.name)  # a cell's receipts are never the next one's
    engine.dispose()
    assert _contents(again.url)[0] == FRESH[0]  # the template's rows back, the run's gone
    assert [r[1:] for r in _contents(again.url)[1]] == [r[1:] for r in FRESH[1]]
    assert _next_id(again.url) == 2  # the counter back where the fresh copy had it
    again.drop()
    return again.name


FRESH = ([("a", "A"), ("b", "B")], [(1, "a", "first")])


@pytest.mark.parametrize("name", ["postgres", "mysql", "sqlite"])
def test_a_used_copy_is_given_back_what_a_fresh_copy_holds(name: str, sqlite_templates: Path) -> None:
    """The run that makes a template (on a server: in the database its first cell uses, published when
    the backend closes) and a later run that copies it: every copy, fresh or reused, holds exactly
    what the template does, and the template holds what the migrations made, not what a run wrote."""
    template = SchemaTemplate(f"test-{uuid.uuid4().hex}", _make_schema)
    try:
        for backend in _backend(name):  # the run that makes it
            kept = _use_twice(backend, template)
        for backend in _backend(name):  # a later run: the template is there, with the fresh contents
            assert template.name in backend.template_names()
            assert kept not in backend.leftover_databases()  # the copy the first run kept is gone
            kept = _use_twice(backend, template)
        for backend in _backend(name):
            assert kept not in backend.leftover_databases()
    finally:
        for backend in _backend(name):
            if template.name in backend.template_names():
                backend.drop_template(template.name)
            assert template.name not in backend.template_names()


@pytest.mark.parametrize("name", ["container:postgres:15", "container:mariadb:10.11"])
def test_a_used_copy_is_given_back_what_a_fresh_copy_holds_in_a_container(name: str) -> None:
    _use_twice(get_backend(name), SchemaTemplate(f"test-{uuid.uuid4().hex}", _make_schema))


@pytest.mark.parametrize("name", ["postgres", "mysql"])
def test_a_copy_whose_tables_a_run_changed_is_not_reused(name: str) -> None:
    """A run that made a table of its own (an application's DDL): its copy is dropped, and the next
    one is made afresh, with the template's tables only."""
    template = SchemaTemplate(f"test-{uuid.uuid4().hex}", _make_schema)
    try:
        for backend in _backend(name):
            first = backend.scratch_for("templates-test", template)
            engine = create_engine(first.url)
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE made_by_the_run (id INT PRIMARY KEY)"))
            engine.dispose()
            first.drop()
            again = backend.scratch_for("templates-test", template)
            engine = create_engine(again.url)
            assert sorted(inspect(engine).get_table_names()) == ["items", "kinds"]
            engine.dispose()
            assert _contents(again.url) == FRESH
            again.drop()
    finally:
        for backend in _backend(name):
            if template.name in backend.template_names():
                backend.drop_template(template.name)


def _partitioned(url: URL) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE events (id int NOT NULL, day date NOT NULL) PARTITION BY RANGE (day)"))
            conn.execute(
                text("CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
            )
            conn.execute(text("CREATE SEQUENCE tickets"))  # a sequence no column owns
    finally:
        engine.dispose()


def test_a_partitioned_table_and_a_free_sequence_are_reset_on_postgres() -> None:
    """A partitioned table keeps its rows in its partitions (it has no file of its own), and a
    sequence no column owns moves only by nextval(): both are back as the template had them."""
    template = SchemaTemplate(f"test-{uuid.uuid4().hex}", _partitioned)
    try:
        for backend in _backend("postgres"):
            first = backend.scratch_for("templates-test", template)
            engine = create_engine(first.url)
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO events VALUES (1, '2026-12-05')"))
                assert conn.execute(text("SELECT nextval('tickets')")).scalar_one() == 1
            engine.dispose()
            first.drop()
            again = backend.scratch_for("templates-test", template)
            engine = create_engine(again.url)
            with engine.begin() as conn:
                assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 0
                assert conn.execute(text("SELECT nextval('tickets')")).scalar_one() == 1
            engine.dispose()
            again.drop()
    finally:
        for backend in _backend("postgres"):
            if template.name in backend.template_names():
                backend.drop_template(template.name)


def test_clean_lists_templates_and_drops_them_with_templates(tmp_path: Path, sqlite_templates: Path) -> None:
    """On SQLite, whose templates are in this test's own folder: on a server, --templates would also
    drop the templates other tests running beside this one are copying."""
    name = "sqlite"
    template = SchemaTemplate(f"clean-{uuid.uuid4().hex}", _make_schema)
    for backend in _backend(name):
        backend.scratch_for(None, template).drop()
    listed = race_harness("clean", "-d", name, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"kept    {template.name}: a schema template" in listed.stdout
    dropped = race_harness("clean", "-d", name, "--templates", cwd=tmp_path)
    assert dropped.returncode == 0, dropped.stderr
    assert f"dropped {template.name}: a schema template" in dropped.stdout
    assert not list(sqlite_templates.glob("*.db"))
