"""audit_log on SQLite: refuse INSERT OR REPLACE of an existing row (storage.audit_guard.SQLITE_NO_REPLACE). A
REPLACE deletes the row it collides with without firing 0025's DELETE trigger, so it could rewrite an audit row.
PostgreSQL has no REPLACE (its INSERT ... ON CONFLICT DO UPDATE fires 0025's UPDATE trigger).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08
"""
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from storage.audit_guard import SQLITE_NO_REPLACE

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.execute(text(SQLITE_NO_REPLACE))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.execute(text("DROP TRIGGER IF EXISTS audit_log_no_replace"))
