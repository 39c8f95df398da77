"""The API handlers: what a request runs."""

from __future__ import annotations

from helpdesk.db import Conflict
from helpdesk.domain import CheckedTicket, Ticket

RETRIES = 20


def set_title(ticket_id: int, title: str) -> None:
    ticket = Ticket.load(ticket_id)
    ticket.title = title
    ticket.save()


def set_status(ticket_id: int, status: str) -> None:
    ticket = Ticket.load(ticket_id)
    ticket.status = status
    ticket.save()


def _retrying(ticket_id: int, field: str, value: str) -> None:
    """Load, change, save; on Conflict load again and redo the change (the fix at the handler)."""
    for _ in range(RETRIES):
        ticket = CheckedTicket.load(ticket_id)
        setattr(ticket, field, value)
        try:
            ticket.save()
            return
        except Conflict:
            continue
    raise Conflict(f"ticket {ticket_id}: gave up after {RETRIES} conflicts")


def set_title_checked(ticket_id: int, title: str) -> None:
    _retrying(ticket_id, "title", title)


def set_status_checked(ticket_id: int, status: str) -> None:
    _retrying(ticket_id, "status", status)
