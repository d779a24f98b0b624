"""KPI templates are versioned by the month they take effect: kpi_template gains effective_from ("YYYY-MM"),
and its own achievement cap and grade bands (empty: the organisation's).

Rows already stored take effect from the beginning ("0001-01"), so every month is scored as before. A name
is unique per organisation and month instead of per organisation.

SQLite changes a unique constraint by rebuilding the table, and dropping `kpi_template` while metrics refer
to it fails the foreign keys; as in 0012, its rows wait in a side table with the key checks deferred to the
commit, and come back with their ids. The downgrade keeps, per name, the version stored first, and drops the
metrics of the others.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's unique constraint of revision 0001 has no name: batch mode names it by this convention to drop it
# (PostgreSQL named it kpi_template_org_id_name_key, which is what the convention gives too).
NAMES = {"uq": "%(table_name)s_%(column_0_N_name)s_key"}
NEW_COLUMNS = ("effective_from", "achievement_cap", "grade_bands")


def upgrade() -> None:
    with _rebuilt(), op.batch_alter_table("kpi_template", naming_convention=NAMES) as batch:
        batch.add_column(sa.Column("effective_from", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False,
                                   server_default="0001-01"))
        batch.add_column(sa.Column("achievement_cap", storage.types.ExactDecimal(length=40), nullable=True))
        batch.add_column(sa.Column("grade_bands", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch.drop_constraint("kpi_template_org_id_name_key", type_="unique")
        batch.create_unique_constraint("kpi_template_org_id_name_effective_from_key",
                                       ["org_id", "name", "effective_from"])


def downgrade() -> None:
    later = ("SELECT t.id FROM kpi_template t WHERE EXISTS (SELECT 1 FROM kpi_template e WHERE e.org_id = t.org_id"
             " AND e.name = t.name AND e.id < t.id)")
    op.execute(f"DELETE FROM kpi_template_metric WHERE template_id IN ({later})")
    op.execute(f"DELETE FROM kpi_template WHERE id IN (SELECT id FROM ({later}) AS later)")
    with _rebuilt(), op.batch_alter_table("kpi_template", naming_convention=NAMES) as batch:
        batch.drop_constraint("kpi_template_org_id_name_effective_from_key", type_="unique")
        for column in NEW_COLUMNS:
            batch.drop_column(column)
        batch.create_unique_constraint("kpi_template_org_id_name_key", ["org_id", "name"])


@contextmanager
def _rebuilt() -> Iterator[None]:
    """Around a batch that rebuilds `kpi_template` on SQLite: its rows wait in a side table, the metrics'
    foreign keys are checked at the commit, and the rows come back (the columns both sides have)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    before = {c["name"] for c in sa.inspect(bind).get_columns("kpi_template")}
    op.execute("CREATE TEMP TABLE _kpi_template_rows AS SELECT * FROM kpi_template WHERE 0")
    op.execute("INSERT INTO _kpi_template_rows SELECT * FROM kpi_template")
    op.execute("PRAGMA defer_foreign_keys = ON")
    assert bind.execute(sa.text("PRAGMA defer_foreign_keys")).scalar_one() == 1, "not in a transaction"
    op.execute("DELETE FROM kpi_template")
    yield
    columns = ", ".join(c["name"] for c in sa.inspect(bind).get_columns("kpi_template") if c["name"] in before)
    op.execute(f"INSERT INTO kpi_template ({columns}) SELECT {columns} FROM _kpi_template_rows")
    op.execute("DROP TABLE temp._kpi_template_rows")
