"""order_sum and order_product_sum: the orders' figures by quarter-hour (storage.order_sums), their ledger
(order_sum_part, order_product_part: what each order adds), order_sum_due and the triggers that mark the orders a
change to shop_order, refund or order_line makes stale, and the sums of the orders already stored, built here.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.order_sums import forget, install, rebuild_in, uninstall

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_sum",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("moment_slot", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effect_slot", sa.Integer(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "basis", "moment_slot", "member_id", "creator_id", "currency",
                                "effect_slot"),
    )
    op.create_index("ix_order_sum_member", "order_sum", ["member_id", "basis", "moment_slot"])
    op.create_table(
        "order_product_sum",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("moment_slot", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("effect_slot", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "basis", "moment_slot", "product_id", "currency", "effect_slot"),
    )
    op.create_index("ix_order_product_sum_product", "order_product_sum", ["product_id", "basis", "moment_slot"])
    op.create_table(
        "order_shape_sum",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("moment_slot", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "basis", "moment_slot"),
    )
    op.create_table(
        "order_sum_part",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("effect_slot", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("moment_slot", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.Column("shape_orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "basis", "effect_slot"),
    )
    op.create_table(
        "order_product_part",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("effect_slot", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("moment_slot", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "basis", "product_id", "effect_slot"),
    )
    op.create_table(
        "order_sum_due",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_shop_order_cancelled_at", "shop_order", ["cancelled_at"],
                    sqlite_where=sa.text("cancelled_at IS NOT NULL"), postgresql_where=sa.text("cancelled_at IS NOT NULL"))
    op.create_index("ix_refund_completed_at", "refund", ["completed_at"],
                    sqlite_where=sa.text("completed_at IS NOT NULL"), postgresql_where=sa.text("completed_at IS NOT NULL"))
    conn = op.get_bind()
    install(conn)
    rebuild_in(conn, hours=False)   # the hour tables come with 0033


def downgrade() -> None:
    conn = op.get_bind()
    uninstall(conn)
    op.drop_table("order_sum_due")
    op.drop_table("order_product_part")
    op.drop_table("order_sum_part")
    op.drop_table("order_shape_sum")
    op.drop_index("ix_refund_completed_at", "refund")
    op.drop_index("ix_shop_order_cancelled_at", "shop_order")
    op.drop_index("ix_order_product_sum_product", "order_product_sum")
    op.drop_table("order_product_sum")
    op.drop_index("ix_order_sum_member", "order_sum")
    op.drop_table("order_sum")
    forget(conn.engine)
