"""store_version: a counter of changes to who is who (storage.identity_version), moved by triggers on member and
member_identity, so a process can tell that a binding, role or deactivation happened elsewhere.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.identity_version import install, uninstall

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_version",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    install(op.get_bind())


def downgrade() -> None:
    uninstall(op.get_bind())
    op.drop_table("store_version")
