"""Wiki pages on the driver's own connection (psycopg, PyMySQL or sqlite3), and tags through the ORM."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shopwiki.models import Tag


def _sql(conn: Any, statement: str) -> str:
    """The application runs on PostgreSQL, MySQL and SQLite: sqlite3 spells parameters ``?``."""
    return statement.replace("%s", "?") if conn.__class__.__module__ == "sqlite3" else statement


def _page(conn: Any, doc_id: int) -> tuple[str, str, int]:
    cur = conn.cursor()
    cur.execute(_sql(conn, "SELECT title, body, lock_version FROM documents WHERE id = %s"), (doc_id,))
    row = cur.fetchone()
    cur.close()
    return row[0], row[1], row[2]


def _save(conn: Any, doc_id: int, title: str, body: str) -> None:
    cur = conn.cursor()
    cur.execute(_sql(conn, "UPDATE documents SET title = %s, body = %s WHERE id = %s"), (title, body, doc_id))
    cur.close()
    conn.commit()


def retitle(conn: Any, doc_id: int, title: str) -> None:
    """Load the page, change the title, save the page (every column it loaded goes back)."""
    _, body, _ = _page(conn, doc_id)
    _save(conn, doc_id, title, body)


def edit_body(conn: Any, doc_id: int, body: str) -> None:
    title, _, _ = _page(conn, doc_id)
    _save(conn, doc_id, title, body)


def _save_checked(conn: Any, doc_id: int, title: str, body: str, seen: int) -> bool:
    cur = conn.cursor()
    cur.execute(
        _sql(
            conn,
            "UPDATE documents SET title = %s, body = %s, lock_version = lock_version + 1 "
            "WHERE id = %s AND lock_version = %s",
        ),
        (title, body, doc_id, seen),
    )
    saved = cur.rowcount == 1
    cur.close()
    conn.commit()
    return saved


def retitle_checked(conn: Any, doc_id: int, title: str) -> bool:
    """The fix: the save says whether the page changed since it was loaded (False: reload and retry)."""
    _, body, seen = _page(conn, doc_id)
    return _save_checked(conn, doc_id, title, body, seen)


def edit_body_checked(conn: Any, doc_id: int, body: str) -> bool:
    title, _, seen = _page(conn, doc_id)
    return _save_checked(conn, doc_id, title, body, seen)


def tags_of(session: Session, doc_id: int) -> set[str]:
    return set(session.scalars(select(Tag.label).where(Tag.document_id == doc_id)))


def set_tags(session: Session, doc_id: int, labels: set[str]) -> None:
    """The data layer's update: make the stored tags exactly ``labels`` (deletes the missing ones)."""
    stored = tags_of(session, doc_id)
    if stored - labels:
        session.execute(delete(Tag).where(Tag.document_id == doc_id, Tag.label.in_(stored - labels)))
    session.add_all(Tag(document_id=doc_id, label=label) for label in sorted(labels - stored))
    session.commit()


def add_tag(session: Session, doc_id: int, label: str) -> None:
    """The form shows the tags, the user adds one, the page saves them all (Nova 1650188's shape)."""
    labels = tags_of(session, doc_id) | {label}
    session.commit()  # the read's request ends here
    set_tags(session, doc_id, labels)


def add_tag_fixed(session: Session, doc_id: int, label: str) -> None:
    """The fix: insert the one tag; nothing else is touched."""
    session.add(Tag(document_id=doc_id, label=label))
    session.commit()
