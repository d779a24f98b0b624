"""A counter of changes to who is who: every insert, update or delete of a member or a member's platform id, by
any process and any writer (a command, the CLI, raw SQL), adds one to it in the same transaction (triggers on
member and member_identity, migration 0034).

A process that keeps something derived from who a sender is (bot.dispatch: the answers kept by sender) reads the
counter and drops what it kept when the counter moved: a binding, a role, a deactivation made elsewhere reaches it
at its next look."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

NAME = "identity"
TABLES = ("member", "member_identity")
_EVENTS = ("INSERT", "UPDATE", "DELETE")
_BUMP = f"UPDATE store_version SET version = version + 1 WHERE name = '{NAME}'"

# PostgreSQL: row triggers deferred to the commit, so the counter's row is locked last, after every row the
# transaction changes (two transactions writing members in different orders do not deadlock on it), and only for
# rows that changed; TRUNCATE has only a statement trigger
_PG = [
    f"""CREATE OR REPLACE FUNCTION store_version_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_BUMP};
    RETURN NULL;
END
$$""",
    *(f"CREATE CONSTRAINT TRIGGER {table}_identity_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
      f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION store_version_identity()" for table in TABLES),
    *(f"CREATE TRIGGER {table}_identity_version_truncate AFTER TRUNCATE ON {table} "
      f"FOR EACH STATEMENT EXECUTE FUNCTION store_version_identity()" for table in TABLES),
]
_PG_DROP = [*(f"DROP TRIGGER IF EXISTS {table}_identity_version ON {table}" for table in TABLES),
            *(f"DROP TRIGGER IF EXISTS {table}_identity_version_truncate ON {table}" for table in TABLES),
            "DROP FUNCTION IF EXISTS store_version_identity()"]
_SQLITE = [f"CREATE TRIGGER IF NOT EXISTS {table}_identity_version_{event.lower()} AFTER {event} ON {table} "
           f"BEGIN {_BUMP}; END" for table in TABLES for event in _EVENTS]
_SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {table}_identity_version_{event.lower()}"
                for table in TABLES for event in _EVENTS]


def install(conn: Connection) -> None:
    """The counter's row (kept if it is there) and the triggers, on `conn`'s backend (in its transaction). SQLite
    drops a table's triggers when a migration recreates it (Alembic's batch mode): such a migration of member or
    member_identity must install them again."""
    conn.execute(text("INSERT INTO store_version (name, version) VALUES (:name, 0) ON CONFLICT (name) DO NOTHING"),
                 {"name": NAME})
    for statement in _PG if conn.dialect.name == "postgresql" else _SQLITE:
        conn.execute(text(statement))


def uninstall(conn: Connection) -> None:
    for statement in _PG_DROP if conn.dialect.name == "postgresql" else _SQLITE_DROP:
        conn.execute(text(statement))


def identity_version(engine: Engine) -> int:
    """The counter now (one indexed read of one row)."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM store_version WHERE name = :name"),
                                {"name": NAME}).scalar_one())
