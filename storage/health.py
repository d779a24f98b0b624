"""What the readiness probe of `kpibot run` reads from the store (bot.ops)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from storage.models import JobLease

REFRESH_LEASE = "refresh"


def store_answers(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1


def lease_current(engine: Engine, now: datetime, within: timedelta, name: str = REFRESH_LEASE) -> bool:
    """Whether some replica holds the shared job's lease now, or held it lately: the lease records its holder,
    when a run took it (taken_at), when the running holder last renewed it (heartbeat_at) and when the run ended
    (finished_at, None while it runs). Current when the latest of those three is within `within` of `now`; a
    lease last touched long ago means no replica refreshes any more (all stopped, or each one failing to take
    it)."""
    with engine.connect() as conn:
        row = conn.execute(select(JobLease.taken_at, JobLease.heartbeat_at, JobLease.finished_at)  # type: ignore[call-overload]
                           .where(JobLease.name == name)).one_or_none()
    if row is None:
        return False
    return max(when for when in row if when is not None) >= now - within
