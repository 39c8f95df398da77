"""Reading what a statement does from its text and parameters (harness/dml.py), and what a call read
and wrote of its entity from the statements it sent (harness/witness.py), on literal statements in
every paramstyle a Python driver uses."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from race_harness.dml import UNKNOWN, Expr, Lit, Param, bind, parse
from race_harness.entity import EntityTables
from race_harness.witness import CallWitness
from tests.example_app.witnessed import ENTITY


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE notes SET title = ?, body = ? WHERE id = ?", ("t", "b", 7)),  # sqlite3
        ("UPDATE notes SET title = %s, body = %s WHERE id = %s", ("t", "b", 7)),  # psycopg, PyMySQL, mysqlclient
        (
            "UPDATE notes SET title=%(title)s, body=%(body)s WHERE notes.id = %(id_1)s",  # SQLAlchemy, pyformat
            {"title": "t", "body": "b", "id_1": 7},
        ),
        ('UPDATE "notes" SET "title"=:t, "body"=:b WHERE "notes"."id" = :id', {"t": "t", "b": "b", "id": 7}),
        ("UPDATE notes SET title = $1::VARCHAR, body = CAST($2 AS TEXT) WHERE id = $3", ("t", "b", 7)),
        ("/* app */ UPDATE `notes` SET `title` = %s, body = %s -- trailing\nWHERE (id = %s)", ("t", "b", 7)),
    ],
)
def test_an_update_names_what_it_sets_and_the_row(sql: str, params: Any) -> None:
    dml = parse(sql)
    assert dml is not None and dml.verb == "update" and dml.table == "notes"
    assert {c: bind(t, params) for c, t in dml.sets} == {"title": "t", "body": "b"}
    (where,) = dml.condition("id") or ()
    assert bind(where, params) == 7


def test_what_the_text_does_not_tell_is_left_out() -> None:
    dml = parse("UPDATE t SET n = n + 1, at = now(), s = 'x''y', z = NULL, m = -3 WHERE a = 1 OR b = 2")
    assert dml is not None and dml.where is None  # an OR: the rows are not known
    assert dict(dml.sets) == {"n": Expr("n + 1"), "at": Expr("now ( )"), "s": Lit("x'y"), "z": Lit(None), "m": Lit(-3)}
    assert bind(Expr("n + 1"), ()) is UNKNOWN and bind(Param(index=5), (1,)) is UNKNOWN
    assert parse("WITH x AS (SELECT 1) UPDATE t SET a = 1") is None
    assert parse("SAVEPOINT sa_1") is None


def test_inserts_deletes_and_reads() -> None:
    ins = parse("INSERT INTO tags (note_id, label) VALUES (%s, %s), (%s, 'fixed') ON CONFLICT DO NOTHING")
    assert ins is not None and ins.columns == ("note_id", "label")
    assert ins.rows == ((Param(index=0), Param(index=1)), (Param(index=2), Lit("fixed")))
    rm = parse("DELETE FROM tags WHERE tags.note_id = %(n)s AND tags.label IN (%(l_1)s, %(l_2)s)")
    assert rm is not None and rm.condition("label") == (Param(name="l_1"), Param(name="l_2"))
    read = parse("SELECT n.id, t.label FROM notes AS n LEFT OUTER JOIN tags t ON t.note_id = n.id WHERE n.id = ?")
    assert read is not None and read.tables == ("notes", "tags") and read.condition("id") == (Param(index=0),)


def _witness(dialect: Any = None) -> CallWitness:
    clock = iter(range(1, 1000)).__next__
    return CallWitness(EntityTables(ENTITY).view(dialect or sqlite.dialect()), 1, clock)


def test_a_call_reads_its_entity_and_what_it_stores_after_that() -> None:
    w = _witness()
    assert w.sent(
        "SELECT wit_notes.id, wit_notes.title, wit_notes.body FROM wit_notes WHERE wit_notes.id = ?", (1,), False
    )
    w.returned(-1, [("id",), ("title",), ("body",)], [(1, "first", "empty")])
    assert w.sent(
        "SELECT wit_tags.id, wit_tags.label, wit_tags.deleted FROM wit_tags WHERE wit_tags.note_id = ?", (1,), False
    )
    w.returned(-1, [("id",), ("label",), ("deleted",)], [(1, "keep", 0), (2, "gone", 5)])  # 2: soft-deleted
    w.sent("UPDATE wit_notes SET title = ?, body = ? WHERE id = ? AND version = ?", ("new", "empty", 1, 3), False)
    w.returned(0)  # matched nothing (a refused version check): wrote nothing
    assert w.written == {} and w.write_at is None
    w.sent("UPDATE wit_notes SET title = ?, body = ? WHERE id = ?", ("new", "empty", 1), False)
    w.returned(1)
    w.sent("UPDATE wit_tags SET deleted = id WHERE wit_tags.id = ?", (1,), False)  # by the id the read returned
    w.returned(1)
    w.sent("INSERT INTO wit_tags (note_id, label, deleted) VALUES (?, ?, ?)", [(1, "x", 0), (2, "y", 0)], True)
    w.returned(2)
    assert w.snapshot is not None and w.snapshot.state == {"title": "first", "body": "empty", "kv:keep": ""}
    assert w.written == {"title": "new", "body": "empty", "kv:keep": None, "kv:x": ""}  # note 2's tag is not ours
    assert w.write_at is not None and w.read_at is not None and w.read_at < w.write_at
    assert w.statements["kv:keep"].startswith("UPDATE wit_tags SET deleted = id WHERE wit_tags.id = ? -- (1,)")


def test_a_statement_whose_rows_the_count_leaves_open_claims_nothing() -> None:
    w = _witness(postgresql.dialect())
    w.sent("DELETE FROM wit_tags WHERE note_id = %s AND label IN (%s, %s)", (1, "a", "b"), False)
    w.returned(1)  # one of the two rows was there: which one, the count does not say
    w.sent("UPDATE wit_notes SET title = %s WHERE title = %s", ("t", "u"), False)  # no key: which note?
    w.returned(1)
    w.sent("UPDATE wit_notes SET body = body || %s WHERE id = %s", ("!", 1), False)  # computed by the database
    w.returned(1)
    assert w.written == {} and w.snapshot is None
