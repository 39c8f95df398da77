"""Alembic's environment: the URL comes from the configuration (sqlalchemy.url)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

url = context.config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is not set"
engine = create_engine(url)
try:
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
