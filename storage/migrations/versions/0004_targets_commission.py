"""Country baselines for teams, commission plans and payouts, and the finance flag on members.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types
from storage.models import TARGET_PERIOD_RULE

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("finance", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "country_baseline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("metric_key", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("value", storage.types.ExactDecimal(length=40), nullable=False),
        sa.Column("set_by_member_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.ForeignKeyConstraint(["set_by_member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "country", "period", "metric_key"),
        sa.CheckConstraint(TARGET_PERIOD_RULE, name="ck_country_baseline_period"),
    )
    op.create_index("ix_country_baseline_team_id", "country_baseline", ["team_id"])
    op.create_table(
        "commission_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("cap", storage.types.ExactDecimal(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name"),
    )
    op.create_index("ix_commission_plan_org_id", "commission_plan", ["org_id"])
    op.create_table(
        "commission_payout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("plan_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("basis_amount", storage.types.ExactDecimal(length=40), nullable=False),
        sa.Column("earned_minor", sa.BigInteger(), nullable=False),
        sa.Column("clawback_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("clawed_back_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("paid_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "period"),
    )
    op.create_index("ix_commission_payout_member_id", "commission_payout", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_commission_payout_member_id", table_name="commission_payout")
    op.drop_table("commission_payout")
    op.drop_index("ix_commission_plan_org_id", table_name="commission_plan")
    op.drop_table("commission_plan")
    op.drop_index("ix_country_baseline_team_id", table_name="country_baseline")
    op.drop_table("country_baseline")
    with op.batch_alter_table("member") as batch:
        batch.drop_column("finance")
