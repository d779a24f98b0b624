"""Who decides an appeal: the levels an appeal climbs, and who may decide one.

- Level 0: the appellant's team lead (a team may have several: the first by member code). A lead, or a member
  whose team has no lead, starts at level 1.
- Level 1: a manager (the first by code). Level 2: an admin (the first by code).
- A level with nobody on it (no manager in the organisation) passes to the next. Nobody ever decides their own
  appeal. An appeal pending past [appeals] escalate_after_days climbs one level (bot.jobs.appeals).
- Who may decide: the approver it is assigned to now while they still fit its level (fits), or any admin (never
  the appellant). The appeals job moves an appeal whose approver no longer fits (services.appeals.reroute).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from scoring.roles import Role
from storage.models import Appeal, Member, TeamLead

LEVELS: tuple[Role, ...] = (Role.LEAD, Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class AppealRules:
    """[appeals] in the config."""

    window: timedelta = timedelta(days=7)          # how long after a month closes it may still be appealed
    remind_after: timedelta = timedelta(days=2)    # an approver is reminded daily once an appeal waits this long
    escalate_after: timedelta = timedelta(days=5)  # ... and it climbs a level once it waits this long


@dataclass(frozen=True)
class Route:
    approver: Member
    level: int                                     # index into LEVELS


def route(session: Session, appellant: Member, from_level: int = 0) -> Route | None:
    """The approver of `appellant`'s appeal at `from_level` or the first level above it with someone on it; None
    when there is nobody (no admin other than the appellant)."""
    start = from_level if Role.parse(appellant.role).level < Role.LEAD.level else max(from_level, 1)
    for level in range(start, len(LEVELS)):
        found = _on_level(session, appellant, level)
        if found is not None:
            return Route(found, level)
    return None


def _on_level(session: Session, appellant: Member, level: int) -> Member | None:
    query = select(Member).where(Member.active, Member.org_id == appellant.org_id,  # type: ignore[arg-type]
                                 Member.id != appellant.id)
    if LEVELS[level] is Role.LEAD:
        if appellant.team_id is None:
            return None
        query = query.join(TeamLead, TeamLead.member_id == Member.id).where(TeamLead.team_id == appellant.team_id)
    else:
        query = query.where(Member.role == LEVELS[level])
    return session.execute(query.order_by(Member.code).limit(1)).scalars().first()


def fits(session: Session, appeal: Appeal, member: Member) -> bool:
    """Whether `member` still fits the appeal's level: level 0 a lead of the appellant's team, 1 a manager,
    2 an admin (a lead demoted or moved to another team no longer decides what was assigned to them)."""
    if not member.active:
        return False
    level = LEVELS[min(appeal.level, len(LEVELS) - 1)]
    if level is Role.LEAD:
        appellant = session.get(Member, appeal.member_id)
        if appellant is None or appellant.team_id is None:
            return False
        return session.execute(select(TeamLead.member_id).where(TeamLead.team_id == appellant.team_id,  # type: ignore[arg-type]
                                                         TeamLead.member_id == member.id)).first() is not None
    return Role.parse(member.role) is level


def may_decide(session: Session, appeal: Appeal, member: Member) -> bool:
    """Whether `member` may decide `appeal`: its current approver while they still fit its level (fits), or an
    admin, never the appellant."""
    if member.id is None or member.id == appeal.member_id or not member.active:
        return False
    if member.role == Role.ADMIN:
        return True
    return member.id == appeal.approver_member_id and fits(session, appeal, member)
