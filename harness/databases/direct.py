"""Statements SQLAlchemy compiled, run on the psycopg connection itself.

For what SQLAlchemy's execute cannot express, the last write and its COMMIT as one query
(:mod:`race_harness.runner.last_write`), and for the reads that every operation makes
(:func:`fetch_all`). SQLAlchemy still builds and compiles the statement (once, see
:func:`compiled`) and still owns the transaction. Driver errors are wrapped exactly as SQLAlchemy
wraps them (:class:`sqlalchemy.exc.DBAPIError` subclasses, the connection invalidated on a
disconnect), so the backends classify them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    plain = _plain_binds(comp, keys)

    def driver_params(params: Mapping[str, Any]) -> dict[str, Any]:
        if plain is not None and len(params) == len(keys):
            values = {name: params[key] for name, key in plain}
        else:
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


def _plain_binds(comp: SQLCompiler, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """Each bound name with the parameter that gives its value, when every value of the statement comes
    straight from its parameters (no value bound in the statement, no expanding IN, no callable);
    else None, and SQLAlchemy's ``construct_params`` binds them (it was a few percent of a writer's
    time on the GIL). Found by asking ``construct_params`` itself with a marker per parameter."""
    binds = list(comp.bind_names)
    if comp._render_postcompile or any(b.expanding or b.literal_execute or b.callable for b in binds):
        return None
    markers = {key: object() for key in keys}
    by_marker = {id(m): key for key, m in markers.items()}
    try:
        values = comp.construct_params(dict(markers))
    except Exception:  # whatever SQLAlchemy refuses here, it raises again when it binds them itself
        return None
    pairs = [(name, by_marker.get(id(value))) for name, value in (values or {}).items()]
    if len(pairs) != len(binds) or any(key is None for _, key in pairs):
        return None
    return tuple((name, key) for name, key in pairs if key is not None)


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
    begin = take_pending_begin(conn)
    cursor = reused_cursor(conn, raw, raw.cursor_factory)
    try:
        bound = _bound_query(conn, cursor, comp, params, begin)
        if bound is not None:
            cursor.execute(bound)
        else:
            cursor.execute(_with_begin(begin, comp.sql), comp.driver_params(params))
        if begin is not None:
            cursor.nextset()  # past the BEGIN's result to the statement's
        rows = cursor.fetchall()
    except psycopg.Error as exc:
        raise sqlalchemy_error(conn, raw, exc, _with_begin(begin, comp.sql), params) from exc
    if any(comp.result_processors):
        return [
            tuple(v if p is None else p(v) for p, v in zip(comp.result_processors, row, strict=True)) for row in rows
        ]
    return rows


_BOUND = "race_harness_bound_queries"
BOUND_QUERIES_KEPT = 256


def _bound_query(
    conn: Connection, cursor: psycopg.Cursor[Any], comp: Compiled, params: Mapping[str, Any], begin: str | None
) -> bytes | None:
    """The query with its parameters bound in, as ``ClientCursor`` would bind them, kept per
    connection: a writer reads the same few rows again and again, and binding the key each time was
    most of a read's own CPU. Only for int and str values (1, True and 1.0 are one key to a dict, not
    one literal); None where the cursor binds on the server."""
    if not isinstance(cursor, psycopg.ClientCursor) or any(
        type(v) is not int and type(v) is not str for v in params.values()
    ):
        return None
    key = (comp.sql, begin, *params.items())
    queries: dict[tuple[Any, ...], bytes] = conn.info.setdefault(_BOUND, {})
    query = queries.get(key)
    if query is None:
        if len(queries) >= BOUND_QUERIES_KEPT:
            queries.clear()
        bound = cursor.mogrify(comp.sql, comp.driver_params(params))
        # bound, the query takes no more parameters: a % in a quoted value is the value's own; kept
        # encoded as psycopg would encode it for this connection
        query = queries[key] = _with_begin(begin, bound).encode(cursor.connection.info.encoding)
    return query


def _with_begin(begin: str | None, sql: str) -> str:
    """``sql`` with the transaction's BEGIN in front, when it has not gone out yet (only an engine
    with ``ClientCursor`` folds it: one query, the simple protocol)."""
    return sql if begin is None else f"{begin}; {sql}"


def sqlalchemy_error(
    conn: Connection, raw: psycopg.Connection[Any], exc: psycopg.Error, sql: str, params: Any
) -> DBAPIError:
    """A driver error as SQLAlchemy would have raised it: wrapped, the connection invalidated if it broke."""
    invalidated = raw.closed or raw.broken  # what SQLAlchemy's psycopg dialect calls a disconnect
    wrapped = DBAPIError.instance(sql, params, exc, psycopg.Error, connection_invalidated=invalidated)
    assert isinstance(wrapped, DBAPIError)
    if invalidated:
        conn.invalidate(exc)
    return wrapped


__all__ = ["Compiled", "compiled", "fetch_all", "psycopg_connection", "reused_cursor", "sqlalchemy_error"]
