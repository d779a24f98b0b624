"""The orders' time indexes (paid_at, shipped_at, cancelled_at) carry the shop and the member.

Why: the order sums read a few orders one by one (those counted in the quarter-hour of now or of the refund cut-off,
those cancelled since the start of now's hour), of a shop or of a team's members. They picked every order of the
range, of every shop, and fetched each row to test its owner: at ten million orders a quarter-hour holds about 1,200
orders, 6 ms a read. With the owner in the index the pick is made from the index alone.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CANCELLED = sa.text("cancelled_at IS NOT NULL")


def upgrade() -> None:
    for column in ("paid_at", "shipped_at"):
        op.drop_index(f"ix_shop_order_{column}", "shop_order")
        op.create_index(f"ix_shop_order_{column}", "shop_order", [column, "shop_id", "member_id"])
    op.drop_index("ix_shop_order_cancelled_at", "shop_order")
    op.create_index("ix_shop_order_cancelled_at", "shop_order", ["cancelled_at", "shop_id", "member_id"],
                    sqlite_where=_CANCELLED, postgresql_where=_CANCELLED)


def downgrade() -> None:
    for column in ("paid_at", "shipped_at"):
        op.drop_index(f"ix_shop_order_{column}", "shop_order")
        op.create_index(f"ix_shop_order_{column}", "shop_order", [column])
    op.drop_index("ix_shop_order_cancelled_at", "shop_order")
    op.create_index("ix_shop_order_cancelled_at", "shop_order", ["cancelled_at"], sqlite_where=_CANCELLED,
                    postgresql_where=_CANCELLED)
