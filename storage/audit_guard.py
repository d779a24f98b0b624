"""The triggers that make audit_log append-only on both backends (migration 0025): an UPDATE, DELETE or (on
PostgreSQL) TRUNCATE of it fails with APPEND_ONLY in the error and changes nothing. The database's owner can
still drop a trigger (as it can drop the table): the guard stops the application and anyone working through it,
not a superuser."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

APPEND_ONLY = "audit_log is append-only"

_PG = [
    f"""CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$""",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]
_PG_DROP = [
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
]
# INSERT OR REPLACE deletes the row it collides with without firing a DELETE trigger (unless recursive_triggers
# is on), so a new row may not take an existing row's id (migration 0029)
SQLITE_NO_REPLACE = (
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_replace BEFORE INSERT ON audit_log "
    f"WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}: REPLACE refused'); END")
_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}: UPDATE refused'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}: DELETE refused'); END",
    SQLITE_NO_REPLACE,
]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete",
                "DROP TRIGGER IF EXISTS audit_log_no_replace"]


def install(conn: Connection) -> None:
    """Create the triggers on `conn`'s backend (in its transaction)."""
    for statement in _PG if conn.dialect.name == "postgresql" else _SQLITE:
        conn.execute(text(statement))


def uninstall(conn: Connection) -> None:
    for statement in _PG_DROP if conn.dialect.name == "postgresql" else _SQLITE_DROP:
        conn.execute(text(statement))
