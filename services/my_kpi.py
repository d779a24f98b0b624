"""What `/mykpi` shows of a member: their own score for the day, week or month, the month of their headline
metric, and their rank among their team's peers. `/mykpi` calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from scoring.metrics import CATALOG, Context
from scoring.outlook import Landing, NextGrade, landing, next_grade
from scoring.periods import PeriodKind, Window
from scoring.roles import Role, Scope
from scoring.shape import expected_share
from scoring.templates import TemplateError
from services.container import Services
from services.errors import UserError
from services.scorecards import (
    Inputs,
    MemberScore,
    MonthSeries,
    month_series,
    pace_metric,
    rank_in,
    score_current,
    team_scores,
)
from storage.activity import load_activity
from storage.models import Member
from storage.queries import team_of


@dataclass(frozen=True)
class Outlook:
    """What to do (scoring.outlook): the month's landing, the next grade, and yesterday against today."""

    key: str                       # the metric the pace is judged on (services.scorecards.pace_metric)
    target: Decimal | None         # its month target
    landing: Landing | None        # None for a metric that does not add up over time
    next_grade: NextGrade | None
    yesterday: Decimal | None      # the day before today in the member's period zone
    today: Decimal | None


@dataclass(frozen=True)
class MyKpi:
    score: MemberScore             # on the member's period (member_window); no scorecard without a KPI template
    series: MonthSeries | None     # the headline metric's month; None without a KPI template
    rank: tuple[int, int] | None   # (position, of how many) among the team's peers on the same window
    fx_stale: dict[tuple[str, str], date] = field(default_factory=dict)     # pair -> oldest rate day used
    fx_missing: dict[tuple[str, str], date] = field(default_factory=dict)   # pairs left out: no rate at all
    outlook: Outlook | None = None  # None for /mykpi yesterday, or without a KPI template


def my_kpi(services: Services, member: Member, kind: PeriodKind, now: datetime) -> MyKpi:
    """The member's current `kind` period as of `now`. A member whose role is scored on the team's shops but
    who has no team is refused (UserError): their numbers are their team's shops'."""
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now, skip_missing_fx=True)
        team = team_of(session, member)
        if team is None and Role.parse(member.role).scope is Scope.TEAM:
            raise UserError("error.not_in_team")
        peers = team_scores(session, inputs, team, kind) if team else []
        # the member's row among their peers is their score: one window (member_window) for every view
        mine = next((p for p in peers if p.member.id == member.id), None) \
            or score_current(session, inputs, member, team, kind)
        if mine.problem is not None:
            raise TemplateError(mine.problem)   # the member sees what is wrong; their peers were scored
        if mine.scorecard is None:
            return MyKpi(mine, None, None)
        series = month_series(mine, inputs)
        # what to do is about the metric the member's pace is judged on: an ad buyer's card leads with ROI, which
        # has no pace or landing, but their month lands on net GMV (services.scorecards.pace_metric)
        assert mine.template is not None
        paced = pace_metric(mine.template)
        plan = series if series is None or series.key == paced else month_series(mine, inputs, paced)
        outlook = outlook_of(session, inputs, mine, plan) if plan and kind is not PeriodKind.YESTERDAY else None
    return MyKpi(mine, series, rank_in(peers or [mine], member), dict(inputs.fx.stale), dict(inputs.fx.missing),
                 outlook)


def outlook_of(session: Session, inputs: Inputs, mine: MemberScore, series: MonthSeries) -> Outlook:
    """The month's landing of the series' metric (the one the pace is judged on), the next grade of the period's
    score, and that metric for yesterday and today (local days in the series' zone, the member's period zone; on
    the 1st yesterday is read from the previous month)."""
    assert mine.scorecard is not None
    metric = CATALOG[series.key]
    today = series.window.local_day(inputs.now)

    def on_day(day: date) -> Decimal | None:
        window = Window(PeriodKind.DAY, day, day, series.window.tz)
        # the score's facts cover its anchor month: only the 1st's yesterday is read from the store
        activity = mine.activity if day >= series.window.first_day else \
            load_activity(session, mine.member, window.start, window.end, metric.reads, inputs.facts,
                          tz=window.tz)
        return metric.compute(activity, Context(window, inputs.now, inputs.rules, inputs.fx))

    land = None
    if metric.cumulative and not metric.lower_is_better and series.cumulative:
        share = expected_share(series.window, inputs.now, mine.shape)
        land = landing(series.cumulative, (today - series.window.first_day).days, series.target, share)
    bands = mine.scorecard.template.grade_bands or inputs.rules.grade_bands
    return Outlook(series.key, series.target, land, next_grade(mine.scorecard.score, bands),
                   on_day(today - timedelta(days=1)), series.today if metric.cumulative else on_day(today))
