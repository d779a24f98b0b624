"""Drop ``ix_shop_order_created_at``: no query selects orders by creation time, and every order a sync writes paid
for it at a random place in the index.

Orders are read by owner and by ``paid_at`` / ``shipped_at`` (storage.activity, storage.leaders,
storage.creators: those indexes stay) and for attribution by ``attribution_due``; ``created_at`` is only ever
read back with the row. A sync lists orders by update time, which for a completed order is weeks after its
creation, so each insert into this index landed on a cold page: at 1,000,000 orders into SQLite the order
insert took 17.3 s with it and 13.5 s without (tests/benchmarks/bench_sync.py, the writer alone).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_shop_order_created_at", table_name="shop_order")


def downgrade() -> None:
    op.create_index("ix_shop_order_created_at", "shop_order", ["created_at"])
