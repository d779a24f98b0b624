"""The audit log is append-only, enforced by the store: triggers refuse every UPDATE and DELETE of audit_log
(and, on PostgreSQL, a TRUNCATE), whoever sends it: the ORM, raw SQL or a console. The message names the rule,
so an error a caller logs says why. The DDL lives in storage.audit_guard, shared with the tests.

SQLite recreates a table for most ALTERs (Alembic's batch mode), which drops its triggers: a later migration
that alters audit_log in batch mode must install them again (storage.audit_guard.install).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""
from collections.abc import Sequence

from alembic import op

from storage.audit_guard import install, uninstall

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    install(op.get_bind())


def downgrade() -> None:
    uninstall(op.get_bind())
