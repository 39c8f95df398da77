"""The DB API: a module-level engine built from configuration, and one function per statement group.

Every function opens its own transaction on the application's engine, as oslo.db's enginefacade
or a Flask-SQLAlchemy model method does; none is handed a connection.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, select, update

from helpdesk.models import tickets

_engine: Engine | None = None
POOL_SIZE = 8


class Conflict(Exception):
    """Somebody saved the ticket since it was read (the API answers 409)."""


def configure(url: str) -> None:
    """Point the application at a database (start-up reads ``HELPDESK_DATABASE_URL``)."""
    global _engine
    if _engine is not None:
        _engine.dispose()
    _engine = create_engine(url, pool_size=POOL_SIZE)
    # start-up opens the pool (and fails fast when the database does not answer): requests then
    # find a connection waiting instead of each connecting first
    opened = [_engine.connect() for _ in range(POOL_SIZE)]
    for conn in opened:
        conn.close()


def engine() -> Engine:
    if _engine is None:
        configure(os.environ.get("HELPDESK_DATABASE_URL", "sqlite:///helpdesk.db"))
    assert _engine is not None
    return _engine


def ticket_get(ticket_id: int) -> dict[str, Any]:
    with engine().begin() as conn:
        row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).mappings().one()
    return dict(row)


def ticket_update(ticket_id: int, values: dict[str, Any]) -> None:
    """UPDATE the given columns: safe on its own, since it writes only what it is given."""
    with engine().begin() as conn:
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))


def ticket_update_checked(ticket_id: int, values: dict[str, Any], revision: int) -> None:
    """UPDATE only if the row is still at ``revision``, bumping it; Conflict otherwise."""
    with engine().begin() as conn:
        done = conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id, tickets.c.revision == revision)
            .values(**values, revision=tickets.c.revision + 1)
        ).rowcount
    if done != 1:
        raise Conflict(f"ticket {ticket_id} changed since revision {revision}")
