"""A small application whose saves the witnesses judge, written four ways: ORM session, Core
connection, the driver's own connection, and an engine of its own (``uses="app"``).

A note has a title and a body, and tags (soft-deleted: ``deleted`` holds the row's id once removed,
as OpenStack's oslo.db does). Each way has four calls:

- ``save``: read the note in one transaction, change one field, write the note back whole in the next
  (the Glance shape): a concurrent change of the other field is overwritten;
- ``save_fixed``: the same read (an API answers with the resource), then write only the field asked for;
- ``tag``: read the tag set, add one, make the stored set exactly that (removing the tags it did not
  read, the Nova shape): a concurrently added tag is removed;
- ``tag_fixed``: the same read, then insert only the new tag.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, ForeignKey, Integer, String, create_engine, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from race_harness import Children, Entity


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "wit_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(String(40))


class Tag(Base):
    __tablename__ = "wit_tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("wit_notes.id"))
    label: Mapped[str] = mapped_column(String(40))
    deleted: Mapped[int] = mapped_column(Integer, default=0)


NOTES, TAGS = Note.__table__, Tag.__table__
ENGINE: dict[str, Engine] = {}  # uses="app": the application's own engine, made by configure(url)


def seed(conn: Connection) -> None:
    conn.execute(insert(NOTES).values(id=1, title="first", body="empty"))
    conn.execute(insert(TAGS).values(note_id=1, label="keep", deleted=0))
    conn.execute(insert(TAGS).values(note_id=1, label="gone", deleted=1))  # soft-deleted: not in the state


def configure(url: str) -> None:
    if "engine" in ENGINE:
        ENGINE["engine"].dispose()
    ENGINE["engine"] = engine = create_engine(url, pool_size=4)
    for conn in [engine.connect() for _ in range(4)]:  # the pool opened at start-up, as a service does
        conn.close()


# --- ORM session ------------------------------------------------------------------------------------


def orm_save(session: Session, note: int, **change: str) -> None:
    obj = session.get(Note, note)
    assert obj is not None
    loaded = {"title": obj.title, "body": obj.body}
    session.commit()
    loaded.update(change)
    session.execute(update(Note).where(Note.id == note).values(**loaded))  # the whole object back
    session.commit()


def orm_save_fixed(session: Session, note: int, **change: str) -> None:
    session.get(Note, note)
    session.commit()
    session.execute(update(Note).where(Note.id == note).values(**change))
    session.commit()


def orm_tag(session: Session, note: int, label: str) -> None:
    tags = {t.label for t in session.scalars(select(Tag).where(Tag.note_id == note, Tag.deleted == 0))}
    session.commit()
    target = tags | {label}
    current = session.scalars(select(Tag).where(Tag.note_id == note, Tag.deleted == 0)).all()
    for t in current:
        if t.label not in target:
            t.deleted = t.id  # soft delete, as oslo.db's soft_delete() does
    session.add(Tag(note_id=note, label=label, deleted=0))
    session.commit()


def orm_tag_fixed(session: Session, note: int, label: str) -> None:
    session.scalars(select(Tag).where(Tag.note_id == note, Tag.deleted == 0)).all()
    session.commit()
    session.add(Tag(note_id=note, label=label, deleted=0))
    session.commit()


# --- Core connection ---------------------------------------------------------------------------------


def core_save(conn: Connection, note: int, **change: str) -> None:
    row = dict(conn.execute(select(NOTES.c.title, NOTES.c.body).where(NOTES.c.id == note)).mappings().one())
    conn.commit()
    row.update(change)
    conn.execute(update(NOTES).where(NOTES.c.id == note).values(**row))
    conn.commit()


def core_save_fixed(conn: Connection, note: int, **change: str) -> None:
    conn.execute(select(NOTES.c.title, NOTES.c.body).where(NOTES.c.id == note)).one()
    conn.commit()
    conn.execute(update(NOTES).where(NOTES.c.id == note).values(**change))
    conn.commit()


def core_tag(conn: Connection, note: int, label: str) -> None:
    live = (TAGS.c.note_id == note) & (TAGS.c.deleted == 0)
    tags = set(conn.execute(select(TAGS.c.label).where(live)).scalars())
    conn.commit()
    target = tags | {label}
    for t in conn.execute(select(TAGS.c.id, TAGS.c.label).where(live)).all():
        if t.label not in target:
            conn.execute(update(TAGS).where(TAGS.c.id == t.id).values(deleted=TAGS.c.id))
    conn.execute(insert(TAGS).values(note_id=note, label=label, deleted=0))
    conn.commit()


def core_tag_fixed(conn: Connection, note: int, label: str) -> None:
    conn.execute(select(TAGS.c.label).where(TAGS.c.note_id == note, TAGS.c.deleted == 0)).all()
    conn.commit()
    conn.execute(insert(TAGS).values(note_id=note, label=label, deleted=0))
    conn.commit()


# --- the driver's own connection (psycopg, PyMySQL, sqlite3), SQL text -------------------------------


def _mark(conn: Any) -> str:
    return "?" if isinstance(conn, sqlite3.Connection) else "%s"


def dbapi_save(conn: Any, note: int, **change: str) -> None:
    p = _mark(conn)
    cur = conn.cursor()
    cur.execute(f"SELECT title, body FROM wit_notes WHERE id = {p}", (note,))
    title, body = cur.fetchone()
    conn.commit()
    row = {"title": title, "body": body, **change}
    cur.execute(f"UPDATE wit_notes SET title = {p}, body = {p} WHERE id = {p}", (row["title"], row["body"], note))
    conn.commit()


def dbapi_save_fixed(conn: Any, note: int, **change: str) -> None:
    p = _mark(conn)
    ((field, value),) = change.items()
    cur = conn.cursor()
    cur.execute(f"SELECT title, body FROM wit_notes WHERE id = {p}", (note,))
    cur.fetchone()
    conn.commit()
    cur.execute(f"UPDATE wit_notes SET {field} = {p} WHERE id = {p}", (value, note))
    conn.commit()


def dbapi_tag(conn: Any, note: int, label: str) -> None:
    p = _mark(conn)
    cur = conn.cursor()
    cur.execute(f"SELECT label FROM wit_tags WHERE note_id = {p} AND deleted = 0", (note,))
    tags = {r[0] for r in cur.fetchall()}
    conn.commit()
    cur.execute(f"SELECT label FROM wit_tags WHERE note_id = {p} AND deleted = 0", (note,))
    for (old,) in cur.fetchall():
        if old not in tags | {label}:
            cur.execute(f"DELETE FROM wit_tags WHERE note_id = {p} AND label = {p}", (note, old))
    cur.execute(f"INSERT INTO wit_tags (note_id, label, deleted) VALUES ({p}, {p}, 0)", (note, label))
    conn.commit()


def dbapi_tag_fixed(conn: Any, note: int, label: str) -> None:
    p = _mark(conn)
    cur = conn.cursor()
    cur.execute(f"SELECT label FROM wit_tags WHERE note_id = {p} AND deleted = 0", (note,))
    cur.fetchall()
    conn.commit()
    cur.execute(f"INSERT INTO wit_tags (note_id, label, deleted) VALUES ({p}, {p}, 0)", (note, label))
    conn.commit()


# --- an engine of its own (uses="app") ---------------------------------------------------------------


def app_save(note: int, **change: str) -> None:
    with ENGINE["engine"].connect() as conn:
        core_save(conn, note, **change)


def app_save_fixed(note: int, **change: str) -> None:
    with ENGINE["engine"].connect() as conn:
        core_save_fixed(conn, note, **change)


def app_tag(note: int, label: str) -> None:
    with ENGINE["engine"].connect() as conn:
        live = (TAGS.c.note_id == note) & (TAGS.c.deleted == 0)
        tags = set(conn.execute(select(TAGS.c.label).where(live)).scalars())
        conn.commit()
        for (old,) in conn.execute(select(TAGS.c.label).where(live)).all():
            if old not in tags | {label}:
                conn.execute(TAGS.delete().where(TAGS.c.note_id == note, TAGS.c.label == old))
        conn.execute(insert(TAGS).values(note_id=note, label=label, deleted=0))
        conn.commit()


def app_tag_fixed(note: int, label: str) -> None:
    with ENGINE["engine"].connect() as conn:
        core_tag_fixed(conn, note, label)


# the scenario's entity over these tables: a note, its live tags (deleted = 0) as its child rows
ENTITY = Entity(
    Note, keys=[1], seed=seed, children=Children(Tag, key="label", where={"deleted": 0}), metadata=Base.metadata
)


# --- oslo.db-style sessions (uses="app"): readers end with close(), never a COMMIT -------------------


@contextlib.contextmanager
def reader() -> Iterator[Session]:
    """As oslo.db's enginefacade reader: a session whose transaction ends with ``close()`` (the
    connection's rollback on its return to the pool), never with a COMMIT."""
    session = Session(ENGINE["engine"])
    try:
        yield session
    finally:
        session.close()


@contextlib.contextmanager
def writer() -> Iterator[Session]:
    """As oslo.db's enginefacade writer: one transaction, committed at the end of the block."""
    with Session(ENGINE["engine"]) as session, session.begin():
        yield session


def oslo_tag(note: int, label: str) -> None:
    """The Nova shape over oslo-style sessions: the target from the reader, the write's own read of
    the live tags, and every live tag not in the target soft-deleted."""
    with reader() as session:
        target = {t.label for t in session.scalars(select(Tag).where(Tag.note_id == note, Tag.deleted == 0))} | {label}
    with writer() as session:
        live = session.scalars(select(Tag).where(Tag.note_id == note, Tag.deleted == 0)).all()
        for t in live:
            if t.label not in target:
                t.deleted = t.id
        if label not in {t.label for t in live}:
            session.add(Tag(note_id=note, label=label, deleted=0))


def threaded_save(note: int, **change: str) -> None:
    """``app_save`` on a worker thread, as an ASGI app's sync endpoint runs (asyncio.to_thread and
    Starlette's run_in_threadpool carry the caller's context to it)."""
    asyncio.run(asyncio.to_thread(app_save, note, **change))
