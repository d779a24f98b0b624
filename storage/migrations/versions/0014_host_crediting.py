"""Crediting orders to hosts: members' platform handles, the handle of each live session and video, the team's
shift roster, and the rule that credited each order to a member (services.crediting).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "member_handle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("platform", _text(32), nullable=False),
        sa.Column("handle", _text(128), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "platform", "handle", name="uq_member_handle"),
    )
    op.create_index(op.f("ix_member_handle_member_id"), "member_handle", ["member_id"], unique=False)
    op.create_table(
        "live_roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("ended_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "started_at", "member_id", name="uq_live_roster"),
    )
    with op.batch_alter_table("live_session") as batch:
        batch.add_column(sa.Column("host_handle", _text(128), nullable=True))
    with op.batch_alter_table("content_post") as batch:
        batch.add_column(sa.Column("author_handle", _text(128), nullable=True))
    with op.batch_alter_table("shop_order") as batch:
        batch.add_column(sa.Column("credit_rule", _text(16), nullable=True))


def downgrade() -> None:
    # ALTER TABLE .. DROP COLUMN on both backends (SQLite >= 3.35): a batch rebuild of shop_order would fail the
    # foreign keys of the rows referring to it
    for table, column in (("shop_order", "credit_rule"), ("content_post", "author_handle"),
                          ("live_session", "host_handle")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_table("live_roster")
    op.drop_index(op.f("ix_member_handle_member_id"), table_name="member_handle")
    op.drop_table("member_handle")
