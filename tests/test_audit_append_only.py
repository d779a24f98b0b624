"""The audit log cannot be rewritten: the store itself (migration 0025's triggers) refuses an UPDATE or DELETE of
an audit row on SQLite and PostgreSQL, through the ORM and through raw SQL, and a TRUNCATE on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from storage.audit import audit
from storage.audit_guard import APPEND_ONLY
from storage.models import AuditLog

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
ROW = (1, AT, "L01", "target.set", "target", "member:H01:2026-11:net_gmv", {"before": "100", "after": "120"})


def _write(engine: Engine) -> None:
    with Session(engine) as session:
        audit(session, "L01", "target.set", "target", "member:H01:2026-11:net_gmv",
              {"before": "100", "after": "120"}, at=AT)
        session.commit()


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with Session(engine) as session:
        return [(a.id, a.at, a.actor, a.action, a.entity, a.entity_id, a.details)
                for a in session.execute(select(AuditLog).order_by(AuditLog.id)).scalars()]


def _refused(engine: Engine, change: str) -> None:
    with Session(engine) as session:
        with pytest.raises(DBAPIError) as caught:
            if change == "orm update":
                row = session.get(AuditLog, 1)
                assert row is not None
                row.actor = "someone else"
                session.commit()
            elif change == "orm delete":
                row = session.get(AuditLog, 1)
                session.delete(row)
                session.commit()
            elif change == "core update":
                session.execute(update(AuditLog).values(details={"before": "100", "after": "999"}))
            elif change == "core delete":
                session.execute(delete(AuditLog))
            elif change == "raw update":
                session.execute(text("UPDATE audit_log SET actor = 'X'"))
            elif change == "raw delete":
                session.execute(text("DELETE FROM audit_log WHERE id = 1"))
            elif change == "replace":   # SQLite's REPLACE deletes the old row without a DELETE trigger
                values = "VALUES (1, :at, 'X', 'target.set', 'target', 'member:H01:2026-11:net_gmv', '{}')"
                session.execute(text(
                    f"INSERT OR REPLACE INTO audit_log (id, at, actor, action, entity, entity_id, details) {values}"
                    if engine.dialect.name == "sqlite" else
                    f"INSERT INTO audit_log (id, at, actor, action, entity, entity_id, details) {values} "
                    "ON CONFLICT (id) DO UPDATE SET actor = EXCLUDED.actor"), {"at": AT})
            else:
                session.execute(text("TRUNCATE audit_log"))
        assert APPEND_ONLY in str(caught.value)
        session.rollback()


@pytest.mark.parametrize("change", ["orm update", "orm delete", "core update", "core delete", "raw update",
                                    "raw delete", "replace"])
def test_an_audit_row_cannot_be_changed_or_deleted(engine: Engine, change: str) -> None:
    _write(engine)
    _refused(engine, change)
    assert _rows(engine) == [ROW]


@pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_postgres_refuses_truncate(engine: Engine) -> None:
    _write(engine)
    _refused(engine, "truncate")
    assert _rows(engine) == [ROW]


def test_rows_are_still_appended(engine: Engine) -> None:
    _write(engine)
    _write(engine)
    assert [r[0] for r in _rows(engine)] == [1, 2]
