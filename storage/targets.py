"""Writing targets and country baselines, each change audited. Reads live in storage.queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from storage.audit import audit
from storage.models import CountryBaseline, Member, Target, Team, utcnow


@dataclass(frozen=True, eq=False)
class Subject:
    """Who a target is for: the company, a team or a member. Compared by identity (rows are not hashable)."""

    scope: str                 # company | team | member
    team: Team | None = None
    member: Member | None = None

    @property
    def key(self) -> str:
        if self.scope == "team" and self.team is not None:
            return f"team:{self.team.id}"
        if self.scope == "member" and self.member is not None:
            return f"member:{self.member.id}"
        return "company"

    @property
    def code(self) -> str:
        if self.team is not None:
            return self.team.code
        return self.member.code if self.member is not None else "company"


def set_target(session: Session, org_id: int, subject: Subject, period: str, metric_key: str, value: Decimal,
               by: Member | None) -> Decimal | None:
    """Create or replace one monthly target; returns the value it replaced. No commit."""
    row = session.execute(select(Target).where(
        Target.org_id == org_id, Target.subject == subject.key, Target.period == period,
        Target.metric_key == metric_key)).scalars().first()
    before = row.value if row is not None else None
    if row is None:
        row = Target(org_id=org_id, scope=subject.scope, subject=subject.key,
                     team_id=subject.team.id if subject.scope == "team" and subject.team else None,
                     member_id=subject.member.id if subject.member else None,
                     period=period, metric_key=metric_key, value=value)
    row.value, row.set_by_member_id, row.updated_at = value, by.id if by else None, utcnow()
    session.add(row)
    _audit(session, by, "target.set", subject.key, {"period": period, "metric": metric_key, "value": str(value),
                                                     "before": None if before is None else str(before)})
    return before


def set_targets(session: Session, org_id: int, parts: Mapping[Subject, Decimal], period: str, metric_key: str,
                by: Member | None) -> None:
    for subject, value in parts.items():
        set_target(session, org_id, subject, period, metric_key, value, by)


def set_baseline(session: Session, team: Team, country: str, period: str, metric_key: str, value: Decimal,
                 by: Member | None) -> Decimal | None:
    """Create or replace a team's baseline in one country; returns the value it replaced. No commit."""
    row = session.execute(select(CountryBaseline).where(
        CountryBaseline.team_id == team.id, CountryBaseline.country == country, CountryBaseline.period == period,
        CountryBaseline.metric_key == metric_key)).scalars().first()
    before = row.value if row is not None else None
    if row is None:
        row = CountryBaseline(team_id=team.id or 0, country=country, period=period, metric_key=metric_key, value=value)
    row.value, row.set_by_member_id, row.updated_at = value, by.id if by else None, utcnow()
    session.add(row)
    _audit(session, by, "baseline.set", f"team:{team.id}", {"country": country, "period": period,
                                                            "metric": metric_key, "value": str(value)})
    return before


def _audit(session: Session, by: Member | None, action: str, entity_id: str, details: dict[str, object]) -> None:
    audit(session, by.code if by else "system", action, "target", entity_id, details)
