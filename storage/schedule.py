"""Claims on scheduled sends: each (kind, subject, local day) goes out once, whatever the number of
scheduler processes sharing the store, and a restart does not send it again.

A claim inserts the row as "sending" (the unique key lets one process win). A failed send is released as
"failed" and may be claimed again by a later tick, up to MAX_ATTEMPTS; a claim left "sending" for longer
than STALE_AFTER (its process died mid-send) may be taken over, accepting the small risk of a second copy
over losing the message.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import ScheduledSend

MAX_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=15)


def sent_today(engine: Engine, kind: str, days: dict[str, date]) -> set[str]:
    """Of `days` (subject -> its local day), the subjects already sent that day: a tick skips them without
    working out again whether they are due."""
    if not days:
        return set()
    with Session(engine) as session:
        rows = session.execute(select(ScheduledSend.subject, ScheduledSend.local_day).where(
            ScheduledSend.kind == kind, ScheduledSend.status == "sent",  # type: ignore[arg-type]
            ScheduledSend.subject.in_(list(days))))  # type: ignore[attr-defined]
        return {subject for subject, day in rows if days.get(subject) == day}


def last_sent_days(engine: Engine, kind: str, subjects: list[str]) -> dict[str, date]:
    """Of `subjects`, the last local day each was sent on (subjects never sent are left out)."""
    if not subjects:
        return {}
    with Session(engine) as session:
        rows = session.execute(select(ScheduledSend.subject, func.max(ScheduledSend.local_day)).where(
            ScheduledSend.kind == kind, ScheduledSend.status == "sent",  # type: ignore[arg-type]
            ScheduledSend.subject.in_(subjects)).group_by(ScheduledSend.subject))  # type: ignore[attr-defined]
        return {subject: day for subject, day in rows}


def claim_send(engine: Engine, kind: str, subject: str, day: date, by: str, now: datetime) -> bool:
    """True when this process may send it now."""
    with Session(engine) as session:
        session.add(ScheduledSend(kind=kind, subject=subject, local_day=day, claimed_by=by, claimed_at=now))
        try:
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
        retake = (update(ScheduledSend)
                  .where(ScheduledSend.kind == kind, ScheduledSend.subject == subject,  # type: ignore[arg-type]
                         ScheduledSend.local_day == day, ScheduledSend.attempts < MAX_ATTEMPTS,  # type: ignore[arg-type]
                         or_(ScheduledSend.status == "failed",  # type: ignore[arg-type]
                             (ScheduledSend.status == "sending") & (ScheduledSend.claimed_at < now - STALE_AFTER)))
                  .values(status="sending", claimed_by=by, claimed_at=now, attempts=ScheduledSend.attempts + 1))
        taken = session.execute(retake).rowcount  # type: ignore[attr-defined]
        session.commit()
        return taken == 1


def finish_send(engine: Engine, kind: str, subject: str, day: date, by: str, now: datetime,
                error: str | None = None) -> None:
    """Record the outcome of a claimed send: sent, or failed (to be retried by a later tick)."""
    with Session(engine) as session:
        session.execute(
            update(ScheduledSend)
            .where(ScheduledSend.kind == kind, ScheduledSend.subject == subject,  # type: ignore[arg-type]
                   ScheduledSend.local_day == day, ScheduledSend.claimed_by == by)  # type: ignore[arg-type]
            .values(status="failed" if error else "sent", sent_at=None if error else now,
                    error=error[:500] if error else None))
        session.commit()
