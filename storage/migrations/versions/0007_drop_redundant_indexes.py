"""Drop indexes that a unique constraint already provides: every row written by a sync paid for them.

``ix_shop_order_shop_id`` (shop_id) is the leading column of the unique (shop_id, platform_order_id);
``ix_order_line_order_id`` (order_id) of the unique (order_id, platform_line_id); ``ix_refund_order_id``
(order_id) of the unique (order_id, platform_refund_id). Both SQLite and PostgreSQL answer ``shop_id = ?`` /
``order_id = ?`` (and joins on them) from the unique index's leading column, so no query loses its index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REDUNDANT = (("ix_shop_order_shop_id", "shop_order", "shop_id"), ("ix_order_line_order_id", "order_line", "order_id"),
             ("ix_refund_order_id", "refund", "order_id"))


def upgrade() -> None:
    for name, table, _column in REDUNDANT:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in REDUNDANT:
        op.create_index(name, table, [column])
