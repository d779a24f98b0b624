"""A claim on a platform event has a state: processed_event gains state ("claimed" until the platform accepted
the reply, then "answered"), claimed_at (when the lease of a claim began) and claim_token (whose claim it is).
A claim neither answered nor released within its lease may be taken over by a redelivery (storage.events).

Rows already stored were claimed by kpibot before claims had a state, and were answered then or never will be:
they count as answered, so no old event is answered again.

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_event") as batch:
        batch.add_column(sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False,
                                   server_default="answered"))
        batch.add_column(sa.Column("claimed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_event") as batch:
        batch.drop_column("claim_token")
        batch.drop_column("claimed_at")
        batch.drop_column("state")
