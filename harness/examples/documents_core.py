"""A document save as Core code: the whole row read, one field changed, every field written back.

The request reads the document in a transaction of its own, changes the field it was asked to, and
saves the object whole (``UPDATE ... SET title = ?, body = ?, status = ?``), as a naive ORM-less data
layer or a ``PUT`` of the full resource does. Two requests changing different fields overwrite each
other: the one that saves second writes back the other's field as it read it. ``FIXED`` saves only
if the row's ``version`` is still the one it read (``WHERE version = ?``), and is refused (``False``,
the 409 of an API) otherwise. ``..._4`` spread the requests over four documents instead of one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select, update

from race_harness import Entity, Scenario, operation
from race_harness.defaults import Expectation

METADATA = MetaData()
DOCUMENTS = Table(
    "app_documents",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(80), nullable=False),
    Column("body", String(80), nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
)


def _load(conn: Connection, doc: int) -> dict[str, Any]:
    row = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.id == doc)).mappings().one()
    conn.commit()
    return dict(row)


def save(conn: Connection, doc: int, **changes: str) -> None:
    """Read, change, write every field back."""
    document = _load(conn, doc)
    document.update(changes)
    fields = {k: document[k] for k in ("title", "body", "status")}
    conn.execute(update(DOCUMENTS).where(DOCUMENTS.c.id == doc).values(**fields, version=document["version"] + 1))
    conn.commit()


def save_checked(conn: Connection, doc: int, **changes: str) -> bool:
    """The same save, only while the row is still the version it read: False when it was not."""
    document = _load(conn, doc)
    document.update(changes)
    fields = {k: document[k] for k in ("title", "body", "status")}
    saved = conn.execute(
        update(DOCUMENTS)
        .where(DOCUMENTS.c.id == doc, DOCUMENTS.c.version == document["version"])
        .values(**fields, version=document["version"] + 1)
    ).rowcount
    conn.commit()
    return saved == 1


def _seed(keys: int) -> Callable[[Connection], None]:
    def seed(conn: Connection) -> None:
        rows = [{"id": k, "title": f"doc {k}", "body": "", "status": "draft", "version": 1} for k in range(1, keys + 1)]
        conn.execute(insert(DOCUMENTS), rows)

    return seed


def _scenario(name: str, expected: Expectation, keys: int, function: Callable[..., Any], summary: str) -> Scenario:
    refused = (lambda result: result is False) if function is save_checked else None
    return Scenario(
        name,
        entity=Entity(DOCUMENTS, keys=list(range(1, keys + 1)), seed=_seed(keys), tokens=["version"]),
        operations={
            "retitle": operation(function, uses="connection", sets="title", refused=refused),
            "edit_body": operation(function, uses="connection", sets="body", refused=refused),
        },
        summary=summary,
        expected={"app": expected},
    )


SCENARIO = _scenario("documents_core", "lost", 1, save, "a document saved whole: every field written back")
FIXED = _scenario("documents_core_fixed", "none", 1, save_checked, "the same save, checked against the version read")
SCENARIO_4 = _scenario("documents_core_4", "lost", 4, save, "the whole-document save over four documents")
FIXED_4 = _scenario("documents_core_fixed_4", "none", 4, save_checked, "the checked save over four documents")
