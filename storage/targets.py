"""Writing targets and country baselines, each change audited. Reads live in storage.queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from scoring.periods import month_window, parse_month
from storage.audit import audit
from storage.models import CommissionPayout, CountryBaseline, Member, Target, Team, utcnow
from storage.month_close import closed
from storage.queries import member_zone


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


def zone_of(session: Session, subject: Subject, org_zone: str) -> str:
    """The zone the subject's months are counted in: a member's period zone (storage.queries.member_zone: their
    team's, else their own), the team's, else the organisation's."""
    if subject.member is not None:
        return member_zone(session, subject.member)
    return subject.team.timezone if subject.team is not None else org_zone


def settled(session: Session, period: str, zone: str, now: datetime) -> str | None:
    """Why a month's targets are settled: "paid" once commission was paid for it (`kpibot commission close`
    stored a payout), "over" once it is over in `zone`; None while they may still be set. A settled month is
    only rewritten on purpose (--force), and such a write is audited as target.force. "closed" once the month is
    closed (kpibot month close): never rewritten, not even with --force (only an approved appeal changes it)."""
    if closed(session, period) is not None:
        return "closed"
    paid = session.execute(select(CommissionPayout.id).where(CommissionPayout.period == period).limit(1)).first()
    if paid is not None:
        return "paid"
    return "over" if month_window(*parse_month(period), zone).end <= now else None


def set_target(session: Session, org_id: int, subject: Subject, period: str, metric_key: str, value: Decimal,
               by: Member | None, forced: str | None = None) -> Decimal | None:
    """Create or replace one monthly target; returns the value it replaced. `forced`: why the month was settled
    (see settled), for a write made anyway: audited as target.force with it. No commit."""
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
    details: dict[str, object] = {"period": period, "metric": metric_key, "value": str(value),
                                  "before": None if before is None else str(before)}
    _audit(session, by, "target.set" if forced is None else "target.force", subject.key,
           details if forced is None else {**details, "settled": forced})
    return before


def set_targets(session: Session, org_id: int, parts: Mapping[Subject, Decimal], period: str, metric_key: str,
                by: Member | None, forced: Mapping[Subject, str] | None = None) -> None:
    for subject, value in parts.items():
        set_target(session, org_id, subject, period, metric_key, value, by, (forced or {}).get(subject))


def set_baseline(session: Session, team: Team, country: str, period: str, metric_key: str, value: Decimal,
                 by: Member | None, forced: str | None = None) -> Decimal | None:
    """Create or replace a team's baseline in one country; returns the value it replaced. `forced` as for
    set_target. No commit."""
    row = session.execute(select(CountryBaseline).where(
        CountryBaseline.team_id == team.id, CountryBaseline.country == country, CountryBaseline.period == period,
        CountryBaseline.metric_key == metric_key)).scalars().first()
    before = row.value if row is not None else None
    if row is None:
        row = CountryBaseline(team_id=team.id or 0, country=country, period=period, metric_key=metric_key, value=value)
    row.value, row.set_by_member_id, row.updated_at = value, by.id if by else None, utcnow()
    session.add(row)
    details: dict[str, object] = {"country": country, "period": period, "metric": metric_key, "value": str(value)}
    _audit(session, by, "baseline.set" if forced is None else "baseline.force", f"team:{team.id}",
           details if forced is None else {**details, "settled": forced})
    return before


def _audit(session: Session, by: Member | None, action: str, entity_id: str, details: dict[str, object]) -> None:
    audit(session, by.code if by else None, action, "target", entity_id, details)
