"""Alembic's environment: the URL comes from ``sqlalchemy.url``, which race_harness.Alembic sets.
With ``LEDGER_MIGRATION_LOG`` set, every upgrade adds a line to that file: how a test counts the
times the migrations ran."""

import os

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
if os.environ.get("LEDGER_MIGRATION_LOG"):
    with open(os.environ["LEDGER_MIGRATION_LOG"], "a", encoding="utf-8") as log:
        log.write("upgrade\n")
