"""A synthetic application with a large schema: 12 Alembic revisions making 112 tables (foreign keys,
indexes, defaults, a column added later, reference rows from a data migration), an engine that can
be configured once per process (oslo.db's enginefacade), and an account update that writes back
every column it read. ``python -m benchmarks schema`` and ``tests/integration/test_schema_templates.py``
run it; it is what an application's migrations cost, without a third-party application."""
