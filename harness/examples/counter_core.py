"""A page-hit counter as Core code: read in one transaction, written in the next.

The request reads ``hits``, commits, and stores ``hits + 1`` as a literal: two requests that read
the same value store the same value, and one hit is lost. ``FIXED`` stores ``hits = hits + 1``,
which the database computes from the row it locks. ``BOTH_WAYS`` (and its fix) has requests that add
and requests that take away (``hits - 2``): lost changes of both signs can cancel out in the sum.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Connection, Integer, MetaData, Table, insert, select, update

from race_harness import Entity, Scenario, operation
from race_harness.defaults import Expectation

METADATA = MetaData()
PAGES = Table(
    "app_page_hits", METADATA, Column("id", Integer, primary_key=True, autoincrement=False), Column("hits", Integer)
)


def hit(conn: Connection, page: int) -> None:
    hits = conn.execute(select(PAGES.c.hits).where(PAGES.c.id == page)).scalar_one()
    conn.commit()
    conn.execute(update(PAGES).where(PAGES.c.id == page).values(hits=hits + 1))
    conn.commit()


def hit_fixed(conn: Connection, page: int) -> None:
    conn.execute(select(PAGES.c.hits).where(PAGES.c.id == page)).scalar_one()
    conn.commit()
    conn.execute(update(PAGES).where(PAGES.c.id == page).values(hits=PAGES.c.hits + 1))
    conn.commit()


def add(conn: Connection, page: int, by: int) -> None:
    """Read, add ``by`` (negative: take away) in memory, store the literal."""
    hits = conn.execute(select(PAGES.c.hits).where(PAGES.c.id == page)).scalar_one()
    conn.commit()
    conn.execute(update(PAGES).where(PAGES.c.id == page).values(hits=hits + by))
    conn.commit()


def add_fixed(conn: Connection, page: int, by: int) -> None:
    conn.execute(update(PAGES).where(PAGES.c.id == page).values(hits=PAGES.c.hits + by))
    conn.commit()


def _seed(conn: Connection) -> None:
    conn.execute(insert(PAGES).values(id=1, hits=0))


def _scenario(name: str, expected: Expectation, function: Callable[..., None], summary: str) -> Scenario:
    return Scenario(
        name,
        entity=Entity(PAGES, keys=[1], seed=_seed),
        operations={"hit": operation(function, uses="connection", increments={"hits": 1})},
        summary=summary,
        expected={"app": expected},
    )


def _both_ways(name: str, expected: Expectation, function: Callable[..., None], summary: str) -> Scenario:
    return Scenario(
        name,
        entity=Entity(PAGES, keys=[1], seed=_seed),
        operations={
            "add": operation(function, uses="connection", increments={"hits": "by"}, values={"by": 1}, name="add"),
            "take": operation(function, uses="connection", increments={"hits": "by"}, values={"by": -2}, name="take"),
        },
        summary=summary,
        expected={"app": expected},
    )


SCENARIO = _scenario("counter_core", "lost", hit, "a counter read in one transaction and written in the next")
FIXED = _scenario("counter_core_fixed", "none", hit_fixed, "the same request with hits = hits + 1")
BOTH_WAYS = _both_ways("counter_both_ways", "lost", add, "a counter read, changed by +1 or -2 in memory, stored")
BOTH_WAYS_FIXED = _both_ways("counter_both_ways_fixed", "none", add_fixed, "the same changes as hits = hits + by")
