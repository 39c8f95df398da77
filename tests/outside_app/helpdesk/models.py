"""The schema of record, as the application's code (and its migrations) know it."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()

tickets = Table(
    "hd_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("title", String(80), nullable=False),
    Column("status", String(20), nullable=False),
    Column("assignee", String(40), nullable=True),
    Column("revision", Integer, nullable=False, server_default="1"),
)
