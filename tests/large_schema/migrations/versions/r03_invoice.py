"""invoice tables: ten of them, each referring to the one before (the first to the last of r02)."""

import sqlalchemy as sa
from alembic import op

revision = "r03"
down_revision = "r02"
PARENT = "order_9"


def upgrade() -> None:
    parent = PARENT
    for i in range(10):
        name = f"invoice_{i}"
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("code", sa.String(32), nullable=False, unique=True),
            sa.Column("title", sa.String(200), nullable=False, server_default=""),
            sa.Column("amount", sa.Numeric(12, 2), nullable=False, server_default="0"),
            sa.Column("state", sa.String(16), nullable=False, server_default="new"),
            sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
            *([sa.Column("parent_id", sa.Integer, sa.ForeignKey(f"{parent}.id"), nullable=True)] if parent else []),
        )
        op.create_index(f"ix_{name}_state", name, ["state", "created_at"])
        parent = name


def downgrade() -> None:
    for i in reversed(range(10)):
        op.drop_table(f"invoice_{i}")
