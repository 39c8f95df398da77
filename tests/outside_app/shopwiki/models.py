"""The application's ORM models: its own tables, column types and keys."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Item(Base):
    """A stock line, as version 1 of the application has it: no concurrency control."""

    __tablename__ = "items"
    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    on_hand: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class StockItem(Base):
    """The same stock line in version 2: SQLAlchemy checks ``revision`` on every UPDATE."""

    __tablename__ = "stock_items"
    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    on_hand: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012 - SQLAlchemy reads it from the class


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[date] = mapped_column(Date)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    tags: Mapped[list[Tag]] = relationship(back_populates="document", cascade="all, delete-orphan")


class Tag(Base):
    __tablename__ = "document_tags"
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[Document] = relationship(back_populates="tags")
