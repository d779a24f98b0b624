"""What `/mykpi` shows of a member: their own score for the day, week or month, the month of their headline
metric, and their rank among their team's peers. `/mykpi` calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from scoring.periods import PeriodKind, window_for
from scoring.roles import Role, Scope
from scoring.templates import TemplateError
from services.container import Services
from services.errors import UserError
from services.scorecards import Inputs, MemberScore, MonthSeries, month_series, rank_in, score_current, team_scores
from storage.models import Member
from storage.queries import team_of


@dataclass(frozen=True)
class MyKpi:
    score: MemberScore             # in the member's own zone; its scorecard is None without a KPI template
    series: MonthSeries | None     # the headline metric's month; None without a KPI template
    rank: tuple[int, int] | None   # (position, of how many) among the team's peers on the same window
    fx_stale: dict[tuple[str, str], date] = field(default_factory=dict)     # pair -> oldest rate day used
    fx_missing: dict[tuple[str, str], date] = field(default_factory=dict)   # pairs left out: no rate at all


def my_kpi(services: Services, member: Member, kind: PeriodKind, now: datetime) -> MyKpi:
    """The member's current `kind` period as of `now`. A member whose role is scored on the team's shops but
    who has no team is refused (UserError): their numbers are their team's shops'."""
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now, skip_missing_fx=True)
        team = team_of(session, member)
        if team is None and Role.parse(member.role).scope is Scope.TEAM:
            raise UserError("error.not_in_team")
        peers = team_scores(session, inputs, team, kind) if team else []
        own_window = window_for(kind, inputs.now, member.timezone)
        # a peer's row is the member's own score when the team's zone gives the same window
        mine = next((p for p in peers if p.member.id == member.id and p.window == own_window), None) \
            or score_current(session, inputs, member, team, kind)
        if mine.problem is not None:
            raise TemplateError(mine.problem)   # the member sees what is wrong; their peers were scored
        if mine.scorecard is None:
            return MyKpi(mine, None, None)
        series = month_series(mine, inputs)
    return MyKpi(mine, series, rank_in(peers or [mine], member), dict(inputs.fx.stale), dict(inputs.fx.missing))
