"""What approved appeals change (services.appeal_adjustments): the appeal_adjustment table, only ever added to.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import ExactDecimal, UTCDateTime

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "appeal_adjustment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("period", text(length=7), nullable=False),
        sa.Column("kind", text(length=16), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("to_member_id", sa.Integer(), nullable=True),
        sa.Column("creator_id", sa.Integer(), nullable=True),
        sa.Column("live_session_id", sa.Integer(), nullable=True),
        sa.Column("metric_key", text(length=48), nullable=True),
        sa.Column("value", ExactDecimal(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["shop_order.id"]),
        sa.ForeignKeyConstraint(["to_member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["creator_id"], ["creator.id"]),
        sa.ForeignKeyConstraint(["live_session_id"], ["live_session.id"]),
        sa.ForeignKeyConstraint(["created_by_member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appeal_adjustment_appeal_id", "appeal_adjustment", ["appeal_id"], unique=False)
    op.create_index("ix_appeal_adjustment_member_id", "appeal_adjustment", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_appeal_adjustment_member_id", table_name="appeal_adjustment")
    op.drop_index("ix_appeal_adjustment_appeal_id", table_name="appeal_adjustment")
    op.drop_table("appeal_adjustment")
