"""Stock changes, through the ORM and through Core."""

from __future__ import annotations

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from shopwiki.models import Item, StockItem

items = Item.__table__


def receive(session: Session, sku: str, qty: int) -> None:
    """Goods arrived: load the line, add, commit (loses updates: the sum is made from a stale read)."""
    item = session.get(Item, sku)
    assert item is not None
    item.on_hand += qty
    session.commit()


def receive_checked(session: Session, sku: str, qty: int) -> None:
    """The same code on the versioned model: a stale write raises StaleDataError."""
    item = session.get(StockItem, sku)
    assert item is not None
    item.on_hand += qty
    session.commit()


def adjust(conn: Connection, sku: str, qty: int) -> None:
    """A stock correction in Core: read, add in Python, write the sum back."""
    on_hand = conn.execute(select(items.c.on_hand).where(items.c.sku == sku)).scalar_one()
    conn.execute(update(items).where(items.c.sku == sku).values(on_hand=on_hand + qty))
    conn.commit()


def adjust_atomic(conn: Connection, sku: str, qty: int) -> None:
    """The fix: the database adds."""
    conn.execute(update(items).where(items.c.sku == sku).values(on_hand=items.c.on_hand + qty))
    conn.commit()
