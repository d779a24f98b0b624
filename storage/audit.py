"""The audit log: who changed what, one row per change, written in the change's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage.models import AuditLog, utcnow

AUDIT = cast(Table, AuditLog.__table__)  # type: ignore[attr-defined]


def audit(db: Session | Connection, actor: str, action: str, entity: str, entity_id: str | None,
          details: dict[str, Any], at: datetime | None = None) -> None:
    """Record one change (`actor`: a member code, "system" or a job name) in `db`'s transaction."""
    db.execute(AUDIT.insert().values(at=at or utcnow(), actor=actor[:128], action=action, entity=entity,
                                     entity_id=entity_id, details=details))
