"""The driver values of a statement sent straight to psycopg are those SQLAlchemy's execute would bind.

:func:`race_harness.databases.direct.compiled` takes each value from its parameter by name when every
value of the statement comes from its parameters, and leaves the rest to SQLAlchemy's
``construct_params``. Either way the values, and the column's bind processor applied to them, must
be exactly what ``construct_params`` gives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from race_harness.databases.direct import compiled
from race_harness.schema import Timestamp

DIALECTS: dict[str, Dialect] = {"psycopg": PGDialect_psycopg(), "sqlite": SQLiteDialect_pysqlite()}
ITEMS = Table(
    "items",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("label", String(20)),
    Column("n", Integer),
    Column("updated_at", Timestamp(0)),
)
AT = datetime(2026, 12, 5, 10, 0, 0, 987654)


def expected(statement: ClauseElement, params: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """What SQLAlchemy binds: construct_params, then each column's bind processor."""
    comp = statement.compile(dialect=dialect, column_keys=sorted(params))
    values = dict(comp.construct_params(dict(params)))
    for name, process in comp._bind_processors.items():
        if callable(process) and values.get(name) is not None:
            values[name] = process(values[name])
    return values


CASES = {
    "every value a parameter": (
        update(ITEMS).where(ITEMS.c.id == bindparam("w_id")),
        {"label": "a", "n": 2, "updated_at": AT, "w_id": 1},
    ),
    "a value bound in the statement": (
        update(ITEMS).where(ITEMS.c.id == bindparam("w_id"), ITEMS.c.n == 7),
        {"label": "a", "n": 2, "updated_at": AT, "w_id": 1},
    ),
    "a parameter left out": (
        update(ITEMS).where(ITEMS.c.id == bindparam("w_id")).values(label=bindparam("label", "default")),
        {"n": 2, "w_id": 1},
    ),
    "a read by key": (select(ITEMS.c.label, ITEMS.c.n).where(ITEMS.c.id == bindparam("key")), {"key": 3}),
    "a None": (update(ITEMS).where(ITEMS.c.id == bindparam("w_id")), {"label": None, "updated_at": None, "w_id": 1}),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", CASES)
def test_the_driver_values_are_those_sqlalchemy_binds(case: str, dialect: str) -> None:
    statement, params = CASES[case]
    comp = compiled(statement, tuple(sorted(params)), DIALECTS[dialect])
    assert comp.driver_params(params) == expected(statement, params, DIALECTS[dialect])
    # and again with other values: nothing of the first call is kept
    other = {k: (v + 10 if isinstance(v, int) else v) for k, v in params.items()}
    assert comp.driver_params(other) == expected(statement, other, DIALECTS[dialect])


def test_a_bind_processor_is_applied() -> None:
    # SQLite keeps no fractional-second precision of its own: Timestamp(0) truncates before binding
    statement, params = CASES["every value a parameter"]
    values = compiled(statement, tuple(sorted(params)), DIALECTS["sqlite"]).driver_params(params)
    assert values["updated_at"] == "2026-12-05 10:00:00.000000"
