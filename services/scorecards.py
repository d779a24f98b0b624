"""Scores members from the store: loads facts, targets, templates and rates, then calls scoring."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from scoring.facts import Activity
from scoring.fx import FxTable
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, Window, month_window, period_zone, window_for
from scoring.roles import Scope
from scoring.rules import CountOrdersAt, Rules
from scoring.score import Scorecard, anchor_day, rank, scorecard, window_target
from scoring.series import cumulative_series
from scoring.shape import PaceShape, expected_share, history_bounds, learn_shape, learn_shape_counted
from scoring.sop import Region, Typical, region_of, typical
from scoring.templates import Role, Stage, Template, select_template
from services.container import Services
from storage.activity import FactCache, load_activity, team_order_counts, team_order_moments
from storage.adjustments import month_overrides, month_overrides_of
from storage.models import Member, Team
from storage.queries import (
    fx_table,
    load_templates,
    monthly_targets,
    monthly_targets_of,
    team_countries,
    team_members,
    team_of,
)


@dataclass(frozen=True)
class Inputs:
    """What every member's score in one request shares: loaded once."""

    rules: Rules
    templates: list[Template]
    fx: FxTable
    now: datetime
    facts: FactCache
    shapes: dict[tuple[int, str, date], PaceShape | None] = field(default_factory=dict)

    memo: dict[tuple[object, ...], object] = field(default_factory=dict)   # targets and overrides read ahead

    def prefetch_targets(self, session: Session, member_ids: list[int], periods: list[str]) -> None:
        """The members' targets and appeals' overrides of `periods`, one query each for all of them."""
        targets = monthly_targets_of(session, [f"member:{m}" for m in member_ids], periods)
        overrides = month_overrides_of(session, member_ids, periods)
        for m in member_ids:
            self.memo["targets", m, tuple(periods)] = targets.get(f"member:{m}", {})
            for period in periods:
                self.memo["overrides", m, period] = {key: value for (key, p), value in overrides.get(m, {}).items()
                                                     if p == period}

    def targets_of(self, session: Session, member: Member,
                   periods: list[str]) -> dict[str, dict[tuple[int, int], Decimal]]:
        """monthly_targets of the member, from what prefetch_targets read when it did."""
        got = self.memo.get(("targets", member.id, tuple(periods)))
        return got if got is not None else monthly_targets(session, f"member:{member.id}", periods)  # type: ignore[return-value]

    def overrides_of(self, session: Session, member: Member, month: Window) -> dict[str, Decimal]:
        """anchor_overrides, from what prefetch_targets read when it did."""
        got = self.memo.get(("overrides", member.id, month_key(month.first_day)))
        return got if got is not None else anchor_overrides(session, member, month)  # type: ignore[return-value]

    def __post_init__(self) -> None:
        # the order sums are read as of a `now`: an Inputs made for another moment (dataclasses.replace) reads
        # them as of its own
        if self.facts.now is not None and self.facts.now != self.now:
            object.__setattr__(self, "facts", self.facts.at(self.now))

    def shape_for(self, session: Session, team: Team | None, tz: str) -> PaceShape | None:
        """The team's pace shape in zone `tz` (scoring.shape), learned once per request from its shops' orders of
        the 8 weeks before today; None (clock-time fallback) without a team or with too thin a history."""
        if team is None or team.id is None:
            return None
        today = window_for(PeriodKind.DAY, self.now, tz).first_day
        key = (team.id, tz, today)
        if key not in self.shapes:
            start, end = history_bounds(today, tz)
            counted = team_order_counts(session, team.id, start, end, self.rules.count_orders_at, tz, self.facts) \
                if self.facts.sums else None
            self.shapes[key] = learn_shape_counted(counted, tz) if counted is not None else learn_shape(
                team_order_moments(session, team.id, start, end, self.rules.count_orders_at is CountOrdersAt.SHIPPED),
                tz)
        return self.shapes[key]

    @classmethod
    def load(cls, session: Session, rules: Rules, now: datetime, skip_missing_fx: bool = False,
             one_by_one: bool = False) -> Inputs:
        """`skip_missing_fx`: a card, not a payout, may leave out an amount with no rate at all (and say so).
        `one_by_one`: the scores' activity holds the orders themselves, not their sums (storage.order_sums), for a
        caller that lists them (services.why)."""
        return cls(rules, load_templates(session),
                   fx_table(session, now.date() + timedelta(days=1), skip_missing=skip_missing_fx), now,
                   FactCache() if one_by_one else FactCache(now, rules))


