"""An order line's SKU and product are checked by one foreign key, (sku_id, product_id) -> sku (id, product_id).

Before, a line had two: product_id -> product and sku_id -> sku. Every key is a look-up per line written (on
PostgreSQL a trigger query of about 5 us a line), and a first sync writes lines by the million: the two cost about
a quarter of PostgreSQL's work in tests/benchmarks/bench_sync.py. The one key checks as much and more: the SKU
exists, and the line's product is that SKU's product (which the two keys let disagree). A check makes the pair
both-or-neither, so a product without a SKU is not left unchecked (the store writer always writes both).

`sku` gets the unique index (id, product_id) the key refers to (id alone is unique already; both backends want the
referred columns unique as they are named). An index, not a constraint: SQLite would rebuild `sku` to add a
constraint, and cannot drop a table that order lines and stock snapshots refer to while it enforces keys.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign keys of revision 0001 have no names: batch mode names them by this convention to drop them
# (PostgreSQL named them <table>_<column>_fkey, which is what the convention gives too).
NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    op.create_index("uq_sku_id_product_id", "sku", ["id", "product_id"], unique=True)
    with op.batch_alter_table("order_line", naming_convention=NAMES) as batch:
        batch.drop_constraint("order_line_product_id_fkey", type_="foreignkey")
        batch.drop_constraint("order_line_sku_id_fkey", type_="foreignkey")
        batch.create_foreign_key("fk_order_line_sku_product", "sku", ["sku_id", "product_id"], ["id", "product_id"])
        batch.create_check_constraint("ck_order_line_sku_product", "(sku_id IS NULL) = (product_id IS NULL)")


def downgrade() -> None:
    with op.batch_alter_table("order_line") as batch:
        batch.drop_constraint("ck_order_line_sku_product", type_="check")
        batch.drop_constraint("fk_order_line_sku_product", type_="foreignkey")
        batch.create_foreign_key("order_line_product_id_fkey", "product", ["product_id"], ["id"])
        batch.create_foreign_key("order_line_sku_id_fkey", "sku", ["sku_id"], ["id"])
    op.drop_index("uq_sku_id_product_id", table_name="sku")
