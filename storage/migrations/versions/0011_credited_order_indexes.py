"""Only credited orders in the indexes on shop_order.member_id and creator_id.

Every query that reads them asks for one member or creator (equality: a member's orders, a creator's ranking,
the foreign keys' checks when a member or creator is deleted), and both backends use a partial index WHERE
<column> IS NOT NULL for that. A sync writes its new orders uncredited (the attribution job credits them later),
so with whole-column indexes every new order paid two index entries for NULL: about 1.4 us an order on SQLite
and 1.8 us on PostgreSQL (tests/benchmarks/bench_sync.py; PostgreSQL's server is the slowest step of a
PostgreSQL sync).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("member_id", "creator_id")


def upgrade() -> None:
    for column in COLUMNS:
        name = f"ix_shop_order_{column}"
        op.drop_index(name, table_name="shop_order")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "shop_order", [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for column in COLUMNS:
        name = f"ix_shop_order_{column}"
        op.drop_index(name, table_name="shop_order")
        op.create_index(name, "shop_order", [column])
