"""inventory_snapshot.imported: a day's stock that `kpibot products import` wrote, which a shop sync (TikTok
product search, Shopee item info) never replaces; a sync replaces only what a sync stored that day.

Rows stored before this revision came from imports (or the demo): they are marked imported.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inventory_snapshot") as batch:
        batch.add_column(sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE inventory_snapshot SET imported = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("inventory_snapshot") as batch:
        batch.drop_column("imported")
