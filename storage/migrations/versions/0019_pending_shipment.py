"""pending_shipment: a shipped time learnt before its order is stored (an Amazon ShipmentEvent from
listFinancialEvents), kept until the order arrives, like pending_return for refunds.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_order_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("shipped_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "platform_order_id"),
    )


def downgrade() -> None:
    op.drop_table("pending_shipment")
