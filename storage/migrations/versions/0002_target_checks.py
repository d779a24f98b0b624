"""Targets: the subject key must agree with scope and ids; the period must be YYYY-MM.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from collections.abc import Sequence

from alembic import op

from storage.models import TARGET_PERIOD_RULE, TARGET_SUBJECT_RULE

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("target") as batch:  # SQLite adds constraints by rebuilding the table
        batch.create_check_constraint("ck_target_subject", TARGET_SUBJECT_RULE)
        batch.create_check_constraint("ck_target_period", TARGET_PERIOD_RULE)


def downgrade() -> None:
    with op.batch_alter_table("target") as batch:
        batch.drop_constraint("ck_target_period", type_="check")
        batch.drop_constraint("ck_target_subject", type_="check")
