"""The organisation's statistical definitions in the store: when an order counts (paid or shipped) and whether
refunds are netted, set with `kpibot org init|set` like the reporting currency.

Nullable: an organisation whose row says nothing (made before, or by org init without them) keeps going by the
config's [org] values.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.add_column(sa.Column("count_orders_at", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch.add_column(sa.Column("net_refunds", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.drop_column("net_refunds")
        batch.drop_column("count_orders_at")
