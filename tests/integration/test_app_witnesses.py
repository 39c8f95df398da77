"""Verdicts on application code rest on what each call read and wrote, taken from its own statements.

The same small application (``tests/example_app/witnessed.py``) through every way the harness hands
it the database (ORM session, Core connection, driver connection, an engine of its own), on every
database: a stale write-back that a later write covers leaves the final state clean, and is still
judged lost, the evidence naming the call and its statement; a call that removes a child row
another call added likewise; the fixed code loses nothing, with contention (its calls read the
same state and both wrote).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from race_harness import Scenario, ScheduleRunner, get_strategy, operation
from race_harness.databases import Backend
from race_harness.operations import Handle
from tests.example_app import witnessed as app

STYLES: dict[Handle, str] = {"session": "orm", "connection": "core", "dbapi": "dbapi", "app": "app"}
ENTITY = app.ENTITY


def _scenario(uses: Handle, fixed: bool) -> Scenario:
    def fn(name: str) -> Callable[..., Any]:
        found: Callable[..., Any] = getattr(app, f"{STYLES[uses]}_{name}{'_fixed' if fixed else ''}")
        return found

    return Scenario(
        f"witnessed_{STYLES[uses]}{'_fixed' if fixed else ''}",
        entity=ENTITY,
        configure=app.configure if uses == "app" else None,
        operations={
            "retitle": operation(fn("save"), uses=uses, sets="title"),
            "rebody": operation(fn("save"), uses=uses, sets="body"),
            "tag": operation(fn("tag"), uses=uses, adds_child="label"),
        },
        expected={"app": "none" if fixed else "lost"},
    )


@pytest.fixture(params=list(STYLES), ids=lambda uses: f"uses={uses}")
def uses(request: pytest.FixtureRequest) -> Handle:
    handle: Handle = request.param
    return handle


def test_a_stale_write_back_that_a_later_write_covers_is_lost(backend: Backend, uses: Handle) -> None:
    scenario = _scenario(uses, fixed=False)
    schedule = "A=retitle B=rebody C=retitle A.read B.read A.write B.write C.read C.write"
    with ScheduleRunner(backend) as runner:
        result = runner.run(schedule, scenario, get_strategy("app"))
    text = result.format()
    a, b, c = sorted((op for op in result.history.operations() if op.role == "writer"), key=lambda op: op.process)
    assert result.final[1]["title"] == c.intent.sets["title"]  # type: ignore[union-attr]
    assert result.final[1]["body"] == b.intent.sets["body"], text  # type: ignore[union-attr]
    kinds = {x.kind for x in result.result.anomalies}
    assert "lost-update" not in kinds, text  # the final state alone shows nothing
    assert result.verdict == "lost-updates", text
    (stale,) = [x for x in result.result.anomalies if x.kind == "stale-write" and x.field == "title"]
    assert stale.ops == (a.id, b.id), text
    assert b.describe() in stale.explanation and "UPDATE" in stale.explanation.upper(), stale.explanation
    assert "wit_notes" in stale.explanation and "the initial value" in stale.explanation, stale.explanation


def test_a_call_that_removes_a_child_row_another_call_added_is_lost(backend: Backend, uses: Handle) -> None:
    scenario = _scenario(uses, fixed=False)
    with ScheduleRunner(backend) as runner:
        result = runner.run("A=tag B=tag A.read B.read A.write B.write", scenario, get_strategy("app"))
    text = result.format()
    a, b = sorted((op for op in result.history.operations() if op.role == "writer"), key=lambda op: op.process)
    assert result.verdict == "lost-updates", text
    (removed,) = [x for x in result.result.anomalies if x.kind == "removed-child"]
    assert removed.ops == (a.id, b.id) and removed.field in a.intent.sets, text  # type: ignore[union-attr]
    statement = "DELETE" if uses in ("dbapi", "app") else "UPDATE"  # the ORM and Core apps soft-delete
    assert statement in removed.explanation.upper() and "wit_tags" in removed.explanation, removed.explanation
    assert "kv:gone" not in result.final[1] and "kv:keep" in result.final[1]  # soft-deleted rows are absent


@pytest.mark.parametrize(
    "schedule", ["A=retitle B=rebody A.read B.read A.write B.write", "A=tag B=tag A.read B.read A.write B.write"]
)
def test_the_fixed_code_loses_nothing_and_its_calls_raced(backend: Backend, uses: Handle, schedule: str) -> None:
    scenario = _scenario(uses, fixed=True)
    with ScheduleRunner(backend) as runner:
        result = runner.run(schedule, scenario, get_strategy("app"))
    text = result.format()
    assert result.verdict == "no-lost-updates", text
    assert result.result.stats.same_read_pairs == 1 and result.result.contention > 0, text
    a, b = (op for op in result.history.operations() if op.role == "writer")
    assert a.read is not None and a.read.state == b.read.state  # type: ignore[union-attr]
    assert set(a.written) >= set(a.intent.sets), a  # type: ignore[union-attr]


def test_a_read_that_ends_with_close_and_no_commit_ends_the_read_phase(backend: Backend) -> None:
    """oslo.db's reader sessions end with close() (the pool's rollback), never a COMMIT. The phase
    schedule still puts both reads before either write transaction, so the Nova shape (a target from
    the reader, the missing tags deleted by the writer) loses a tag every time, 20 of 20."""
    scenario = Scenario(
        "oslo_sessions",
        entity=ENTITY,
        configure=app.configure,
        operations={"tag": operation(app.oslo_tag, uses="app", adds_child="label")},
        expected={"app": "lost"},
    )
    with ScheduleRunner(backend) as runner:
        results = [
            runner.run("A=tag B=tag A.read B.read A.write B.write", scenario, get_strategy("app")) for _ in range(20)
        ]
    assert [r.verdict for r in results] == ["lost-updates"] * 20, results[0].format()
    removed = [x for x in results[0].result.anomalies if x.kind == "removed-child"]
    assert removed and "wit_tags" in removed[0].explanation, results[0].format()


def test_a_call_that_hands_its_statements_to_another_thread_is_still_seen(backend: Backend) -> None:
    """The call is named by its context, not its thread: statements sent from a worker thread that
    carries the caller's context (asyncio.to_thread, as an ASGI app's sync endpoint runs) are the call's."""
    scenario = Scenario(
        "threaded",
        entity=ENTITY,
        configure=app.configure,
        operations={
            "retitle": operation(app.threaded_save, uses="app", sets="title"),
            "rebody": operation(app.threaded_save, uses="app", sets="body"),
        },
        expected={"app": "lost"},
    )
    with ScheduleRunner(backend) as runner:
        result = runner.run("A=retitle B=rebody A.read B.read A.write B.write", scenario, get_strategy("app"))
    assert result.verdict == "lost-updates", result.format()
    assert result.result.lost_writes == 1 and "wit_notes" in result.format(), result.format()
