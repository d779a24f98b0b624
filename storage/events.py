"""Platform events already handled: a redelivered event, also after a restart, is answered once.

The rows are only needed while a platform may deliver the event again (seconds to minutes after a late ack
or a reconnect): `prune` deletes old ones (bot/jobs/prune.py keeps a week).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
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


def prune(engine: Engine, before: datetime, batch: int = 1000) -> int:
    """Delete the events received before `before`, `batch` rows per transaction (each batch found through the
    received_at index), so no transaction locks the table long; the number deleted."""
    oldest = select(ProcessedEvent.id).where(ProcessedEvent.received_at < before).limit(batch)  # type: ignore[arg-type]
    deleted = 0
    while True:
        with engine.begin() as conn:
            count = conn.execute(delete(ProcessedEvent).where(
                ProcessedEvent.id.in_(oldest.scalar_subquery()))).rowcount  # type: ignore[union-attr]
        deleted += count
        if count < batch:
            return deleted
