"""An application whose engine can be configured once per process, as oslo.db's enginefacade:
a second ``configure`` raises ``AlreadyStartedError``. Its update writes back every column it read
(the Glance pattern, ``LOST``); the fix writes only the column it changes (``FIXED``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, select, update

from race_harness import Entity, Scenario, operation
from race_harness.defaults import Expectation

MD = MetaData()
NOTES = Table(
    "once_notes",
    MD,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(40), nullable=False),
    Column("body", String(40), nullable=False),
)
_FACTORY: dict[str, Engine] = {}


class AlreadyStartedError(Exception):
    pass


def configure(url: str) -> None:
    if _FACTORY:
        raise AlreadyStartedError("this TransactionFactory is already started")
    _FACTORY["engine"] = create_engine(url, pool_size=8)


def _read(note: int) -> dict[str, Any]:
    with _FACTORY["engine"].begin() as conn:
        return dict(conn.execute(select(NOTES.c.title, NOTES.c.body).where(NOTES.c.id == note)).mappings().one())


def _store(note: int, values: dict[str, Any]) -> None:
    with _FACTORY["engine"].begin() as conn:
        conn.execute(update(NOTES).where(NOTES.c.id == note).values(**values))


def retitle(note: int, title: str) -> None:
    _store(note, {**_read(note), "title": title})


def rewrite(note: int, body: str) -> None:
    _store(note, {**_read(note), "body": body})


def retitle_fixed(note: int, title: str) -> None:
    _read(note)
    _store(note, {"title": title})


def rewrite_fixed(note: int, body: str) -> None:
    _read(note)
    _store(note, {"body": body})


def _seed(conn: Any) -> None:
    conn.execute(insert(NOTES).values(id=1, title="t", body="b"))


ENTITY = Entity(NOTES, keys=[1], seed=_seed)


def _scenario(name: str, expected: Expectation, title: Callable[..., None], body: Callable[..., None]) -> Scenario:
    operations = {
        "retitle": operation(title, uses="app", sets="title"),
        "rewrite": operation(body, uses="app", sets="body"),
    }
    return Scenario(name, entity=ENTITY, configure=configure, operations=operations, expected={"app": expected})


LOST = _scenario("once_notes", "lost", retitle, rewrite)
FIXED = _scenario("once_notes_fixed", "none", retitle_fixed, rewrite_fixed)
