"""Platform events already handled: a redelivered event, also after a restart, is answered once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import ProcessedEvent


def is_processed(engine: Engine, platform: str, event_id: str) -> bool:
    with Session(engine) as session:
        found = session.execute(select(ProcessedEvent.id).where(
            ProcessedEvent.platform == platform, ProcessedEvent.event_id == event_id)).first()
        return found is not None


def mark_processed(engine: Engine, platform: str, *event_ids: str) -> None:
    """Record the ids; an id recorded already (a concurrent duplicate) is fine."""
    for event_id in event_ids:
        with Session(engine) as session:
            session.add(ProcessedEvent(platform=platform, event_id=event_id))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
