"""The sent copies of appeal cards (bot.jobs.appeals): appeal, receiver, platform, the reference that updates the
copy in place (Feishu message_id, DingTalk outTrackId) and the state it shows.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import UTCDateTime

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "appeal_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("platform", text(length=32), nullable=False),
        sa.Column("receiver", text(length=64), nullable=False),
        sa.Column("ref", text(length=128), nullable=False),
        sa.Column("state", text(length=24), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "ref"),
    )
    op.create_index("ix_appeal_message_appeal_id", "appeal_message", ["appeal_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_appeal_message_appeal_id", table_name="appeal_message")
    op.drop_table("appeal_message")
