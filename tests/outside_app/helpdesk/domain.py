"""The domain object: loads a ticket, is changed in memory, saves itself."""

from __future__ import annotations

from typing import Any

from helpdesk import db

FIELDS = ("title", "status", "assignee")


class Ticket:
    def __init__(self, ticket_id: int, row: dict[str, Any]) -> None:
        self.id = ticket_id
        self.revision = row["revision"]
        for name in FIELDS:
            setattr(self, name, row[name])

    @classmethod
    def load(cls, ticket_id: int) -> Ticket:
        return cls(ticket_id, db.ticket_get(ticket_id))

    def save(self) -> None:
        """Write back every field it loaded (the Glance pattern: a concurrent change to another
        field is overwritten with the value read before it)."""
        db.ticket_update(self.id, {name: getattr(self, name) for name in FIELDS})


class CheckedTicket(Ticket):
    def save(self) -> None:
        """The same write, refused with Conflict when the ticket changed since it was loaded."""
        db.ticket_update_checked(self.id, {name: getattr(self, name) for name in FIELDS}, self.revision)
        self.revision += 1
