"""shopwiki's races, declared over its own models and functions with race-harness's public API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from helpdesk import api, db
from helpdesk.domain import CheckedTicket, Ticket
from helpdesk.models import tickets
from shopwiki import stock, wiki
from shopwiki.models import Base, Document, Item, StockItem, Tag
from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from race_harness import Alembic, Children, Entity, Scenario, operation


def seed_items(conn: Connection) -> None:
    with Session(bind=conn) as session:
        session.add(Item(sku="W-1", name="widget", on_hand=10, price=Decimal("2.50"), active=True))
        session.add(StockItem(sku="W-1", name="widget", on_hand=10))
        session.flush()


def seed_documents(conn: Connection) -> None:
    with Session(bind=conn) as session:
        doc = Document(id=1, title="Home", body="Welcome", attrs={"lang": "en"}, created=date(2026, 1, 1))
        doc.tags = [Tag(label="start")]
        session.add(doc)
        session.flush()


ITEMS = Entity(Item, keys=["W-1"], seed=seed_items, tokens=["updated"], metadata=Base.metadata)
STOCK_ITEMS = Entity(StockItem, keys=["W-1"], seed=seed_items, tokens=["revision"], metadata=Base.metadata)
DOCUMENTS = Entity(
    Document,
    keys=[1],
    seed=seed_documents,
    children=Children(Tag, key="label"),
    tokens=["lock_version"],
    metadata=Base.metadata,
)

RECEIVE = Scenario(
    "receive",
    "goods received through the ORM: session.get, +=, commit",
    entity=ITEMS,
    operations={"receive": operation(stock.receive, uses="session", increments={"on_hand": "qty"}, values={"qty": 3})},
    expected={"app": "lost"},
)
RECEIVE_CHECKED = Scenario(
    "receive_checked",
    "the same code on a model with version_id_col",
    entity=STOCK_ITEMS,
    operations={
        "receive": operation(stock.receive_checked, uses="session", increments={"on_hand": "qty"}, values={"qty": 3})
    },
    expected={"app": "none"},
)
ADJUST = Scenario(
    "adjust",
    "a Core read-add-write of the stock count",
    entity=ITEMS,
    operations={"adjust": operation(stock.adjust, increments={"on_hand": "qty"}, values={"qty": 2})},
    expected={"app": "lost"},
)
ADJUST_ATOMIC = Scenario(
    "adjust_atomic",
    "the database adds",
    entity=ITEMS,
    operations={"adjust": operation(stock.adjust_atomic, increments={"on_hand": "qty"}, values={"qty": 2})},
    expected={"app": "none"},
)
PAGE_EDITS = Scenario(
    "page_edits",
    "title and body edits on the driver's connection; each save writes both back",
    entity=DOCUMENTS,
    operations={
        "retitle": operation(wiki.retitle, uses="dbapi", sets="title"),
        "edit-body": operation(wiki.edit_body, uses="dbapi", sets="body"),
    },
    expected={"app": "lost"},
)
PAGE_EDITS_CHECKED = Scenario(
    "page_edits_checked",
    "the same edits, saved only if lock_version is unchanged",
    entity=DOCUMENTS,
    operations={
        "retitle": operation(wiki.retitle_checked, uses="dbapi", sets="title", refused=lambda saved: not saved),
        "edit-body": operation(wiki.edit_body_checked, uses="dbapi", sets="body", refused=lambda saved: not saved),
    },
    expected={"app": "none"},
)
TAGGING = Scenario(
    "tagging",
    "add a tag by saving the whole tag set read earlier",
    entity=DOCUMENTS,
    operations={"add-tag": operation(wiki.add_tag, uses="session", adds_child="label")},
    expected={"app": "lost"},
)
TAGGING_FIXED = Scenario(
    "tagging_fixed",
    "add a tag by inserting it",
    entity=DOCUMENTS,
    operations={"add-tag": operation(wiki.add_tag_fixed, uses="session", adds_child="label")},
    expected={"app": "none"},
)


# --- helpdesk: an application that connects itself, its schema made by its Alembic migrations -----


def seed_tickets(conn: Connection) -> None:
    conn.execute(insert(tickets).values(id=1, title="printer jams", status="new", assignee="kim", revision=1))


def _via_domain(cls: type[Ticket], ticket_id: int, **change: str) -> None:
    """The domain layer alone: load the object, change it, save it."""
    ticket = cls.load(ticket_id)
    for name, value in change.items():
        setattr(ticket, name, value)
    ticket.save()


def retitle_via_domain(ticket_id: int, title: str) -> None:
    _via_domain(Ticket, ticket_id, title=title)


def restatus_via_domain(ticket_id: int, status: str) -> None:
    _via_domain(Ticket, ticket_id, status=status)


def retitle_checked_via_domain(ticket_id: int, title: str) -> None:
    _via_domain(CheckedTicket, ticket_id, title=title)


def restatus_checked_via_domain(ticket_id: int, status: str) -> None:
    _via_domain(CheckedTicket, ticket_id, status=status)


def retitle_via_db(ticket_id: int, title: str) -> None:
    """The DB API function alone, given only the column the request changes."""
    db.ticket_update(ticket_id, {"title": title})


def restatus_via_db(ticket_id: int, status: str) -> None:
    db.ticket_update(ticket_id, {"status": status})


TICKETS = Entity(tickets, keys=[1], seed=seed_tickets, tokens=["revision"], create=Alembic("helpdesk:migrations"))


def _helpdesk(name: str, summary: str, title: object, status: object, expected: str, **kw: object) -> Scenario:
    return Scenario(
        name,
        summary,
        entity=TICKETS,
        configure=db.configure,
        operations={
            "retitle": operation(title, uses="app", sets="title", **kw),  # type: ignore[arg-type]
            "restatus": operation(status, uses="app", sets="status", **kw),  # type: ignore[arg-type]
        },
        expected={"app": expected},  # type: ignore[dict-item]
    )


HANDLER = _helpdesk(
    "helpdesk_handler",
    "API handlers: load the ticket, change one field, save all",
    api.set_title,
    api.set_status,
    "lost",
)
DOMAIN = _helpdesk("helpdesk_domain", "Ticket.load / change / save()", retitle_via_domain, restatus_via_domain, "lost")
DB_LAYER = _helpdesk(
    "helpdesk_db", "the DB function alone, writing the one column", retitle_via_db, restatus_via_db, "none"
)
HANDLER_CHECKED = _helpdesk(
    "helpdesk_handler_checked",
    "handlers saving with a revision check, retrying on Conflict",
    api.set_title_checked,
    api.set_status_checked,
    "none",
    conflicts=[db.Conflict],  # only if it gives up retrying: a refusal, never a loss
)
DOMAIN_CHECKED = _helpdesk(
    "helpdesk_domain_checked",
    "Ticket.save() refused with Conflict when the revision moved",
    retitle_checked_via_domain,
    restatus_checked_via_domain,
    "none",
    conflicts=[db.Conflict],
)
