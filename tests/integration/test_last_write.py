"""The last write sent together with COMMIT (psycopg), against the same steps run one by one.

Each outcome rule is provoked for real on a real server: a match, a miss (version OCC refusing a
stale write), a failure of the write itself (REPEATABLE READ refusing a concurrent update) and a
failure of the COMMIT (a deferred constraint trigger). On MySQL and SQLite the same calls take the
ordinary path, so the shared tests hold the two paths to the same results.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, text

from race_harness.databases import Backend
from race_harness.databases.base import Isolation
from race_harness.defaults import Scope
from race_harness.model import Intent, State, kv_field
from race_harness.operations import WriteOp, WriterContext
from race_harness.runner.steps import Attempt, OpSteps
from race_harness.scenario import get_scenario
from race_harness.schema import Tables
from race_harness.strategies import FinishOnCommit, get_strategy

from .conftest import get_backend

COUNTER = get_scenario("counter")
(ENTITY,) = COUNTER.entities


@contextmanager
def counter_table(backend: Backend, isolation: Isolation | None = None) -> Iterator[tuple[Engine, Tables]]:
    tables = COUNTER.tables(6)
    with backend.create_database() as scratch:
        engine = scratch.engine(3, isolation)
        try:
            with engine.begin() as conn:
                tables.create(conn)
            yield engine, tables
        finally:
            engine.dispose()


def next_op(seq: int = 0) -> WriteOp:
    return COUNTER.next_write(WriterContext(0, seq, 1, random.Random(seq), COUNTER.params))


def steps_for(
    backend: Backend, tables: Tables, conn: Connection, strategy: str, seq: int = 0, scope: Scope = "separate"
) -> OpSteps:
    return OpSteps(get_strategy(strategy), backend, tables, scope, conn, next_op(seq), write_with_commit=True)


def stored_n(engine: Engine, tables: Tables) -> int:
    with engine.connect() as conn, conn.begin():
        snap = tables.snapshot(conn, ENTITY)
    assert snap is not None
    return int(snap.state["n"])


def bump_elsewhere(engine: Engine, tables: Tables) -> None:
    """Another session commits a change to the row."""
    with engine.begin() as conn:
        conn.execute(tables.parent.update().values(n=tables.parent.c.n + 100, version=tables.parent.c.version + 1))


def run_op(steps: OpSteps, between: list[object] | None = None) -> Attempt:
    assert steps.read() is None
    for action in between or []:
        assert callable(action)
        action()
    return steps.write() or steps.commit()


def test_an_acknowledged_write_is_stored_and_the_connection_goes_on(backend: Backend) -> None:
    with counter_table(backend) as (engine, tables), engine.connect() as conn:
        for seq in range(3):
            steps = steps_for(backend, tables, conn, "full-row", seq)
            outcome = run_op(steps)
            assert outcome.type == "ok", outcome
            # on psycopg the write went out with the COMMIT; elsewhere it ran at write()
            assert (steps.last_write is not None) == (conn.dialect.driver == "psycopg")
        assert stored_n(engine, tables) == 3


def test_a_write_that_matches_no_row_is_a_conflict_and_commits_nothing(backend: Backend) -> None:
    with counter_table(backend) as (engine, tables), engine.connect() as conn:
        steps = steps_for(backend, tables, conn, "version-occ")
        outcome = run_op(steps, [lambda: bump_elsewhere(engine, tables)])
        assert (outcome.type, outcome.reason) == ("fail", "conflict")
        assert stored_n(engine, tables) == 100  # the other session's change, not ours
        assert run_op(steps_for(backend, tables, conn, "version-occ", 1)).type == "ok"  # the connection goes on
        assert stored_n(engine, tables) == 101


def test_a_failed_write_is_fail_and_its_commit_never_ran() -> None:
    """REPEATABLE READ refuses an UPDATE of a row changed since the snapshot: the write fails, the
    server skips the COMMIT queued behind it, and the outcome is a definite ``fail``."""
    backend = get_backend("postgres")
    with counter_table(backend, "repeatable-read") as (engine, tables), engine.connect() as conn:
        steps = steps_for(backend, tables, conn, "full-row", scope="single")  # the read's snapshot is kept
        outcome = run_op(steps, [lambda: bump_elsewhere(engine, tables)])
        assert steps.last_write is not None
        assert (outcome.type, outcome.reason) == ("fail", "serialization"), outcome
        assert stored_n(engine, tables) == 100
        assert run_op(steps_for(backend, tables, conn, "full-row", 1)).type == "ok"
        assert stored_n(engine, tables) == 101


def test_a_write_refused_by_a_constraint_is_fail_not_info() -> None:
    """Unlike a serialization failure, a constraint violation proves nothing about a COMMIT; the
    outcome is ``fail`` only because the write itself failed and the COMMIT behind it never ran."""
    backend = get_backend("postgres")
    with counter_table(backend) as (engine, tables), engine.connect() as conn:
        with engine.begin() as ddl:
            ddl.execute(text("ALTER TABLE counters ADD CONSTRAINT below_one CHECK (n < 1)"))
        steps = steps_for(backend, tables, conn, "full-row")
        outcome = run_op(steps)
        assert steps.last_write is not None
        assert (outcome.type, outcome.reason) == ("fail", "integrity"), outcome
        assert stored_n(engine, tables) == 0
        assert conn.execute(text("SELECT 1")).scalar_one() == 1  # the aborted transaction was rolled back
        conn.rollback()


def test_an_error_from_the_commit_itself_is_info() -> None:
    """A deferred constraint trigger fails at COMMIT, after the write succeeded: as for a lone
    COMMIT the outcome is unknown to the client (``info``), not a definite failure."""
    backend = get_backend("postgres")
    with counter_table(backend) as (engine, tables), engine.connect() as conn:
        with engine.begin() as ddl:
            ddl.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
                )
            )
            ddl.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER refuse AFTER UPDATE ON counters "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        steps = steps_for(backend, tables, conn, "full-row")
        outcome = run_op(steps)
        assert steps.last_write is not None
        assert outcome.type == "info", outcome
        assert outcome.error is not None and "refused at commit" in outcome.error
        assert stored_n(engine, tables) == 0
        assert conn.execute(text("SELECT 1")).scalar_one() == 1  # SQLAlchemy's transaction was ended
        conn.rollback()


@pytest.mark.parametrize("strategy", ["full-row", "version-occ", "timestamp-occ"])
def test_both_paths_store_the_same_row(backend: Backend, strategy: str) -> None:
    """The write sent with COMMIT and the write run at ``write()`` leave identical rows."""
    rows = []
    for together in (True, False):
        with counter_table(backend) as (engine, tables), engine.connect() as conn:
            op = next_op()
            steps = OpSteps(get_strategy(strategy), backend, tables, "single", conn, op, write_with_commit=together)
            assert run_op(steps).type == "ok"
            with conn.begin():
                snap = tables.snapshot(conn, ENTITY)
            assert snap is not None
            rows.append((dict(snap.state), snap.version))
    assert rows[0] == rows[1]


GLANCE = get_scenario("glance_image_update")
(IMAGE,) = GLANCE.entities
# changes one property, adds one and removes one: an UPDATE, an INSERT and a DELETE of child rows
CHILD_CHANGES = WriteOp(
    "update",
    IMAGE,
    Intent(
        sets={"name": "n1", kv_field("architecture"): "arm", kv_field("new"): "1"},
        removes=frozenset({kv_field("gone")}),
    ),
)


@contextmanager
def image_table(backend: Backend) -> Iterator[tuple[Engine, Tables]]:
    tables = GLANCE.tables(6)
    with backend.create_database() as scratch:
        engine = scratch.engine(3)
        try:
            with engine.begin() as conn:
                tables.create(conn)
                conn.execute(*tables.delete_child(IMAGE, kv_field("hw_disk_bus")))  # keep one
                conn.execute(*tables.insert_child(IMAGE, kv_field("gone"), "x"))
            yield engine, tables
        finally:
            engine.dispose()


def children(tables: Tables) -> str:
    assert tables.children is not None
    return tables.children.name


def image_state(engine: Engine, tables: Tables) -> State:
    with engine.connect() as conn, conn.begin():
        snap = tables.snapshot(conn, IMAGE)
    assert snap is not None
    return dict(snap.state)


def glance_steps(backend: Backend, tables: Tables, conn: Connection, *, together: bool = True) -> OpSteps:
    return OpSteps(get_strategy("full-row"), backend, tables, "single", conn, CHILD_CHANGES, write_with_commit=together)


def test_child_statements_go_with_the_commit_and_store_what_running_them_one_by_one_stores(backend: Backend) -> None:
    states = []
    for together in (True, False):
        with image_table(backend) as (engine, tables), engine.connect() as conn:
            steps = glance_steps(backend, tables, conn, together=together)
            outcome = run_op(steps)
            assert outcome.type == "ok", outcome
            sent_together = together and conn.dialect.driver == "psycopg"
            assert isinstance(steps.last_write, FinishOnCommit) == sent_together
            assert outcome.written is not None and outcome.written[kv_field("new")] == "1"
            states.append(image_state(engine, tables))
    assert states[0] == states[1]
    assert states[0]["name"] == "n1" and states[0][kv_field("architecture")] == "arm"
    assert states[0][kv_field("new")] == "1" and kv_field("gone") not in states[0]


def test_a_failed_child_statement_is_fail_and_nothing_of_the_write_is_stored() -> None:
    """The parent UPDATE ran at write(); a child INSERT refused by a constraint fails the query, the
    server skips the COMMIT behind it, and the rollback takes the parent UPDATE with it."""
    backend = get_backend("postgres")
    with image_table(backend) as (engine, tables), engine.connect() as conn:
        with engine.begin() as ddl:
            ddl.execute(text(f"ALTER TABLE {children(tables)} ADD CONSTRAINT no_new CHECK (key <> 'new')"))
        before = image_state(engine, tables)
        steps = glance_steps(backend, tables, conn)
        outcome = run_op(steps)
        assert isinstance(steps.last_write, FinishOnCommit)
        assert (outcome.type, outcome.reason) == ("fail", "integrity"), outcome
        assert image_state(engine, tables) == before
        with engine.begin() as ddl:
            ddl.execute(text(f"ALTER TABLE {children(tables)} DROP CONSTRAINT no_new"))
        assert run_op(glance_steps(backend, tables, conn)).type == "ok"  # the connection goes on
        assert image_state(engine, tables)[kv_field("new")] == "1"
