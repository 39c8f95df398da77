"""The accounts the application updates, currencies with their reference rows (a data migration),
and a column added to a table made earlier."""

import sqlalchemy as sa
from alembic import op

revision = "r12"
down_revision = "r11"


def upgrade() -> None:
    currencies = op.create_table(
        "currencies",
        sa.Column("code", sa.String(3), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
    )
    op.bulk_insert(currencies, [{"code": "EUR", "name": "Euro"}, {"code": "USD", "name": "US dollar"}])
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("currency", sa.String(3), sa.ForeignKey("currencies.code"), nullable=False),
    )
    # batch mode: SQLite cannot add a constraint in place, so Alembic copies the table there
    with op.batch_alter_table("customer_0") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_customer_0_account", "accounts", ["account_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("customer_0") as batch:
        batch.drop_constraint("fk_customer_0_account", type_="foreignkey")
        batch.drop_column("account_id")
    op.drop_table("accounts")
    op.drop_table("currencies")
