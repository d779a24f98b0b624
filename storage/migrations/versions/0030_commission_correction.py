"""Commission corrections (services.month_close.refinalise): an appeal approved after a month was paid adds a
correction row beside the payout instead of rewriting it.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import ExactDecimal, UTCDateTime

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "commission_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("period", text(length=7), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=True),
        sa.Column("basis_amount", ExactDecimal(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", text(length=3), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by", text(length=128), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_commission_correction_member_id", "commission_correction", ["member_id"], unique=False)
    op.create_index("ix_commission_correction_period", "commission_correction", ["period"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_commission_correction_period", table_name="commission_correction")
    op.drop_index("ix_commission_correction_member_id", table_name="commission_correction")
    op.drop_table("commission_correction")
