"""Declaring an application's own tables and functions: what the harness reads and calls, and the
one-line errors a wrong declaration gets (no database: the tables are only described)."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Column, ForeignKey, Integer, MetaData, Numeric, String, Table

from race_harness import Children, Command, Entity, Scenario, UsageError, WriterContext, operation
from race_harness.entity import normalise
from race_harness.runner.app_steps import is_write
from race_harness.scenario import describe

MD = MetaData()
ITEMS = Table(
    "items",
    MD,
    Column("sku", String(16), primary_key=True),
    Column("on_hand", Integer),
    Column("price", Numeric(10, 2)),
    Column("meta", JSON),
    Column("rev", Integer),
)
TAGS = Table(
    "item_tags",
    MD,
    Column("item", ForeignKey("items.sku"), primary_key=True),
    Column("tag", String(16), primary_key=True),
)


def _seed(conn: object) -> None:
    pass


def receive(conn: object, sku: str, qty: int) -> None:
    pass


def rename(conn: object, sku: str, price: int) -> None:
    pass


def tag(session: object, sku: str, label: str) -> None:
    pass


ENTITY = Entity(ITEMS, keys=["A", "B"], seed=_seed, children=Children(TAGS, key="tag"), tokens=["rev"])


def _ctx(session: int = 0, seq: int = 0) -> WriterContext:
    return WriterContext(session, seq, 2, random.Random(0), {})


def test_the_state_is_the_columns_but_the_key_and_the_tokens() -> None:
    assert [c.name for c in ENTITY.state_columns] == ["on_hand", "price", "meta"]
    assert ENTITY.key_column.name == "sku"
    table, parent, key, value = ENTITY.child_columns
    assert (table.name, parent.name, key.name, value) == ("item_tags", "item", "tag", None)
    assert ENTITY.entities == [1, 2] and ENTITY.key_of(2) == "B"


def test_values_are_normalised_so_equal_values_compare_equal() -> None:
    assert normalise(Decimal("12.00")) == 12 and normalise(Decimal("2.50")) == "2.5"
    assert normalise(True) == "true" and normalise(1) == 1
    assert normalise({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert (
        normalise(date(2026, 1, 2)) == "2026-01-02" and normalise(datetime(2026, 1, 2, 3, 4)) == "2026-01-02T03:04:00"
    )
    assert normalise(None) is None and normalise(b"\x01") == "01"


def test_an_operation_declares_the_intent_and_gets_unique_values() -> None:
    sc = Scenario(
        "items",
        entity=ENTITY,
        operations={
            "receive": operation(receive, increments={"on_hand": "qty"}, values={"qty": 4}),
            "price": operation(rename, sets="price", entity=2),
            "tag": operation(tag, uses="session", adds_child="label"),
        },
    )
    w = sc.schedule_write(0, "receive", 2)
    assert w.intent.increments == {"on_hand": 4} and w.call is not None and w.call.parameters == {"qty": 4}
    p1, p2 = sc.operations["price"](_ctx(0, 0)), sc.operations["price"](_ctx(1, 0))
    assert p1.entity == 2 and isinstance(p1.intent.sets["price"], int)  # a NUMERIC column gets numbers
    assert (
        p1.intent.sets != p2.intent.sets
        and p1.call is not None
        and p1.call.parameters["price"] == p1.intent.sets["price"]
    )
    t = sc.operations["tag"](_ctx(1, 3))
    assert t.call is not None and t.intent.sets == {f"kv:{t.call.parameters['label']}": ""}
    assert {sc.write(_ctx(0, n)).name for n in range(3)} == {"receive", "price", "tag"}  # the operations take turns
    assert sc.is_app and sc.entities == [1, 2]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: operation(receive, sets="colour"), "names field 'colour', which is not a column of 'items'"),
        (
            lambda: operation(receive, increments={"on_hand": "qty"}, values={"qty": 0}),
            "must be a whole number other than 0",
        ),
        (lambda: operation(receive, sets="on_hand"), "cannot be called as (handle, key, on_hand=...)"),
        (lambda: operation(receive, uses="orm", sets="on_hand"), "expected uses to be one of session, connection"),
        (lambda: operation(receive), "declares no change"),
        (lambda: operation(receive, increments={"on_hand": 1}, entity=3), "entity 3 is not 1..2"),
        (lambda: operation(receive, uses="app", increments={"on_hand": "qty"}), "cannot be called as (key, qty=...)"),
        (
            lambda: operation(lambda sku, on_hand: None, uses="app", sets="on_hand"),
            "connects itself (uses='app'): give the scenario configure=...",
        ),
    ],
)
def test_a_wrong_declaration_is_one_line_naming_it(make: object, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        Scenario("bad", entity=ENTITY, operations={"op": make()})  # type: ignore[operator]
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: Entity(ITEMS, keys=[], seed=_seed), "at least one key"),
        (lambda: Entity(ITEMS, keys=["A"], seed=_seed, tokens=["nope"]), "token column 'nope' is not a column"),
        (lambda: Entity(ITEMS, keys=["A"], seed=_seed, version="revision"), "token column 'revision' is not a column"),
        (lambda: Entity(ITEMS, keys=["A"], seed=_seed, key="nope"), "key column 'nope'"),
        (
            lambda: Entity(ITEMS, keys=["A"], seed=_seed, children=Children(TAGS, key="x")),
            "Children(key=...) names column 'x', which is not a column of child table",
        ),
        (lambda: Entity("items", keys=["A"], seed=_seed), "must be a sqlalchemy Table or an ORM mapped class"),
        (lambda: Scenario("s", entity=ENTITY), "has no operations"),
    ],
)
def test_a_wrong_entity_is_one_line_naming_it(make: object, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        make()  # type: ignore[operator]
    assert expected in str(err.value)


def test_writing_statements_are_told_from_reads() -> None:
    assert is_write("UPDATE items SET on_hand = 1") and is_write("  insert into t values (1)")
    assert is_write("/* app */ DELETE FROM t") and is_write("-- note\nREPLACE INTO t VALUES (1)")
    assert not is_write("SELECT * FROM t FOR UPDATE") and not is_write("COMMIT")


def test_list_v_says_how_an_application_that_connects_itself_is_set_up() -> None:
    sc = Scenario(
        "own",
        entity=Entity(ITEMS, keys=["A"], seed=_seed, create=Command(["myapp-manage", "migrate", "{url}"])),
        configure=lambda url: None,
        operations={"r": operation(lambda sku, on_hand: None, uses="app", sets="on_hand")},
    )
    text = "\n".join(describe(sc))
    assert "the application connects itself: " in text and "(url) points it at the scratch database" in text
    assert "made by myapp-manage migrate '{url}'" in text and "calls " in text and "(key, ...)" in text


def test_a_declaration_serves_several_scenarios_unchanged() -> None:
    """Building a scenario binds a copy: the operation given keeps its own name and key count, and a
    scenario over four keys does not make another over one key pick keys it does not have."""
    receiving = operation(receive, increments={"on_hand": "qty"}, values={"qty": -2})
    one = Scenario("one", entity=Entity(ITEMS, keys=["A"], seed=_seed), operations={"in": receiving})
    four = Scenario("four", entity=Entity(ITEMS, keys=["A", "B", "C", "D"], seed=_seed), operations={"got": receiving})
    assert receiving.name is None and receiving.keys == 1 and receiving.kinds == {}
    assert {one.write(_ctx(s, n)).entity for s in range(8) for n in range(8)} == {1}
    assert {four.write(_ctx(s, n)).entity for s in range(8) for n in range(8)} == {1, 2, 3, 4}
    assert one.write(_ctx()).name == "in" and four.write(_ctx()).name == "got"
    assert one.write(_ctx()).intent.increments == {"on_hand": -2}  # a decrement


def test_two_operations_meet_on_every_key() -> None:
    """Calls of different operations reach every key: a key that only ever saw one of them could
    never lose a change of another field."""
    sc = Scenario(
        "items",
        entity=Entity(ITEMS, keys=["A", "B", "C", "D"], seed=_seed),
        operations={
            "receive": operation(receive, increments={"on_hand": "qty"}, values={"qty": 1}),
            "price": operation(rename, sets="price"),
        },
    )
    seen = {(w.entity, w.name) for w in (sc.write(_ctx(s, n)) for s in range(8) for n in range(25))}
    assert seen == {(e, f) for e in range(1, 5) for f in ("receive", "price")}
