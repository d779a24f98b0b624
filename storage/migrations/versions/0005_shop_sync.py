"""Shop sync: run state and last error on sync cursors (and longer resume tokens), shop health, shop
credentials, order visits (UTM), affiliate lines and returns waiting for their order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("sync_cursor") as batch:
        batch.alter_column("cursor", existing_type=_text(512), type_=_text(4096), existing_nullable=True)
        batch.add_column(sa.Column("run_since", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("run_until", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("run_high_water", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_error", _text(500), nullable=True))
    op.create_table(
        "shop_health",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("unhealthy_since", storage.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", _text(500), nullable=True),
        sa.Column("last_failure_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id"),
    )
    op.create_table(
        "shop_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("access_token", _text(), nullable=False),
        sa.Column("refresh_token", _text(), nullable=True),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("refresh_expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id"),
    )
    op.create_table(
        "order_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("utm_source", _text(255), nullable=True),
        sa.Column("utm_medium", _text(255), nullable=True),
        sa.Column("utm_campaign", _text(255), nullable=True),
        sa.Column("utm_content", _text(255), nullable=True),
        sa.Column("landing_page", _text(2000), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["shop_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "position"),
    )
    op.create_table(
        "affiliate_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_order_id", _text(128), nullable=False),
        sa.Column("platform_product_id", _text(128), nullable=False),
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
        sa.UniqueConstraint("shop_id", "platform_order_id", "platform_product_id", "creator_handle"),
    )
    op.create_table(
        "pending_return",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_order_id", _text(128), nullable=False),
        sa.Column("platform_refund_id", _text(128), nullable=False),
        sa.Column("kind", _text(24), nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("currency", _text(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.Column("requested_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("completed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "platform_order_id", "platform_refund_id"),
    )


def downgrade() -> None:
    op.drop_table("pending_return")
    op.drop_table("affiliate_line")
    op.drop_table("order_visit")
    op.drop_table("shop_credential")
    op.drop_table("shop_health")
    with op.batch_alter_table("sync_cursor") as batch:
        batch.drop_column("last_error")
        batch.drop_column("run_high_water")
        batch.drop_column("run_until")
        batch.drop_column("run_since")
        batch.alter_column("cursor", existing_type=_text(4096), type_=_text(512), existing_nullable=True)
