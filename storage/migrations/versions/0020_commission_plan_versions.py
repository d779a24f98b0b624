"""Commission plans are versioned by the month they take effect: commission_plan gains effective_from
("YYYY-MM"), and a name is unique per organisation and month instead of per organisation. A month is closed
with the role's plan in force then (the latest version from that month or before).

Rows already stored take effect from the beginning ("0001-01"), so every month is paid as before. The downgrade
keeps, per name, the version stored first.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's unique constraint of revision 0004 has no name: batch mode names it by this convention to drop it
# (PostgreSQL named it commission_plan_org_id_name_key, which is what the convention gives too).
NAMES = {"uq": "%(table_name)s_%(column_0_N_name)s_key"}


def upgrade() -> None:
    with op.batch_alter_table("commission_plan", naming_convention=NAMES) as batch:
        batch.add_column(sa.Column("effective_from", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False,
                                   server_default="0001-01"))
        batch.drop_constraint("commission_plan_org_id_name_key", type_="unique")
        batch.create_unique_constraint("commission_plan_org_id_name_effective_from_key",
                                       ["org_id", "name", "effective_from"])


def downgrade() -> None:
    op.execute("DELETE FROM commission_plan WHERE id IN (SELECT id FROM (SELECT p.id FROM commission_plan p WHERE "
               "EXISTS (SELECT 1 FROM commission_plan e WHERE e.org_id = p.org_id AND e.name = p.name "
               "AND e.id < p.id)) AS later)")
    with op.batch_alter_table("commission_plan", naming_convention=NAMES) as batch:
        batch.drop_constraint("commission_plan_org_id_name_effective_from_key", type_="unique")
        batch.drop_column("effective_from")
        batch.create_unique_constraint("commission_plan_org_id_name_key", ["org_id", "name"])
