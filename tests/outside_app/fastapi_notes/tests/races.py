"""The service's race declarations: each operation is a client making real HTTP requests through the
ASGI app (Starlette's TestClient); a 409 or 412 answer is the request refused."""

from fastapi.testclient import TestClient
from notes import db
from notes.api import app
from sqlalchemy import insert

from race_harness import Entity, Scenario, operation

CLIENT = TestClient(app)


def patch_title(note: int, value: str):
    return CLIENT.patch(f"/notes/{note}", json={"title": value})


def patch_body(note: int, value: str):
    return CLIENT.patch(f"/notes/{note}", json={"body": value})


def _if_match(field: str, note: int, value: str):
    for _ in range(5):  # a client that reads again and retries when its ETag was stale
        etag = CLIENT.get(f"/v2/notes/{note}").headers["etag"]
        answer = CLIENT.patch(f"/v2/notes/{note}", json={field: value}, headers={"If-Match": etag})
        if answer.status_code != 412:
            return answer
    return answer


def patch_title_if_match(note: int, value: str):
    return _if_match("title", note, value)


def patch_body_if_match(note: int, value: str):
    return _if_match("body", note, value)


def refused(answer) -> bool:
    return answer.status_code in (409, 412)


def seed(conn) -> None:
    conn.execute(insert(db.notes).values(id=1, title="t", body="b", version=1))


NOTES = Entity(db.notes, keys=[1], seed=seed, version="version")


def _scenario(name: str, title, body, expected: str) -> Scenario:
    return Scenario(
        name,
        entity=NOTES,
        configure=db.configure,
        expected={"app": expected},
        operations={
            "set_title": operation(title, uses="app", sets={"title": "value"}, refused=refused, name="set_title"),
            "set_body": operation(body, uses="app", sets={"body": "value"}, refused=refused, name="set_body"),
        },
    )


PATCH = _scenario("notes_patch", patch_title, patch_body, "lost")
IF_MATCH = _scenario("notes_if_match", patch_title_if_match, patch_body_if_match, "none")