@dataclass(frozen=True)
class TypicalTargets:
    """The SOP's typical values a member in trial is measured against, for metrics with no target of theirs."""

    stage: Stage
    region: Region
    values: tuple[Typical, ...]       # in the template's order


@dataclass(frozen=True)
class MemberScore:
    member: Member
    window: Window
    template: Template | None
    scorecard: Scorecard | None
    activity: Activity
    month_targets: dict[str, dict[tuple[int, int], Decimal]]
    problem: str | None = None     # the member's template cannot be scored with: what is wrong with it
    typical: TypicalTargets | None = None   # targets taken from the SOP library (in trial only)
    trial: bool = False            # the member is in trial for the window (in_trial): marked wherever shown
    shape: PaceShape | None = None  # the team's pace shape the score was judged on (None: clock time)
    overrides: dict[str, Decimal] = field(default_factory=dict)   # the anchor month's values appeals set

    def context(self, inputs: Inputs, window: Window | None = None) -> Context:
        return Context(window or self.window, inputs.now, inputs.rules, inputs.fx, self.shape)


def template_for(member: Member, team: Team | None, inputs: Inputs, period: str | None = None) -> Template | None:
    """The template version in effect in `period` ("YYYY-MM"; default: the member's current month). It may
    carry a `problem`: the caller shows it instead of a score."""
    try:
        role = Role(member.role)
    except ValueError:
        return None
    month = period or month_key(member_window(PeriodKind.MONTH, inputs.now, member, team).first_day)
    return select_template(inputs.templates, role, Stage(team.stage) if team else None, month)


def team_region(services: Services, member: Member) -> Region:
    """The SOP region of the member's team (scoring.sop.region_of its countries); OTHER without a team."""
    with Session(services.engine) as session:
        team = team_of(session, member)
        return region_of(team_countries(session, team.id or 0)) if team is not None else Region.OTHER


def in_trial(member: Member, window: Window, now: datetime) -> bool:
    """Trial status for the period, judged on its anchor day (today, or its last day once it is over)."""
    return member.trial_until is not None and anchor_day(window, now) < member.trial_until


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def score_member(session: Session, inputs: Inputs, member: Member, team: Team | None, window: Window) -> MemberScore:
    """Score `member` in `window` as of `inputs.now` (a past window still sees refunds that came later).
    Facts are loaded for the window and its anchor month together, so the chart and the card share a read."""
    month = anchor_month(window, inputs.now)
    template = template_for(member, team, inputs, month_key(month.first_day))
    trial = in_trial(member, window, inputs.now)
    if template is None or template.problem is not None:   # a bad template breaks this member's card only
        return MemberScore(member, window, None, None, Activity(), {}, template.problem if template else None,
                           trial=trial)
    needs = frozenset().union(*(CATALOG[m.key].reads for m in template.metrics))
    activity = load_activity(session, member, *load_range(window, inputs.now), needs, inputs.facts, tz=window.tz)
    periods = target_periods(window, inputs.now)
    targets = inputs.targets_of(session, member, periods)
    typical_targets = None
    if trial:
        targets, typical_targets = with_typical_targets(session, member, team, template, targets, periods)
    shape = inputs.shape_for(session, team, window.tz)
    overrides = inputs.overrides_of(session, member, month)
    card = scorecard(template, activity, Context(window, inputs.now, inputs.rules, inputs.fx, shape), targets, trial,
                     overrides)
    return MemberScore(member, window, template, card, activity, targets, typical=typical_targets,
                       trial=trial, shape=shape, overrides=overrides)


