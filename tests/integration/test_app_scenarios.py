"""Application functions as operations, on real databases: how a call's end becomes its outcome.

A declared conflict is ``fail`` (counted as contention, never a loss); the application crashing is
a harness error that makes the run inconclusive, never a pass; a seed that makes no row is one line.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select, update

from race_harness import Entity, RunConfig, Scenario, UsageError, get_strategy, operation, run_cell
from race_harness.databases import Backend

MD = MetaData()
PAGES = Table("app_pages", MD, Column("id", Integer, primary_key=True, autoincrement=False), Column("hits", Integer))
PAGES_TITLED = Table(
    "app_titled", MD, Column("slug", String(20), primary_key=True), Column("title", String(40)), Column("rev", Integer)
)


class Changed(Exception):
    """The application's own "somebody saved first" (HTTP 409)."""


def _seed(conn: Connection) -> None:
    conn.execute(insert(PAGES).values(id=1, hits=0))
    conn.execute(insert(PAGES_TITLED).values(slug="home", title="Home", rev=1))


def retitle_or_refuse(conn: Connection, slug: str, title: str) -> None:
    rev = conn.execute(select(PAGES_TITLED.c.rev).where(PAGES_TITLED.c.slug == slug)).scalar_one()
    done = conn.execute(
        update(PAGES_TITLED)
        .where(PAGES_TITLED.c.slug == slug, PAGES_TITLED.c.rev == rev)
        .values(title=title, rev=PAGES_TITLED.c.rev + 1)
    ).rowcount
    if not done:
        raise Changed(slug)


def crash(conn: Connection, page: int) -> None:
    conn.execute(update(PAGES).where(PAGES.c.id == page).values(hits=PAGES.c.hits + 1))
    raise KeyError("a bug in the application")


BURST = RunConfig(writers=6, readers=1, ops=12, think_ms=50)


def test_a_declared_conflict_is_a_refusal_and_counts_as_contention(backend: Backend) -> None:
    entity = Entity(PAGES_TITLED, keys=["home"], seed=_seed, tokens=["rev"])
    op = operation(retitle_or_refuse, sets="title", conflicts=[Changed])
    cell = run_cell(Scenario("retitle", entity=entity, operations={"retitle": op}), get_strategy("app"), backend, BURST)
    assert cell.result is not None and cell.result.verdict == "no-lost-updates", cell.result
    assert cell.result.stats.fail_reasons.get("conflict", 0) > 0 and cell.result.contention > 0


def test_the_application_crashing_is_never_a_verdict(backend: Backend) -> None:
    entity = Entity(PAGES, keys=[1], seed=_seed)
    sc = Scenario("crash", entity=entity, operations={"hit": operation(crash, increments={"hits": 1})})
    cell = run_cell(sc, get_strategy("app"), backend, BURST)
    assert cell.result is not None and cell.result.verdict == "inconclusive"
    assert any("crash raised KeyError" in e for e in cell.harness_errors), cell.harness_errors


def test_a_seed_without_the_declared_key_is_one_line(backend: Backend) -> None:
    entity = Entity(PAGES, keys=[2], seed=_seed)
    sc = Scenario("nokey", entity=entity, operations={"hit": operation(crash, increments={"hits": 1})})
    with pytest.raises(UsageError, match="seed created no row with key 2 in 'app_pages'"):
        run_cell(sc, get_strategy("app"), backend, BURST)
