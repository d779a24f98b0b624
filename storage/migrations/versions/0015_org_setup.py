"""Set-up without SQL: the organisation's reporting currency, time zone and locale (`kpibot org init`), in a
table of their own, and teams' leads and the countries they sell in (`kpibot teams add|set`).

A table rather than columns of `organisation`: an organisation without the row (a store made before, the
demo) keeps going by the config's [org] values, and the organisation table is left as it was.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "organisation_settings",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), primary_key=True),
        sa.Column("reporting_currency", _text(3), nullable=False),
        sa.Column("timezone", _text(64), nullable=False),
        sa.Column("locale", _text(16), nullable=False),
    )
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
    op.drop_table("organisation_settings")
