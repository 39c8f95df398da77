"""shopwiki's races, declared over its own models and functions with race-harness's public API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shopwiki import stock, wiki
from shopwiki.models import Base, Document, Item, StockItem, Tag
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from race_harness import Children, Entity, Scenario, operation


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
