"""Platform events already handled: a redelivered event, also after a restart, is answered once."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import ProcessedEvent


def claim(engine: Engine, platform: str, *event_ids: str | None) -> bool:
    """Record all the ids of one event in one transaction: True for the first delivery, False when any of
    them was claimed before (a redelivery, also one handled at the same moment by another worker or process).
    Adapters that ack before they answer claim first, so two deliveries can never both answer."""
    ids = sorted({i for i in event_ids if i})
    if not ids:
        raise ValueError("an event needs at least one id")
    with Session(engine) as session:
        session.add_all(ProcessedEvent(platform=platform, event_id=i) for i in ids)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True
