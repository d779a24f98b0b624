"""Members' chat platform ids move from three member columns to one table, member_identity.

`member` had feishu_open_id, feishu_union_id and dingtalk_staff_id (each platform a column, and code asking
which platform it was); member_identity has one row per (member, platform, kind): feishu_open_id becomes
(feishu, primary), feishu_union_id (feishu, alias), dingtalk_staff_id (dingtalk, primary). An id names one
member per platform and organisation, whatever its kind; the upgrade refuses a store where two members share
one (only union ids could: they had no unique constraint) and names them. Empty ids were never bindings and
are not copied. The downgrade puts the three columns back from those rows; ids of other platforms or kinds
have no column to go to and are lost.

SQLite drops a column by rebuilding the table, and dropping `member` while its rows are referred to (orders,
targets ...) fails the foreign keys. So on SQLite the member rows wait in a side table while it is rebuilt
empty, with the key checks deferred to the commit, and come back with their ids: nothing is left dangling.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# old column -> (platform, kind)
COLUMNS = {"feishu_open_id": ("feishu", "primary"), "feishu_union_id": ("feishu", "alias"),
           "dingtalk_staff_id": ("dingtalk", "primary")}
UNIQUE = ("feishu_open_id", "dingtalk_staff_id")   # the columns unique per organisation
# SQLite's unique constraints of revision 0001 have no names: batch mode names them by this convention to drop
# them (PostgreSQL named them member_org_id_<column>_key, which is what the convention gives too).
NAMES = {"uq": "%(table_name)s_%(column_0_N_name)s_key"}


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    rows = _identities()   # before any change: SQLite's driver commits schema changes made before a data change
    identity = op.create_table(
        "member_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("platform", _text(32), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("platform_user_id", _text(64), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "platform", "kind", name="uq_member_identity_member"),
        sa.UniqueConstraint("platform", "platform_user_id", "org_id", name="uq_member_identity_user"),
    )
    assert identity is not None
    op.bulk_insert(identity, rows)
    with _member_rebuilt(), op.batch_alter_table("member", naming_convention=NAMES) as batch:
        for column in UNIQUE:
            batch.drop_constraint(f"member_org_id_{column}_key", type_="unique")
        for column in COLUMNS:
            batch.drop_column(column)


def _identities() -> list[dict[str, object]]:
    """The rows for member_identity from the member columns, in member order."""
    members = op.get_bind().execute(sa.text(f"SELECT id, org_id, {', '.join(COLUMNS)} FROM member ORDER BY id"))
    rows: list[dict[str, object]] = []
    holders: dict[tuple[int, str, str], int] = {}
    clashes: list[str] = []
    for member_id, org_id, *ids in members:
        for (platform, kind), user_id in zip(COLUMNS.values(), ids, strict=True):
            if not user_id:
                continue
            key = (org_id, platform, user_id)
            if key in holders:   # another member's id, or the member's open_id again as their union_id
                if holders[key] != member_id:
                    clashes.append(f"members {holders[key]} and {member_id} both have {platform} id {user_id}")
                continue
            holders[key] = member_id
            rows.append({"org_id": org_id, "member_id": member_id, "platform": platform, "kind": kind,
                         "platform_user_id": user_id})
    if clashes:
        raise RuntimeError("an id must belong to one member; unbind one of each pair first: " + "; ".join(clashes))
    return rows


@contextmanager
def _member_rebuilt() -> Iterator[None]:
    """Around a batch that rebuilds `member` on SQLite: its rows wait in a side table, the foreign keys that
    refer to them are checked at the commit, and they come back (the columns kept)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    before = {c["name"] for c in sa.inspect(bind).get_columns("member")}
    # a temporary table: gone with the connection, should anything fail before the end
    op.execute("CREATE TEMP TABLE _member_rows AS SELECT * FROM member WHERE 0")
    op.execute("INSERT INTO _member_rows SELECT * FROM member")   # data: the driver's transaction is open now
    op.execute("PRAGMA defer_foreign_keys = ON")
    assert bind.execute(sa.text("PRAGMA defer_foreign_keys")).scalar_one() == 1, "not in a transaction"
    op.execute("DELETE FROM member")
    yield
    columns = ", ".join(c["name"] for c in sa.inspect(bind).get_columns("member") if c["name"] in before)
    op.execute(f"INSERT INTO member ({columns}) SELECT {columns} FROM _member_rows")
    op.execute("DROP TABLE temp._member_rows")


def downgrade() -> None:
    with _member_rebuilt(), op.batch_alter_table("member", naming_convention=NAMES) as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, _text(64), nullable=True))
        for column in UNIQUE:
            batch.create_unique_constraint(f"member_org_id_{column}_key", ["org_id", column])
    for column, (platform, kind) in COLUMNS.items():
        op.execute(sa.text(f"UPDATE member SET {column} = (SELECT i.platform_user_id FROM member_identity i "
                           "WHERE i.member_id = member.id AND i.platform = :platform AND i.kind = :kind)")
                   .bindparams(platform=platform, kind=kind))
    op.drop_table("member_identity")
