"""What an update strategy is: how ``save(snapshot, intent)`` reaches the database.

A strategy runs inside a write transaction the runner opened and will commit; it knows nothing
about threads, retries or timing. It returns :class:`Saved` with what it stored, or
:class:`Conflict` when its own check refused the write (the runner rolls back). Database errors
propagate; the runner classifies them.

A save whose only write is one UPDATE may instead return :class:`SaveOnCommit`: the statement, not
yet run. The runner then runs it as the transaction's last statement, and on psycopg sends it
together with the COMMIT as one query (``UPDATE ...; COMMIT``). On a hot row that takes the client
out of the row-lock window, which otherwise lasts from the UPDATE's reply to the COMMIT.
A save that has decided (its UPDATE matched) but still has statements to run, such as the
child-row diff of a full-row write, may return :class:`FinishOnCommit` with them: they go out the
same way, ``...; ...; COMMIT``.

Every strategy updates the parent row first. That takes the row lock before any child row is
touched, so concurrent write transactions on one entity queue on the parent row instead of
deadlocking on the child table's index gaps (InnoDB, REPEATABLE READ).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import ClauseElement, Connection, Executable, Update, update

from race_harness.defaults import Bug, Expectation
from race_harness.errors import UsageError
from race_harness.events import Written
from race_harness.model import Intent, Snapshot, State, Value, is_kv, kv_field
from race_harness.schema import Tables

TokenName = Literal["version", "updated_at"]
# what shows, in a run that lost nothing, that the race really happened
Proof = Literal["conflicts", "same-read", "overlap"]


@dataclass(frozen=True)
class Saved:
    """The save went through. ``written`` is each field whose stored value this save decided, with
    that value: what its intent set and, for a strategy that writes back what it read (full-row), the
    read values it wrote back unchanged, since writing a stale value back is exactly how an update
    gets lost. Never a value the database computed (``SET n = n + :delta``, a default, a trigger's):
    the witnesses compare what a save wrote with what it read, and such a value was neither chosen
    nor read by the save (the checker judges increments by their sum instead). Child rows go by
    ``kv:key``; a child row the save deleted is listed with the value None."""

    written: Written


@dataclass(frozen=True)
class Conflict:
    reason: str = "conflict"


@dataclass(frozen=True)
class SaveOnCommit:
    """The save's one and only write, for the runner to run last (see the module docstring).

    A statement that matches no row is a conflict (``reason``). Committing after such a miss
    commits nothing, because the statement was the transaction's only write, so the outcome is the
    same whether the runner checked the count before its COMMIT or after.
    """

    statement: Update
    params: Mapping[str, Any]
    written: Written
    reason: str = "conflict"


@dataclass(frozen=True)
class FinishOnCommit:
    """The save's last statements, for the runner to run last (see the module docstring).

    Unlike :class:`SaveOnCommit`, no row count can make the save a conflict: the save has already
    decided, so these only finish it (a full-row write's child-row diff, after its parent UPDATE
    matched). ``statements`` are (statement, parameters) pairs, run in order.
    """

    statements: tuple[tuple[Executable, Mapping[str, Any]], ...]
    written: Written


SaveResult = Saved | Conflict | SaveOnCommit | FinishOnCommit


class Strategy(ABC):
    """Base class for update strategies; third parties subclass it and register an entry point.

    ``param`` is the text after ``:`` in a strategy spec (``timestamp-occ:0``); strategies that take
    none reject it. ``token`` names the concurrency token the strategy maintains, which lets the
    checker hold readers to "one token, one committed state".
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    token: ClassVar[TokenName | None] = None
    # a plug-in that claims to prevent lost updates sets this; the CLI then expects `none` from it
    claims_safe: ClassVar[bool] = False
    # the kinds of bug (:data:`race_harness.defaults.Bug`) this strategy loses updates to, so that a
    # scenario of that kind expects it to; None: not declared (a plug-in's, unless it claims_safe)
    loses_to: ClassVar[frozenset[Bug] | None] = None
    # fractional digits of the updated_at column the tables are created with
    timestamp_precision: int = 6
    # a strategy that only works with read and write in ONE transaction says so (select-for-update)
    scope: ClassVar[Literal["single"] | None] = None
    # a strategy that needs an isolation level names it (serializable-retry)
    isolation: ClassVar[Literal["serializable"] | None] = None
    # the read locks the row (SELECT ... FOR UPDATE; on SQLite the transaction begins IMMEDIATE)
    lock_on_read: ClassVar[bool] = False
    # database aborts the strategy itself retries, whatever the run's --on-conflict says
    retry_reasons: ClassVar[frozenset[str]] = frozenset()
    proof: ClassVar[Proof] = "conflicts"
    # protects only writers that share this process (an in-process lock)
    one_process_only: ClassVar[bool] = False

    def guard(self) -> AbstractContextManager[object]:
        """Held around one attempt's read-modify-write (process-lock takes a lock here)."""
        return nullcontext()

    def expressible(self, intent: Intent) -> bool:
        """False when this strategy cannot carry out ``intent`` at all (atomic-update and update_all)."""
        return True

    def __init__(self, param: str | None = None) -> None:
        if param is not None:
            raise UsageError(f"strategy {self.name!r} takes no parameter but got {self.name}:{param}")

    # what -S takes to find the class again: its registered name or the import path it was loaded
    # by (``-S myapp.races:CheckedSave``, set by get_strategy); worked out on first use otherwise
    source: str | None = None

    def expected_against(self, bug: Bug) -> Expectation | None:
        """What this configuration does against a scenario of that kind of bug: ``lost``, ``none``, or
        None when it does not say."""
        if self.loses_to is None:
            return None
        return "lost" if bug in self.loses_to else "none"

    @property
    def spec(self) -> str:
        """The name that selects this exact configuration (``timestamp-occ:0``)."""
        return self.name

    def load(self, conn: Connection, tables: Tables, entity: int) -> Snapshot | None:
        """The API-layer read: one committed state of the entity."""
        return tables.snapshot(conn, entity)

    @abstractmethod
    def save(self, conn: Connection, tables: Tables, snapshot: Snapshot, intent: Intent, now: datetime) -> SaveResult:
        """Persist ``intent`` applied to ``snapshot``; ``now`` is the application's clock."""


# --- building blocks the built-in strategies share -------------------------------------------


def update_parent(
    conn: Connection,
    tables: Tables,
    entity: int,
    values: Mapping[str, Any],
    where: Mapping[str, Any] | None = None,
    bump_version: bool = False,
) -> int:
    """UPDATE the parent row; returns the number of rows MATCHED.

    Matched, not changed: SQLAlchemy's MySQL dialects always connect with ``CLIENT.FOUND_ROWS``, so
    an UPDATE that writes identical values (a whole-second ``updated_at`` written again within the
    same second) still reports 1. Without that flag MySQL reports changed rows, and an OCC check
    built on the count would see a false conflict.
    """
    where = where or {}
    if has_expressions(values):  # SET n = n + 1: built per call
        p = tables.parent
        cond = [p.c.id == entity] + [p.c[col] == val for col, val in where.items()]
        bump = {"version": p.c.version + 1} if bump_version else {}
        return conn.execute(update(p).where(*cond).values(**values, **bump)).rowcount
    stmt, params = parent_update(tables, entity, values, where, bump_version)
    return conn.execute(stmt, params).rowcount


def has_expressions(values: Mapping[str, Any]) -> bool:
    """Some value is SQL (``n + 1``), not a plain value a reusable statement can bind."""
    return any(isinstance(v, ClauseElement) for v in values.values())


def parent_update(
    tables: Tables, entity: int, values: Mapping[str, Any], where: Mapping[str, Any], bump_version: bool = False
) -> tuple[Update, dict[str, Any]]:
    """The reusable parent UPDATE and its parameters (plain values only, no SQL expressions)."""
    stmt = tables.parent_update(tuple(where), bump_version)
    return stmt, {**values, "w_id": entity, **{f"w_{col}": val for col, val in where.items()}}


def attribute_values(state: Mapping[str, Value], fields: list[str]) -> dict[str, Value]:
    return {f: state[f] for f in fields}


def read_children(conn: Connection, tables: Tables, entity: int) -> dict[str, Value]:
    """The child rows as they are now, as state fields (``kv:key`` -> value)."""
    if tables.children is None:
        return {}
    rows = conn.execute(tables.children_select, {"entity": entity}).all()
    return {kv_field(k): v for k, v in rows}


def write_children_from_target(
    conn: Connection, tables: Tables, entity: int, target: State, current: Mapping[str, Value] | None = None
) -> dict[str, Value | None]:
    """The DB-layer diff Glance's ``_set_properties_for_image`` and Nova's ``instance_metadata_update``
    perform: read the child rows that exist now, delete those missing from ``target``, insert or
    update the rest. ``target`` was computed from a possibly stale read, which is the bug."""
    statements, written = children_diff(conn, tables, entity, target, current)
    for statement, params in statements:
        conn.execute(statement, params)
    return written


def children_diff(
    conn: Connection, tables: Tables, entity: int, target: State, current: Mapping[str, Value] | None = None
) -> tuple[list[tuple[Executable, dict[str, Any]]], dict[str, Value | None]]:
    """The statements of :func:`write_children_from_target`, not yet run, and what they write.
    Reads the child rows as they are now unless ``current`` gives them."""
    if tables.children is None:
        return [], {}
    if current is None:
        current = read_children(conn, tables, entity)
    wanted = {f: v for f, v in target.items() if is_kv(f)}
    statements: list[tuple[Executable, dict[str, Any]]] = []
    written: dict[str, Value | None] = {}
    for fld in sorted(set(current) - set(wanted)):
        statements.append(tables.delete_child(entity, fld))
        written[fld] = None
    for fld, value in sorted(wanted.items()):
        if fld not in current:
            statements.append(tables.insert_child(entity, fld, value))
            written[fld] = value
        elif current[fld] != value:
            statements.append(tables.update_child(entity, fld, value))
            written[fld] = value
    return statements, written


def upsert_child(conn: Connection, tables: Tables, entity: int, fld: str, value: Value) -> None:
    """UPDATE, and INSERT when no row matched (portable across the three databases)."""
    if conn.execute(*tables.update_child(entity, fld, value)).rowcount == 0:
        conn.execute(*tables.insert_child(entity, fld, value))


def delete_child(conn: Connection, tables: Tables, entity: int, fld: str) -> None:
    conn.execute(*tables.delete_child(entity, fld))


def full_row_write(
    conn: Connection,
    tables: Tables,
    snapshot: Snapshot,
    intent: Intent,
    now: datetime,
    *,
    check: Mapping[str, Any] | None = None,
    bump_version: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> SaveResult:
    """Write every attribute of ``intent.apply(snapshot)`` plus the child diff.

    With ``check`` the parent UPDATE carries those extra WHERE conditions (the OCC check) and a
    miss is a conflict; ``bump_version`` also sets ``version = version + 1``; ``extra`` adds more
    SET columns (values or SQL). This is Glance's ``image_update``: the whole object that was
    loaded goes back. An entity without child rows is written by that one UPDATE alone, so it is
    handed to the runner to run last (:class:`SaveOnCommit`); with child rows, the UPDATE and the
    read of the child rows run here and the child statements are handed over
    (:class:`FinishOnCommit`).
    """
    target = intent.apply(snapshot.state)
    values: dict[str, Any] = attribute_values(target, tables.attributes)
    values["updated_at"] = now
    values.update(extra or {})
    written: dict[str, Value | None] = {f: target[f] for f in tables.attributes}
    if tables.children is None and not has_expressions(values):
        stmt, params = parent_update(tables, snapshot.entity, values, check or {}, bump_version)
        return SaveOnCommit(stmt, params, written)
    if update_parent(conn, tables, snapshot.entity, values, check, bump_version) == 0:
        return Conflict()
    statements, children_written = children_diff(conn, tables, snapshot.entity, target)
    written.update(children_written)
    return FinishOnCommit(tuple(statements), written) if statements else Saved(written)
