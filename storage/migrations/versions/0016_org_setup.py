"""Set-up without SQL: the organisation keeps its reporting currency, time zone and locale (`kpibot org init`),
and teams their leads and the countries they sell in (`kpibot teams add|set`).

The organisation's three columns are nullable: a store made before (or the demo) has none, and the config's
[org] values keep applying to it.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("reporting_currency", _text(3), nullable=True))
        batch.add_column(sa.Column("timezone", _text(64), nullable=True))
        batch.add_column(sa.Column("locale", _text(16), nullable=True))
    op.create_table(
        "team_lead",
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), primary_key=True),
    )
    op.create_index("ix_team_lead_member_id", "team_lead", ["member_id"])
    op.create_table(
        "team_country",
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), primary_key=True),
        sa.Column("country", _text(2), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("team_country")
    op.drop_index("ix_team_lead_member_id", table_name="team_lead")
    op.drop_table("team_lead")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("locale")
        batch.drop_column("timezone")
        batch.drop_column("reporting_currency")
