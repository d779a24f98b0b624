"""order_member_hour_total, order_shop_hour_total, order_product_hour_total: the hour tables summed over the hour
each step took effect in (storage.models._HourTotal), built here from the ledger; then the orders changed while
the store was at 0032, 0033 or 0034 are folded (the code folds from here on). The hour tables' indexes carrying
their figures give way to a narrow one (they are read only for hours with recent steps now); on PostgreSQL
order_shape_sum's key carries its count, as the totals' keys carry their values.

Why: a month read from the hour tables held a row per hour a refund or a cancellation of an hour's orders came in,
and per member for a shop: the rows grew with the orders (a shop's month: 8,500 rows at a million orders, 22,000
at ten million). A total holds one row a key and hour, so a read costs members (shops) x hours.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.order_sums import fold_due, forget, rebuild_totals

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORDER_VALUES = [("gross_minor", sa.BigInteger()), ("orders", sa.Integer()), ("value_minor", sa.BigInteger()),
                 ("refunded_minor", sa.BigInteger()), ("units", sa.Integer()), ("returned_units", sa.Integer())]
_PRODUCT_VALUES = [("units", sa.Integer()), ("orders", sa.Integer()), ("amount_minor", sa.BigInteger()),
                   ("refunded_minor", sa.BigInteger())]
_HOUR_VALUES = [column for column, _ in _ORDER_VALUES]
_TABLES = (
    ("order_member_hour_total", [("member_id", sa.Integer()), ("basis", sa.String(8)), ("moment_hour", sa.Integer()),
                                 ("currency", sa.String(3))], _ORDER_VALUES),
    ("order_shop_hour_total", [("shop_id", sa.Integer()), ("basis", sa.String(8)), ("moment_hour", sa.Integer()),
                               ("creator_id", sa.Integer()), ("currency", sa.String(3))], _ORDER_VALUES),
    ("order_product_hour_total", [("shop_id", sa.Integer()), ("basis", sa.String(8)), ("moment_hour", sa.Integer()),
                                  ("product_id", sa.Integer()), ("currency", sa.String(3))], _PRODUCT_VALUES),
)


def upgrade() -> None:
    for name, key, values in _TABLES:
        op.create_table(
            name,
            sa.Column("steps", sa.Integer(), nullable=False),
            sa.Column("last_effect_hour", sa.Integer(), nullable=False),
            *(sa.Column(column, type_, nullable=False) for column, type_ in key + values),
            # the key orders the table: on SQLite it is the key's b-tree, on PostgreSQL the key's index carries
            # what a read takes; either reads one range of the key, no table row per hour
            sa.PrimaryKeyConstraint(*(column for column, _ in key),
                                    postgresql_include=[*(column for column, _ in values), "last_effect_hour"]),
            sqlite_with_rowid=False,
        )
    # the hour tables are read only for the hours with recent steps now, a few rows by key: their indexes carrying
    # every figure (0033) would only cost every fold their upkeep
    op.drop_index("ix_order_product_hour_sum_shop", "order_product_hour_sum")
    op.drop_index("ix_order_hour_sum_shop", "order_hour_sum")
    op.drop_index("ix_order_hour_sum_member", "order_hour_sum")
    op.create_index("ix_order_hour_sum_member", "order_hour_sum",
                    ["member_id", "basis", "moment_hour", "currency", "effect_hour"])
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":   # the pace shape's month read from the key's index alone
        _shape_key("INCLUDE (orders)")
    rebuild_totals(conn)   # from the ledger, as the sums are
    fold_due(conn)         # orders changed while the store was at 0032 (after 0033), 0033 or 0034


def downgrade() -> None:
    forget(op.get_bind().engine)   # this process folds no more (its orders stay due, read one by one)
    for name, _, _ in reversed(_TABLES):
        op.drop_table(name)
    if op.get_bind().dialect.name == "postgresql":
        _shape_key("")
    op.drop_index("ix_order_hour_sum_member", "order_hour_sum")
    op.create_index("ix_order_hour_sum_member", "order_hour_sum", ["member_id", "basis", "moment_hour", "currency",
                                                                   "effect_hour", *_HOUR_VALUES])
    op.create_index("ix_order_hour_sum_shop", "order_hour_sum", ["shop_id", "basis", "moment_hour", "creator_id",
                                                                 "currency", "effect_hour", *_HOUR_VALUES])
    op.create_index("ix_order_product_hour_sum_shop", "order_product_hour_sum",
                    ["shop_id", "basis", "moment_hour", "product_id", "currency", "effect_hour",
                     *(column for column, _ in _PRODUCT_VALUES)])


def _shape_key(include: str) -> None:
    op.execute("ALTER TABLE order_shape_sum DROP CONSTRAINT order_shape_sum_pkey, ADD CONSTRAINT "
               f"order_shape_sum_pkey PRIMARY KEY (shop_id, basis, moment_slot) {include}")
