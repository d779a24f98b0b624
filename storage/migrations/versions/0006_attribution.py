"""Creator attribution: orders the writer marks for (re)attribution, every promo code of an order, and
creators' own buyer ids (self-referral).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


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


def downgrade() -> None:
    op.drop_table("creator_buyer")
    op.drop_index("ix_shop_order_attribution_due", table_name="shop_order")
    with op.batch_alter_table("shop_order") as batch:
        batch.alter_column("promo_code", existing_type=_text(255), type_=_text(64), existing_nullable=True)
        batch.drop_column("attribution_due")