def target_periods(window: Window, now: datetime) -> list[str]:
    """The months ("YYYY-MM") whose targets score_member reads for `window`: its days' and its anchor month."""
    first, last, anchor = window.first_day, window.last_day, anchor_day(window, now)
    # month by month from the first day's to the last day's, not day by day: a month's window scored for hundreds
    # of members asks this for each
    months = {month_key(anchor)} | {month_key(date(index // 12, index % 12 + 1, 1)) for index in
                                    range(first.year * 12 + first.month - 1, last.year * 12 + last.month)}
    return sorted(months)


def load_range(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """What score_member reads for `window`: the window and its anchor month together."""
    month = anchor_month(window, now)
    return min(window.start, month.start), max(window.end, month.end)


def score_members(session: Session, inputs: Inputs, team: Team | None,
                  windows: list[tuple[Member, Window]]) -> list[MemberScore]:
    """score_member of each (member, window); the sums of the orders credited to them are read in one query for
    all (storage.activity.FactCache.prefetch), not one each."""
    ranges: dict[tuple[datetime, datetime, str], list[Member]] = {}
    for member, window in windows:
        if member.id is not None:
            ranges.setdefault((*load_range(window, inputs.now), window.tz), []).append(member)
    for (start, end, tz), members in ranges.items():
        inputs.facts.prefetch(session, [m.id for m in members if m.id is not None], start, end, tz,
                              [m.id for m in members if m.id is not None and Role.parse(m.role).scope is Scope.OWN])
    periods: dict[tuple[str, ...], list[int]] = {}
    for member, window in windows:
        if member.id is not None:
            periods.setdefault(tuple(target_periods(window, inputs.now)), []).append(member.id)
    for months, ids in periods.items():
        inputs.prefetch_targets(session, ids, list(months))
    return [score_member(session, inputs, m, team, w) for m, w in windows]


def anchor_overrides(session: Session, member: Member, month: Window) -> dict[str, Decimal]:
    """Metric key -> the value approved appeals set for the member in `month` (storage.adjustments)."""
    period = month_key(month.first_day)
    return {key: value for (key, p), value in month_overrides(session, member.id, [period]).items() if p == period}


def with_typical_targets(session: Session, member: Member, team: Team | None, template: Template,
                         targets: dict[str, dict[tuple[int, int], Decimal]],
                         periods: list[str]) -> tuple[dict[str, dict[tuple[int, int], Decimal]], TypicalTargets | None]:
    """`targets` with the SOP's typical value (scoring.sop) for each metric of `template` that has no target in
    one of `periods`, for the member's role, their team's stage and region. Only for a member in trial: the
    caller decides. A member without a team has no stage, so no typical values; a metric the SOP has no value
    for stays without a target."""
    if team is None:
        return targets, None
    try:
        role, stage = Role(member.role), Stage(team.stage)
    except ValueError:
        return targets, None
    region = region_of(team_countries(session, team.id or 0))
    months = [(int(p[:4]), int(p[5:7])) for p in periods]
    out = {k: dict(v) for k, v in targets.items()}
    used = []
    for wm in template.metrics:
        missing = [m for m in months if m not in out.get(wm.key, {})]
        value = typical(role, stage, region, wm.key) if missing else None
        if value is None:
            continue
        out.setdefault(wm.key, {}).update(dict.fromkeys(missing, value.value))
        used.append(value)
    return out, (TypicalTargets(stage, region, tuple(used)) if used else None)


def anchor_month(window: Window, now: datetime) -> Window:
    day = anchor_day(window, now)
    return month_window(day.year, day.month, window.tz)


def member_window(kind: PeriodKind, now: datetime, member: Member, team: Team | None) -> Window:
    """The member's current `kind` period as of `now`: the one window every view scores them on
    (scoring.periods.period_zone: in their team's zone, else their own). `team` is the member's team."""
    return window_for(kind, now, period_zone(member.timezone, team.timezone if team else None))


def score_current(session: Session, inputs: Inputs, member: Member, team: Team | None,
                  kind: PeriodKind) -> MemberScore:
    """The member's current day, week or month (member_window). `team` is the member's team."""
    return score_member(session, inputs, member, team, member_window(kind, inputs.now, member, team))


def team_scores(session: Session, inputs: Inputs, team: Team, kind: PeriodKind) -> list[MemberScore]:
    """Every member of the team on their current period: the team's calendar, so the rows compare alike."""
    return score_members(session, inputs, team, [(m, member_window(kind, inputs.now, m, team))
                                                 for m in team_members(session, team.id or 0)])


def rank_in(scores: list[MemberScore], member: Member) -> tuple[int, int] | None:
    return rank({s.member.code: s.scorecard.score if s.scorecard else None for s in scores}, member.code)


def headline_key(keys: Iterable[str]) -> str | None:
    """The metric to lead with among `keys`: net GMV when there, else the first that adds up over time."""
    keys = list(keys)
    if "net_gmv" in keys:
        return "net_gmv"
    return next((k for k in keys if CATALOG[k].cumulative), None)


ROLE_HEADLINES: dict[Role, str] = {Role.AD_BUYER: "roi", Role.SELECTOR: "new_sku_hit_rate"}
"""The metric a role is judged on first, when its template has it: an ad buyer's ROI, a selector's hit rate.
Other roles (host, operator, lead) lead with net GMV, else the first metric that adds up (headline_key)."""


def headline_metric(template: Template) -> str:
    """The metric the card, the chart and the "today" line lead with, for the role the template is for
    (`template.role`: a member's template is selected by their role): the role's own (ROLE_HEADLINES) when in
    the template, else headline_key, else the template's first."""
    keys = [m.key for m in template.metrics]
    own = ROLE_HEADLINES.get(template.role)
    if own is not None and own in keys:
        return own
    return headline_key(keys) or keys[0]


def pace_metric(template: Template) -> str:
    """The metric a member's pace is judged on, whatever their role leads with (headline_metric): net GMV, else
    the first that adds up (headline_key), else the template's first. Lag alerts nudge on it, and the digest
    shares it as the team's figure: an ad buyer led by ROI (which has no pace) is still nudged on net GMV."""
    keys = [m.key for m in template.metrics]
    return headline_key(keys) or keys[0]


@dataclass(frozen=True)
class MonthSeries:
    window: Window
    key: str
    cumulative: list[Decimal | None]   # a level metric (not cumulative): its month-to-date value as of each day
    target: Decimal | None
    today: Decimal | None          # the headline metric's value for the local day of `now`
    today_target: Decimal | None
    expected_now: Decimal | None = None   # the month's headline result's `expected` (cumulative metrics only)
    today_index: int = 0                  # index of the anchor day (today) in `window.days()`
    # the target expected by the end of each day: the month's target along the team's usual shape (scoring.shape),
    # the line the expected-by-now mark sits on; None for a level metric or without a target
    target_path: list[Decimal] | None = None


def month_series(score: MemberScore, inputs: Inputs, key: str | None = None) -> MonthSeries | None:
    """The daily values of `key` (default: the headline metric) over the anchor month of the score's window:
    cumulative for a metric that adds up, else month-to-date as of each day (the metric computed on [month
    start, end of that day])."""
    if score.template is None:
        return None
    key = key or headline_metric(score.template)
    metric = CATALOG[key]
    month = anchor_month(score.window, inputs.now)
    ctx = score.context(inputs, month)
    monthly = score.month_targets.get(key, {})
    target = window_target(metric, monthly, month.days())
    today = anchor_day(month, inputs.now)
    i = (today - month.first_day).days
    day = Window(PeriodKind.DAY, today, today, month.tz)
    today_target = window_target(metric, monthly, day.days())
    if not metric.cumulative:
        series = level_series(key, score.activity, ctx)
        today_value = metric.compute(score.activity, score.context(inputs, day))
        return MonthSeries(month, key, series, target, today_value, today_target, None, i)
    series = cumulative_series(key, score.activity, ctx)
    today_value = (series[i] or Decimal(0)) - ((series[i - 1] or Decimal(0)) if i > 0 else Decimal(0))
    path = None if target is None else [
        target * expected_share(month, Window(PeriodKind.DAY, d, d, month.tz).end, score.shape) for d in month.days()]
    return MonthSeries(month, key, series, target, today_value, today_target, _month_expected(score, inputs, key),
                       i, path)


def level_series(key: str, activity: Activity, ctx: Context) -> list[Decimal | None]:
    """A level metric's month-to-date value as of the end of each day of `ctx.window`; None after today (and
    on a day with nothing to measure yet, e.g. no ad spend)."""
    metric = CATALOG[key]
    today = ctx.window.local_day(ctx.now)
    out: list[Decimal | None] = []
    for d in ctx.window.days():
        if d > today:
            out.append(None)
            continue
        upto = Window(ctx.window.kind, ctx.window.first_day, d, ctx.window.tz)
        out.append(metric.compute(activity, Context(upto, ctx.now, ctx.rules, ctx.fx)))
    return out


def _month_expected(score: MemberScore, inputs: Inputs, key: str) -> Decimal | None:
    """The headline result's expected-by-now for the month (the score's own result when it is the month's); None
    while the card says "no pace yet" (scoring.pace), so the chart marks no gap the card does not state."""
    assert score.template is not None
    month = anchor_month(score.window, inputs.now)
    card = score.scorecard
    if card is None or score.window != month:
        card = scorecard(score.template, score.activity, score.context(inputs, month), score.month_targets,
                         score.trial, score.overrides)
    result = card.result(key)
    pace = result.pace_shown
    return None if pace is None or pace.percent is None else result.expected
