"""Statements SQLAlchemy compiled, run on the psycopg connection itself.

For what SQLAlchemy's execute cannot express, the last write and its COMMIT as one query
(:mod:`race_harness.runner.last_write`), and for the reads that every operation makes
(:func:`fetch_all`). SQLAlchemy still builds and compiles the statement (once, see
:func:`compiled`) and still owns the transaction. Driver errors are wrapped exactly as SQLAlchemy
wraps them (:class:`sqlalchemy.exc.DBAPIError` subclasses, the connection invalidated on a
disconnect), so the backends classify them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import ClauseElement, Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

from race_harness.databases.begin_with_first import take_pending_begin

C = TypeVar("C", bound="psycopg.Cursor[Any]")


@dataclass(frozen=True)
class Compiled:
    """A statement's SQL in psycopg's paramstyle, and how to turn parameters into driver values."""

    sql: str
    driver_params: Callable[[Mapping[str, Any]], dict[str, Any]]
    # per result column, what SQLAlchemy's result would apply to the driver's value (None: nothing)
    result_processors: tuple[Callable[[Any], Any] | None, ...] = ()


def psycopg_connection(conn: Connection) -> psycopg.Connection[Any] | None:
    """The psycopg connection under ``conn``, or None for any other driver."""
    if conn.dialect.driver != "psycopg":
        return None
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def reused_cursor(conn: Connection, raw: psycopg.Connection[Any], factory: type[C]) -> C:
    """A cursor of ``factory`` kept for the driver connection and used for each statement sent
    straight to it: a new psycopg cursor per statement was a few percent of a writer's time on the
    GIL. Kept in the pool's record for the connection, which goes (and the cursor with it) when the
    connection is discarded."""
    key = ("race_harness_cursor", factory)
    cursor: C | None = conn.info.get(key)
    if cursor is None or cursor.connection is not raw or cursor.closed:
        cursor = conn.info[key] = factory(raw)
    return cursor


@lru_cache(maxsize=128)
def compiled(statement: ClauseElement, keys: tuple[str, ...], dialect: Dialect) -> Compiled:
    """Compile once per statement object and set of parameter names (SET columns of an UPDATE).

    The statements are the cached objects of :class:`race_harness.schema.Tables`, so this is a lookup,
    as SQLAlchemy's own compiled cache is for ``execute``.
    """
    comp = statement.compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(comp, SQLCompiler)
    # the columns' bind processors (the Timestamp decorator's, for one), as SQLAlchemy's execute applies them
    processors = {k: cast(Callable[[Any], Any], p) for k, p in comp._bind_processors.items() if callable(p)}

    def driver_params(params: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(comp.construct_params(dict(params)) or {})
        for name, process in processors.items():
            if values.get(name) is not None:
                values[name] = process(values[name])
        return values

    results = tuple(
        cast(Callable[[Any], Any] | None, column.type._cached_result_processor(dialect, None))
        for column in comp._result_columns
    )
    return Compiled(comp.string, driver_params, results)


def fetch_all(conn: Connection, statement: ClauseElement, params: Mapping[str, Any]) -> list[tuple[Any, ...]] | None:
    """The rows of ``statement`` run on the psycopg connection itself; None for any other driver.

    Through SQLAlchemy's execute (its execution context, parameter and result set-up) the read was
    the largest part of a writer's time holding the GIL; straight on psycopg it is the driver's
    work alone. A BEGIN the transaction has not sent yet goes out with the statement, as
    :mod:`race_harness.databases.begin_with_first` does for SQLAlchemy's own execute.
    """
    raw = psycopg_connection(conn)
    if raw is None:
        return None
    comp = compiled(statement, tuple(sorted(params)), conn.dialect)
    values = comp.driver_params(params)
    begin = take_pending_begin(conn)
    sql = comp.sql if begin is None else f"{begin}; {comp.sql}"  # only an engine with ClientCursor folds
    cursor = reused_cursor(conn, raw, raw.cursor_factory)
    with sqlalchemy_errors(conn, raw, sql, values):
        cursor.execute(sql, values)
        if begin is not None:
            cursor.nextset()  # past the BEGIN's result to the statement's
        rows = cursor.fetchall()
    if any(comp.result_processors):
        return [
            tuple(v if p is None else p(v) for p, v in zip(comp.result_processors, row, strict=True)) for row in rows
        ]
    return rows


@contextmanager
def sqlalchemy_errors(conn: Connection, raw: psycopg.Connection[Any], sql: str, params: Any) -> Iterator[None]:
    """Raise driver errors as SQLAlchemy would have: wrapped, the connection invalidated if it broke."""
    try:
        yield
    except psycopg.Error as exc:
        invalidated = raw.closed or raw.broken  # what SQLAlchemy's psycopg dialect calls a disconnect
        wrapped = DBAPIError.instance(sql, params, exc, psycopg.Error, connection_invalidated=invalidated)
        assert isinstance(wrapped, DBAPIError)
        if invalidated:
            conn.invalidate(exc)
        raise wrapped from exc


__all__ = ["Compiled", "compiled", "fetch_all", "psycopg_connection", "reused_cursor", "sqlalchemy_errors"]
