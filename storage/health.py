"""What the readiness probe of `kpibot run` reads from the store (bot.ops)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from storage.models import JobLease

REFRESH_LEASE = "refresh"


def store_answers(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1


def lease_holder(engine: Engine, name: str = REFRESH_LEASE) -> str | None:
    """The process that holds, or last held, the lease of a shared job (bot.jobs.refresh): None before any
    replica ran it."""
    with engine.connect() as conn:
        return conn.execute(select(JobLease.holder).where(JobLease.name == name)).scalar_one_or_none()  # type: ignore[arg-type]
