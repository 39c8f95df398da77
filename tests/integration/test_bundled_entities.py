"""The bundled scenarios are Entities too: harness-declared tables, seeded and read as an
application's are, their version and ``updated_at`` carried on the snapshot as declared tokens."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Column, Connection, DateTime, Integer, MetaData, String, Table, insert

from race_harness import Entity, get_scenario
from race_harness.databases import Backend
from race_harness.entity import EntityTables
from race_harness.scenario import bundled_names


@pytest.mark.parametrize("name", bundled_names())
@pytest.mark.parametrize("precision", [0, 6])
def test_a_bundled_scenario_seeds_and_reads_back_its_initial_state(backend: Backend, name: str, precision: int) -> None:
    scenario = get_scenario(name)
    tables = scenario.tables(precision)
    assert isinstance(tables, EntityTables) and tables is scenario.tables(precision)
    assert tables.entity.version == "version" and tables.entity.updated_at == "updated_at"
    with backend.create_database() as scratch:
        engine = scratch.engine(1)
        try:
            with engine.begin() as conn:
                assert tables.create(conn) == scenario.initial
            with engine.begin() as conn:
                for entity in scenario.entities:
                    snap = tables.snapshot(conn, entity)
                    assert snap is not None and snap.state == scenario.initial[entity]
                    assert snap.version == 1 and isinstance(snap.updated_at, datetime)
                    if precision == 0:
                        assert snap.updated_at.microsecond == 0
                conn.execute(tables.parent.update().values(version=7))
                assert tables.reload(conn) == scenario.initial
                assert {tables.snapshot(conn, e).version for e in scenario.entities} == {1}  # type: ignore[union-attr]
        finally:
            engine.dispose()


MD = MetaData()
NOTES = Table(
    "app_notes",
    MD,
    Column("slug", String(20), primary_key=True),
    Column("body", String(100)),
    Column("revision", Integer, nullable=False),
    Column("touched", DateTime, nullable=False),
)
WHEN = datetime(2026, 12, 2, 1, 2, 3)


def _seed(conn: Connection) -> None:
    conn.execute(insert(NOTES).values(slug="home", body="hello", revision=3, touched=WHEN))


def test_an_application_s_version_and_timestamp_columns_ride_on_the_snapshot(backend: Backend) -> None:
    entity = Entity(NOTES, keys=["home"], seed=_seed, version="revision", updated_at="touched")
    tables = EntityTables(entity)
    with backend.create_database() as scratch:
        engine = scratch.engine(1)
        try:
            with engine.begin() as conn:
                assert tables.create(conn) == {1: {"body": "hello"}}  # the tokens are not state
                snap = tables.snapshot(conn, 1)
        finally:
            engine.dispose()
    assert snap is not None and snap.version == 3 and snap.updated_at == WHEN
