"""Statement labels and footprints, and the trace reduction built on them (no database)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, or_, select, update
from sqlalchemy.dialects import postgresql

from race_harness.runner.explorer import _interleavings, _multinomial, _serial, _Traces
from race_harness.statements import COMMIT, EVERY_TABLE, Rows, commutes, statement_of, transaction_footprints

MD = MetaData()
IMAGES = Table("images", MD, Column("id", Integer, primary_key=True), Column("name", String), Column("owner", String))


@pytest.mark.parametrize(
    ("sql", "label", "reads", "writes"),
    [
        ("SELECT name FROM images WHERE id = 1", "select:images", {"images"}, set()),
        (
            'select * from "public"."Images" i join owners o on o.id = i.owner',
            "select:images",
            {"images", "owners"},
            set(),
        ),
        ("UPDATE images SET name = 'x' WHERE id = 1", "update:images", set(), {"images"}),
        ("INSERT INTO tags (name) SELECT name FROM images", "insert:tags", {"images"}, {"tags"}),
        ("DELETE FROM images WHERE id = 2", "delete:images", set(), {"images"}),
        ("SELECT name FROM images WHERE id = 1 FOR UPDATE", "select:images", set(), {"images"}),
        ("/* app */ SELECT 1 FROM images LOCK IN SHARE MODE", "select:images", set(), {"images"}),
        ("COMMIT", "commit", set(), set()),
        ("SAVEPOINT sa_1", "savepoint", {EVERY_TABLE}, {EVERY_TABLE}),
        ("WITH x AS (SELECT 1) UPDATE images SET name = 'y'", "with:images", {EVERY_TABLE}, {EVERY_TABLE}),
    ],
)
def test_a_statement_text_gives_its_label_and_tables(sql: str, label: str, reads: set[str], writes: set[str]) -> None:
    st = statement_of(sql)
    assert st.label == label
    assert {r.table for r in st.reads} == reads and {r.table for r in st.writes} == writes
    assert all(r.where is None for r in st.reads | st.writes)  # text alone names no rows


def _compiled(statement: object) -> tuple[str, object, dict[str, object]]:
    compiled = statement.compile(dialect=postgresql.dialect())  # type: ignore[attr-defined]
    return str(compiled), compiled, dict(compiled.params)


def test_a_compiled_statement_names_its_rows_by_its_equalities() -> None:
    one = statement_of(*_compiled(select(IMAGES.c.name).where(IMAGES.c.id == 1)))
    two = statement_of(*_compiled(update(IMAGES).where(IMAGES.c.id == 2).values(name="n")))
    same = statement_of(*_compiled(update(IMAGES).where(IMAGES.c.id == 1, IMAGES.c.owner == "o").values(name="n")))
    either = statement_of(*_compiled(update(IMAGES).where(or_(IMAGES.c.id == 1, IMAGES.c.id == 2)).values(name="n")))
    added = statement_of(*_compiled(insert(IMAGES).values(id=3, name="x")))
    assert one.reads == {Rows("images", (("id", 1),))}
    assert commutes(one, two)  # different rows
    assert not commutes(one, same)  # id = 1 on both: the extra owner condition cannot make them disjoint
    assert not commutes(one, either)  # an OR is read as every row: sound
    assert added.writes == {Rows("images", (("id", 3), ("name", "x")))} and commutes(one, added)
    assert commutes(statement_of("SELECT 1 FROM images"), statement_of("SELECT 2 FROM images"))  # reads commute
    assert not commutes(statement_of("SELECT 1 FROM images"), two)


def test_a_commit_carries_its_transactions_footprint() -> None:
    read, write = statement_of("SELECT 1 FROM a"), statement_of("UPDATE b SET x = 1")
    steps = transaction_footprints([read, COMMIT, write, COMMIT])
    assert steps[1].reads == read.reads and not steps[1].writes
    assert steps[3].writes == write.writes and not steps[3].reads
    assert not commutes(steps[3], statement_of("SELECT 1 FROM b")) and commutes(steps[3], read)


def test_interleavings_by_switches_are_every_interleaving_once() -> None:
    lengths = {"A": 3, "B": 2, "C": 2}
    every = [tuple(o) for k in range(0, 7) for o in _interleavings(lengths, k)]
    assert len(every) == len(set(every)) == _multinomial([3, 2, 2]) == 210
    for order in every:
        assert sorted(order) == ["A", "A", "A", "B", "B", "C", "C"]
    assert sum(_serial(o) for o in every) == 6  # 3! orders of whole sessions


def test_one_trace_per_order_of_the_conflicting_pairs() -> None:
    read, write = statement_of("SELECT 1 FROM t"), statement_of("UPDATE t SET x = 1")
    traces = _Traces({"A": [read, write, COMMIT], "B": [read, write, COMMIT]})
    orders = [o for k in range(6) for o in _interleavings(traces.lengths, k)]
    keys = {traces.key(o) for o in orders}
    assert len(orders) == 20 and 1 < len(keys) < 20  # the two reads commute: some orders are one trace
    independent = _Traces({"A": [read, COMMIT], "B": [read, COMMIT]})
    assert {independent.key(o) for o in itertools.permutations("AABB")} == {()}  # all reads: one trace
    assert traces.key(["A", "B"]) is None  # not an order of the profiled steps
