"""The API handlers: what a request runs. Each validates its input, changes the ticket through the
domain object, and answers with the ticket as saved."""

from __future__ import annotations

from typing import Any

from helpdesk.db import Conflict
from helpdesk.domain import CheckedTicket, Ticket

RETRIES = 20
STATUS_LENGTH = 20


def _answer(ticket: Ticket) -> dict[str, Any]:
    return {"id": ticket.id, "title": ticket.title, "status": ticket.status, "assignee": ticket.assignee}


def _handle(cls: type[Ticket], ticket_id: int, field: str, value: str) -> dict[str, Any]:
    """Load, change, save; with a checked ticket, on Conflict load again and redo the change (the
    fix at the handler)."""
    value = value.strip()
    if not value or (field == "status" and len(value) > STATUS_LENGTH):
        raise ValueError(f"bad {field}: {value!r}")  # 400 Bad Request
    for _ in range(RETRIES):
        ticket = cls.load(ticket_id)
        setattr(ticket, field, value)
        try:
            ticket.save()
            return _answer(ticket)
        except Conflict:
            if cls is Ticket:
                raise
    raise Conflict(f"ticket {ticket_id}: gave up after {RETRIES} conflicts")


def set_title(ticket_id: int, title: str) -> dict[str, Any]:
    return _handle(Ticket, ticket_id, "title", title)


def set_status(ticket_id: int, status: str) -> dict[str, Any]:
    return _handle(Ticket, ticket_id, "status", status)


def set_title_checked(ticket_id: int, title: str) -> dict[str, Any]:
    return _handle(CheckedTicket, ticket_id, "title", title)


def set_status_checked(ticket_id: int, status: str) -> dict[str, Any]:
    return _handle(CheckedTicket, ticket_id, "status", status)
