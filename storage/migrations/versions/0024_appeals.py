"""Appeals are filed and decided (services.appeals): the appeal table gains the month disputed, a category, the
evidence, the value when appealed and the value claimed, the escalation level and assignment time of its current
approver, the last reminder, and who decided with what value. Its states are open | approved | partly_approved
| rejected | withdrawn; no appeal was ever stored before (the table was unused), so "pending" needs no mapping.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import ExactDecimal, UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    with op.batch_alter_table("appeal") as batch:
        batch.add_column(sa.Column("period", text(length=7), nullable=False, server_default=""))
        batch.add_column(sa.Column("category", text(length=24), nullable=False, server_default="other"))
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("value_now", ExactDecimal(), nullable=True))
        batch.add_column(sa.Column("value_claimed", ExactDecimal(), nullable=True))
        batch.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("assigned_at", UTCDateTime(), nullable=False,
                                   server_default=sa.text("CURRENT_TIMESTAMP")))
        batch.add_column(sa.Column("reminded_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decided_by_member_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("decided_value", ExactDecimal(), nullable=True))
        batch.create_foreign_key("fk_appeal_decided_by", "member", ["decided_by_member_id"], ["id"])
        batch.create_index("ix_appeal_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appeal") as batch:
        batch.drop_index("ix_appeal_status")
        batch.drop_constraint("fk_appeal_decided_by", type_="foreignkey")
        for column in ("decided_value", "decided_by_member_id", "reminded_at", "assigned_at", "level",
                       "value_claimed", "value_now", "evidence", "category", "period"):
            batch.drop_column(column)
