"""The HTTP API: ``PATCH /notes/{id}`` loads the note, changes it in memory and writes every column
back (the naive way); ``/v2`` answers ``GET`` with an ETag and refuses a ``PATCH`` whose
``If-Match`` is stale with 412 Precondition Failed."""

from typing import Any

from fastapi import FastAPI, Header, Response
from sqlalchemy import select, update

from notes.db import engine, notes

app = FastAPI()


def _load(note: int) -> dict[str, Any]:
    with engine().begin() as conn:
        return dict(conn.execute(select(notes).where(notes.c.id == note)).mappings().one())


@app.patch("/notes/{note}")
def patch_note(note: int, change: dict[str, str]) -> dict[str, Any]:
    row = {**_load(note), **change}
    with engine().begin() as conn:
        conn.execute(update(notes).where(notes.c.id == note).values(title=row["title"], body=row["body"]))
    return row


@app.get("/v2/notes/{note}")
def get_note(note: int, response: Response) -> dict[str, Any]:
    row = _load(note)
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


@app.patch("/v2/notes/{note}")
def patch_note_checked(
    note: int, change: dict[str, str], response: Response, if_match: str = Header()
) -> dict[str, Any]:
    version = int(if_match.strip('"'))
    with engine().begin() as conn:
        stored = conn.execute(
            update(notes).where(notes.c.id == note, notes.c.version == version).values(**change, version=version + 1)
        )
    if stored.rowcount != 1:
        response.status_code = 412  # the ETag the client read is stale
        return {}
    return change
