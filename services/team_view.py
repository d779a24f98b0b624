"""A team as a lead, manager or admin sees it: which team a member may look at (their own; managers and
admins any), its members' month scores and its month totals, and its digest on request. `/team` and `/digest`
call these; the daily digest job calls services.digests directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from cards.model import Card
from scoring.periods import PeriodKind, Window, window_for
from scoring.score import MetricResult
from services.container import Services
from services.digests import build_digest
from services.errors import UserError
from services.scorecards import Inputs, MemberScore, team_scores
from services.team_access import sees_team
from services.team_rows import team_total
from storage.models import Member, Team
from storage.queries import find_team, team_of, teams

TOTALS = ("net_gmv", "orders")   # the team's month totals /team shows, in this order


def visible_team(session: Session, member: Member, name: str | None) -> Team:
    """The team `name` (code or name) if the member may see it, else UserError; without a name, their own."""
    own = team_of(session, member)
    if name is None:
        if own is None:
            raise UserError("error.which_team", teams=", ".join(x.code for x in teams(session)))
        return own
    wanted = find_team(session, name)
    if wanted is None:
        raise UserError("error.no_team", name=name, teams=", ".join(x.code for x in teams(session)))
    if not sees_team(member, wanted.id):
        raise UserError("error.other_team")
    return wanted


@dataclass(frozen=True)
class TeamView:
    name: str
    window: Window                       # this month, in the team's zone
    scores: list[MemberScore]            # every active member, on `window`
    totals: tuple[MetricResult, ...]     # the team's own figures of TOTALS against its targets
    fx_stale: dict[tuple[str, str], date] = field(default_factory=dict)     # pair -> oldest rate day used
    fx_missing: dict[tuple[str, str], date] = field(default_factory=dict)   # pairs left out: no rate at all


def team_view(services: Services, member: Member, name: str | None, now: datetime) -> TeamView:
    """The month of the team the member asks for (visible_team) as of `now`."""
    rules = services.rules
    with Session(services.engine) as session:
        team = visible_team(session, member, name)
        inputs = Inputs.load(session, rules, now, skip_missing_fx=True)
        scores = team_scores(session, inputs, team, PeriodKind.MONTH)
        window = window_for(PeriodKind.MONTH, now, team.timezone)
        totals = tuple(team_total(session, inputs, team, window, key) for key in TOTALS)
    return TeamView(team.name, window, scores, totals, dict(inputs.fx.stale), dict(inputs.fx.missing))


def team_digest(services: Services, member: Member, name: str | None, lang: str, now: datetime) -> Card:
    """Today's digest (services.digests) of the team the member asks for (visible_team)."""
    with Session(services.engine) as session:
        return build_digest(session, services, visible_team(session, member, name), lang, now)
