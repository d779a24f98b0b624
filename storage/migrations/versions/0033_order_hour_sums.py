"""order_hour_sum and order_product_hour_sum: order_sum and order_product_sum by the UTC hour (storage.order_sums),
built here from the ledger of the sums already kept (order_sum_part, order_product_part).

A month's read by local day then costs a member's or a shop's hours rather than their quarter-hours: at most 24
rows a key and day, so the read stops growing with the orders once the hours are full.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.order_sums import forget, rebuild_hours

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUM_VALUES = ["gross_minor", "orders", "value_minor", "refunded_minor", "units", "returned_units"]


def upgrade() -> None:
    op.create_table(
        "order_hour_sum",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("moment_hour", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effect_hour", sa.Integer(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "basis", "moment_hour", "member_id", "creator_id", "currency",
                                "effect_hour"),
    )
    # covering indexes: a member's, a shop's and a shop's products' hours are read from the index alone (on
    # PostgreSQL an index-only scan where the table's pages are all-visible), not a table row fetched per hour
    op.create_index("ix_order_hour_sum_member", "order_hour_sum", ["member_id", "basis", "moment_hour", "currency",
                                                                   "effect_hour", *_SUM_VALUES])
    op.create_index("ix_order_hour_sum_shop", "order_hour_sum", ["shop_id", "basis", "moment_hour", "creator_id",
                                                                 "currency", "effect_hour", *_SUM_VALUES])
    op.create_table(
        "order_product_hour_sum",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("moment_hour", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effect_hour", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "basis", "moment_hour", "product_id", "currency", "effect_hour"),
    )
    op.create_index("ix_order_product_hour_sum_shop", "order_product_hour_sum",
                    ["shop_id", "basis", "moment_hour", "product_id", "currency", "effect_hour", "units", "orders",
                     "amount_minor", "refunded_minor"])
    # from the ledger, as the sums are; orders changed while the store was at 0032 stay due: 0035 folds them (the
    # code's fold keeps the tables 0035 makes too)
    rebuild_hours(op.get_bind())


def downgrade() -> None:
    forget(op.get_bind().engine)   # this process folds no more (its orders stay due, read one by one)
    op.drop_index("ix_order_product_hour_sum_shop", "order_product_hour_sum")
    op.drop_table("order_product_hour_sum")
    op.drop_index("ix_order_hour_sum_shop", "order_hour_sum")
    op.drop_index("ix_order_hour_sum_member", "order_hour_sum")
    op.drop_table("order_hour_sum")
