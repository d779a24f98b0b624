"""appeal_adjustment.from_member_id: the member a credited order was taken from (services.appeal_adjustments), so
they can be told privately that an appeal moved their order (bot.jobs.appeals).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-09
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeal_adjustment") as batch:
        batch.add_column(sa.Column("from_member_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_appeal_adjustment_from_member_id", "member", ["from_member_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("appeal_adjustment") as batch:
        batch.drop_constraint("fk_appeal_adjustment_from_member_id", type_="foreignkey")
        batch.drop_column("from_member_id")
