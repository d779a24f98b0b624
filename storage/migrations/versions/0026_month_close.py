"""Months close (`kpibot month close YYYY-MM`): month_close records who closed a month and when; final_score
holds each member's frozen score of a closed month (services.month_close).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import ExactDecimal, UTCDateTime

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "month_close",
        sa.Column("period", text(length=7), primary_key=True),
        sa.Column("closed_at", UTCDateTime(), nullable=False),
        sa.Column("closed_by", text(length=128), nullable=False),
    )
    op.create_table(
        "final_score",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period", text(length=7), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=True),
        sa.Column("role", text(length=16), nullable=False),
        sa.Column("template_name", text(length=64), nullable=True),
        sa.Column("score", ExactDecimal(), nullable=True),
        sa.Column("grade", text(length=4), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("rank_of", sa.Integer(), nullable=True),
        sa.Column("trial", sa.Boolean(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("adjustments", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("period", "member_id"),
    )
    op.create_index("ix_final_score_period", "final_score", ["period"])
    op.create_index("ix_final_score_member_id", "final_score", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_final_score_member_id", "final_score")
    op.drop_index("ix_final_score_period", "final_score")
    op.drop_table("final_score")
    op.drop_table("month_close")
