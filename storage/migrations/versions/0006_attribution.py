"""Creator attribution: orders the writer marks for (re)attribution, every promo code of an order,
creators' own buyer ids (self-referral), and affiliate lines keyed by SKU (TikTok reports one line per SKU:
two SKUs of one product in one order are two lines).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


AFFILIATE_COLUMNS = ("shop_id", "platform_order_id", "platform_product_id", "creator_handle", "content_type",
                     "content_id", "commission_rate", "currency", "amount_minor", "quantity", "refunded_quantity",
                     "status", "created_at", "updated_at")


def _affiliate_table(name: str, with_sku: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_order_id", _text(128), nullable=False),
        sa.Column("platform_product_id", _text(128), nullable=False),
        *([sa.Column("platform_sku_id", _text(128), nullable=False)] if with_sku else []),
        sa.Column("creator_handle", _text(128), nullable=False),
        sa.Column("content_type", _text(32), nullable=False),
        sa.Column("content_id", _text(128), nullable=True),
        sa.Column("commission_rate", storage.types.ExactDecimal(length=40), nullable=False),
        sa.Column("currency", _text(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("refunded_quantity", sa.Integer(), nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "platform_order_id", "platform_product_id", "platform_sku_id", "creator_handle",
                            name="uq_affiliate_line_sku") if with_sku else
        sa.UniqueConstraint("shop_id", "platform_order_id", "platform_product_id", "creator_handle"),
    )


def _copy_affiliate_lines(with_sku: bool) -> None:
    """A new affiliate_line in place of the old: its unique key changes, and the old one has no name to drop
    (SQLite), so the table is rebuilt. Lines stored before had no SKU: they keep '' as their SKU id."""
    _affiliate_table("affiliate_line_new", with_sku)
    cols = ", ".join(AFFILIATE_COLUMNS)
    if with_sku:
        op.execute(f"INSERT INTO affiliate_line_new ({cols}, platform_sku_id) SELECT {cols}, '' FROM affiliate_line")
    else:   # back: one line per product, the SKUs' amounts and quantities added up
        summed = ("amount_minor", "quantity", "refunded_quantity")
        keep = [c for c in AFFILIATE_COLUMNS if c not in summed and c not in
                ("shop_id", "platform_order_id", "platform_product_id", "creator_handle")]
        op.execute(f"INSERT INTO affiliate_line_new ({cols}) SELECT shop_id, platform_order_id, platform_product_id, "
                   "creator_handle, " + ", ".join(f"MAX({c})" if c in keep else f"SUM({c})"
                                                  for c in AFFILIATE_COLUMNS[4:])
                   + " FROM affiliate_line GROUP BY shop_id, platform_order_id, platform_product_id, creator_handle")
    op.drop_table("affiliate_line")
    op.rename_table("affiliate_line_new", "affiliate_line")


def upgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.add_column(sa.Column("attribution_due", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.alter_column("promo_code", existing_type=_text(64), type_=_text(255), existing_nullable=True)
    op.create_index("ix_shop_order_attribution_due", "shop_order", ["shop_id"],
                    sqlite_where=sa.text("attribution_due"), postgresql_where=sa.text("attribution_due"))
    op.create_table(
        "creator_buyer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("buyer_ref", _text(128), nullable=False),
        sa.Column("platform", _text(32), nullable=False),
        sa.Column("note", _text(200), nullable=True),
        sa.ForeignKeyConstraint(["creator_id"], ["creator.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("creator_id", "buyer_ref"),
    )
    _copy_affiliate_lines(with_sku=True)


def downgrade() -> None:
    _copy_affiliate_lines(with_sku=False)
    op.drop_table("creator_buyer")
    op.drop_index("ix_shop_order_attribution_due", table_name="shop_order")
    with op.batch_alter_table("shop_order") as batch:
        batch.alter_column("promo_code", existing_type=_text(255), type_=_text(64), existing_nullable=True)
        batch.drop_column("attribution_due")
