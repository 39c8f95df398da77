"""An HTTP API driven in-process, each request a real HTTP request through the ASGI app (Starlette's
``TestClient``): FastAPI's sync endpoints run on a worker thread the request hands them to, and the
harness still knows which call their statements belong to. The naive PATCH (load, change in memory,
write every column back) loses updates under stress and in a phase schedule; the PATCH that checks
``If-Match`` against the row's version answers 412 to a stale ETag, its client reads again and
retries, and it loses nothing while its requests raced (refusals counted as conflicts). A Flask app
through its test client (WSGI, on the calling thread) loses the same update in a phase schedule."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from fastapi import FastAPI, Header, Response
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, select, update

from race_harness import Entity, RunConfig, Scenario, ScheduleRunner, UsageError, get_strategy, operation, run_cell
from race_harness.databases import Backend
from tests.integration.bursts import a_burst_loses

MD = MetaData()
NOTES = Table(
    "api_notes",
    MD,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(40), nullable=False),
    Column("body", String(40), nullable=False),
    Column("version", Integer, nullable=False),
)
ENGINE: dict[str, Engine] = {}
api = FastAPI()


def configure(url: str) -> None:
    if "engine" in ENGINE:
        ENGINE["engine"].dispose()
    ENGINE["engine"] = create_engine(url, pool_size=8)


def _load(note: int) -> dict[str, Any]:
    with ENGINE["engine"].begin() as conn:
        row = conn.execute(select(NOTES).where(NOTES.c.id == note)).mappings().one()
    return dict(row)


@api.patch("/notes/{note}")
def patch_naive(note: int, change: dict[str, str]) -> dict[str, Any]:
    row = {**_load(note), **change}
    with ENGINE["engine"].begin() as conn:
        conn.execute(update(NOTES).where(NOTES.c.id == note).values(title=row["title"], body=row["body"]))
    return row


@api.get("/v2/notes/{note}")
def get_checked(note: int, response: Response) -> dict[str, Any]:
    row = _load(note)
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


@api.patch("/v2/notes/{note}")
def patch_checked(note: int, change: dict[str, str], response: Response, if_match: str = Header()) -> dict[str, Any]:
    version = int(if_match.strip('"'))
    with ENGINE["engine"].begin() as conn:
        stored = conn.execute(
            update(NOTES).where(NOTES.c.id == note, NOTES.c.version == version).values(**change, version=version + 1)
        )
    if stored.rowcount != 1:
        response.status_code = 412  # Precondition Failed: the ETag the client read is stale
        return {}
    return change


CLIENT = TestClient(api)


def _naive(field: str) -> Any:
    def call(note: int, value: str) -> Any:
        return CLIENT.patch(f"/notes/{note}", json={field: value})

    call.__name__ = f"patch_{field}"
    return call


def _checked(field: str) -> Any:
    def call(note: int, value: str) -> Any:
        for _ in range(5):  # a client that reads again and retries on 412
            etag = CLIENT.get(f"/v2/notes/{note}").headers["etag"]
            answer = CLIENT.patch(f"/v2/notes/{note}", json={field: value}, headers={"If-Match": etag})
            if answer.status_code != 412:
                return answer
        return answer

    call.__name__ = f"patch_{field}_checked"
    return call


def _refused(answer: Any) -> bool:
    return answer.status_code in (409, 412)


def _seed(conn: Any) -> None:
    conn.execute(insert(NOTES).values(id=1, title="t", body="b", version=1))


def _scenario(name: str, make: Any) -> Scenario:
    ops = {
        f"set_{f}": operation(make(f), uses="app", sets={f: "value"}, refused=_refused, name=f"set_{f}")
        for f in ("title", "body")
    }
    entity = Entity(NOTES, keys=[1], seed=_seed, version="version")  # the version a GET answers as its ETag
    return Scenario(name, entity=entity, configure=configure, operations=ops)


NAIVE = _scenario("api_notes", _naive)
CHECKED = _scenario("api_notes_checked", _checked)
BURST = RunConfig(writers=8, readers=1, ops=16, think_ms=50)
APP = get_strategy("app")


def test_a_phase_schedule_loses_an_update_through_the_http_api(backend: Backend) -> None:
    with ScheduleRunner(backend) as runner:
        out = runner.run("A=set_title B=set_body A.read B.read A.write B.write", NAIVE, APP)
    assert out.result.verdict == "lost-updates", out.transcript


def test_the_etag_a_client_read_is_its_read_version(backend: Backend) -> None:
    """B's first PATCH carries the ETag both read and answers 412; its client reads again and its
    second PATCH, with the ETag A's PATCH made, succeeds: that ETag is the read B's write rests on."""
    with ScheduleRunner(backend) as runner:
        out = runner.run("A=set_title B=set_body A.read B.read A.write B.write", CHECKED, APP)
    reads = {op.name: op.read for op in out.history.operations() if op.type == "ok"}
    assert out.result.verdict == "no-lost-updates", out.transcript
    assert reads["set_title"] is not None and reads["set_title"].version == 1, reads
    assert reads["set_body"] is not None and reads["set_body"].version == 2, reads
    assert reads["set_body"].state["title"] == "s0.0", reads  # what A's PATCH stored, read with its ETag


def test_a_stress_burst_catches_the_naive_patch(backend: Backend) -> None:
    a_burst_loses(NAIVE, backend, BURST)


def test_the_if_match_patch_loses_nothing_while_its_requests_raced(backend: Backend) -> None:
    cell = run_cell(CHECKED, APP, backend, BURST)
    assert cell.result is not None and not cell.harness_errors, cell.harness_errors
    assert cell.result.verdict == "no-lost-updates", cell.result
    assert cell.result.stats.raced_writes > 0 or cell.result.stats.conflicts > 0


# --- a WSGI app: Flask's test client, each request through the WSGI app on the calling thread -------

wsgi = flask.Flask("notes")


@wsgi.patch("/notes/<int:note>")
def flask_patch_naive(note: int) -> dict[str, Any]:
    return patch_naive(note, flask.request.get_json())


FLASK_CLIENT = wsgi.test_client()


def _flask_naive(field: str) -> Any:
    def call(note: int, value: str) -> Any:
        return FLASK_CLIENT.patch(f"/notes/{note}", json={field: value})

    call.__name__ = f"flask_patch_{field}"
    return call


FLASK_NAIVE = _scenario("api_notes_flask", _flask_naive)


def test_a_phase_schedule_loses_an_update_through_a_wsgi_app(backend: Backend) -> None:
    with ScheduleRunner(backend) as runner:
        out = runner.run("A=set_title B=set_body A.read B.read A.write B.write", FLASK_NAIVE, APP)
    assert out.result.verdict == "lost-updates", out.transcript


# --- an HTTP call that never reaches the database: one line naming the scenario --------------------


@api.patch("/cached/notes/{note}")
def patch_cache_only(note: int, change: dict[str, str]) -> dict[str, Any]:
    return change  # answers 200 and stores nothing: the harness has nothing to step or read


def _cache_only(field: str) -> Any:
    def call(note: int, value: str) -> Any:
        return CLIENT.patch(f"/cached/notes/{note}", json={field: value})

    call.__name__ = f"patch_{field}_cache_only"
    return call


def test_an_http_call_that_never_reaches_the_database_is_one_line(backend: Backend) -> None:
    with ScheduleRunner(backend) as runner, pytest.raises(UsageError) as err:
        runner.run("A=set_title B=set_body A.read B.read A.write B.write", _scenario("api_cache", _cache_only), APP)
    message = str(err.value)
    assert "\n" not in message, message
    assert message.startswith(
        "scenario 'api_cache': operation 'set_title' (_cache_only.<locals>.call) sent no statement"
    )
