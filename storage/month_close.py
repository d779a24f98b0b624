"""Closed months (kpibot month close): whether a month is closed, and its frozen final scores."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from storage.models import FinalScore, MonthClose


def closed(session: Session, period: str) -> MonthClose | None:
    """The month's close row, or None while the month is open."""
    return session.get(MonthClose, period)


def closed_periods(session: Session, periods: set[str]) -> set[str]:
    """Which of `periods` (YYYY-MM) are closed."""
    if not periods:
        return set()
    return set(session.execute(select(MonthClose.period).where(
        MonthClose.period.in_(periods))).scalars())  # type: ignore[attr-defined]


def closed_from(session: Session, period: str) -> str | None:
    """The latest closed month from `period` on, or None: a version taking effect then would change it."""
    return session.execute(select(MonthClose.period).where(MonthClose.period >= period)
                           .order_by(MonthClose.period.desc())).scalars().first()  # type: ignore[attr-defined]


def final_scores(session: Session, period: str) -> list[FinalScore]:
    return list(session.execute(select(FinalScore).where(FinalScore.period == period)
                                .order_by(FinalScore.member_id)).scalars())
