"""Shifts told in chat: a host's `/live start` opens a roster shift that `/live end` closes, so
live_roster.ended_at may be empty while the host is on air (services.live_shifts).

The downgrade closes a shift still open at its start plus 8 hours, the default [attribution] max_shift_hours.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOWNGRADE_SHIFT = timedelta(hours=8)


def upgrade() -> None:
    with op.batch_alter_table("live_roster") as batch:
        batch.alter_column("ended_at", existing_type=storage.types.UTCDateTime(), nullable=True)
    # one open shift per member, whatever two replicas or a double tap do at the same moment
    op.create_index("uq_live_roster_open", "live_roster", ["member_id"], unique=True,
                    sqlite_where=sa.text("ended_at IS NULL"), postgresql_where=sa.text("ended_at IS NULL"))


def downgrade() -> None:
    roster = sa.table("live_roster", sa.column("id", sa.Integer()),
                      sa.column("started_at", storage.types.UTCDateTime()),
                      sa.column("ended_at", storage.types.UTCDateTime()))
    op.drop_index("uq_live_roster_open", table_name="live_roster")
    conn = op.get_bind()
    for rid, started in conn.execute(sa.select(roster.c.id, roster.c.started_at).where(roster.c.ended_at.is_(None))):
        conn.execute(roster.update().where(roster.c.id == rid).values(ended_at=started + DOWNGRADE_SHIFT))
    with op.batch_alter_table("live_roster") as batch:
        batch.alter_column("ended_at", existing_type=storage.types.UTCDateTime(), nullable=False)
