"""Scores members from the store: loads facts, targets, templates and rates, then calls scoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from scoring.facts import Activity
from scoring.fx import FxTable
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, Window, local_today, month_window, window_for
from scoring.rules import Rules
from scoring.score import Scorecard, rank, scorecard, window_target
from scoring.series import cumulative_series
from scoring.templates import Role, Stage, Template, select_template
from storage.activity import FactCache, load_activity
from storage.models import Member, Team
from storage.queries import fx_table, load_templates, monthly_targets, team_members


@dataclass(frozen=True)
class Inputs:
    """What every member's score in one request shares: loaded once."""

    rules: Rules
    templates: list[Template]
    fx: FxTable
    now: datetime
    facts: FactCache

    @classmethod
    def load(cls, session: Session, rules: Rules, now: datetime) -> Inputs:
        return cls(rules, load_templates(session), fx_table(session, now.date() + timedelta(days=1)), now,
                   FactCache())


@dataclass(frozen=True)
class MemberScore:
    member: Member
    window: Window
    template: Template | None
    scorecard: Scorecard | None
    activity: Activity
    month_targets: dict[str, dict[tuple[int, int], Decimal]]

    def context(self, inputs: Inputs, window: Window | None = None) -> Context:
        return Context(window or self.window, min(inputs.now, (window or self.window).end), inputs.rules, inputs.fx)


def template_for(member: Member, team: Team | None, inputs: Inputs) -> Template | None:
    try:
        role = Role(member.role)
    except ValueError:
        return None
    return select_template(inputs.templates, role, Stage(team.stage) if team else None)


def in_trial(member: Member, now: datetime) -> bool:
    return member.trial_until is not None and local_today(now, member.timezone) < member.trial_until


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def score_member(session: Session, inputs: Inputs, member: Member, team: Team | None, window: Window) -> MemberScore:
    """Score `member` in `window`. Facts are loaded for the window and its month together, so the month
    chart and the period card come from one read."""
    template = template_for(member, team, inputs)
    if template is None:
        return MemberScore(member, window, None, None, Activity(), {})
    month = month_window(window.last_day.year, window.last_day.month, window.tz)
    needs = frozenset().union(*(CATALOG[m.key].reads for m in template.metrics))
    activity = load_activity(session, member, min(window.start, month.start), max(window.end, month.end), needs,
                             inputs.facts)
    periods = sorted({month_key(d) for d in (*window.days(), month.first_day)})
    targets = monthly_targets(session, f"member:{member.id}", periods)
    now = min(inputs.now, window.end)
    card = scorecard(template, activity, Context(window, now, inputs.rules, inputs.fx), targets,
                     in_trial(member, inputs.now))
    return MemberScore(member, window, template, card, activity, targets)


def score_current(session: Session, inputs: Inputs, member: Member, team: Team | None,
                  kind: PeriodKind) -> MemberScore:
    return score_member(session, inputs, member, team, window_for(kind, inputs.now, member.timezone))


def team_scores(session: Session, inputs: Inputs, team: Team, kind: PeriodKind) -> list[MemberScore]:
    return [score_current(session, inputs, m, team, kind) for m in team_members(session, team.id or 0)]


def rank_in(scores: list[MemberScore], member: Member) -> tuple[int, int] | None:
    return rank({s.member.code: s.scorecard.score if s.scorecard else None for s in scores}, member.code)


def headline_metric(template: Template) -> str:
    """The metric the chart and the "today" line show: net GMV when scored, else the first cumulative one."""
    keys = [m.key for m in template.metrics]
    if "net_gmv" in keys:
        return "net_gmv"
    return next((k for k in keys if CATALOG[k].cumulative), keys[0])


@dataclass(frozen=True)
class MonthSeries:
    window: Window
    key: str
    cumulative: list[Decimal | None]
    target: Decimal | None
    today: Decimal | None          # the headline metric's value for the local day of `now`
    today_target: Decimal | None


def month_series(score: MemberScore, inputs: Inputs) -> MonthSeries | None:
    """The headline metric's cumulative daily values over the month of the score's window."""
    if score.template is None:
        return None
    key = headline_metric(score.template)
    metric = CATALOG[key]
    w = score.window
    month = month_window(w.last_day.year, w.last_day.month, w.tz)
    ctx = score.context(inputs, month)
    monthly = score.month_targets.get(key, {})
    target = window_target(metric, monthly, month.days())
    if not metric.cumulative:
        return MonthSeries(month, key, [], target, None, None)
    series = cumulative_series(key, score.activity, ctx)
    today = local_today(ctx.now, w.tz)
    today_value = None
    if month.first_day <= today <= month.last_day:
        i = (today - month.first_day).days
        today_value = (series[i] or Decimal(0)) - (series[i - 1] or Decimal(0) if i > 0 else Decimal(0))
    day_window = window_for(PeriodKind.DAY, ctx.now, w.tz)
    return MonthSeries(month, key, series, target, today_value, window_target(metric, monthly, day_window.days()))
