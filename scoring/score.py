"""From actuals and targets to achievement, pace, a weighted score, a grade and a rank.

Definitions (also in docs/metrics.md):
- Anchor day: the member's today (in their period zone, see "A member's period"), or the window's last day for
  a window that is over. Level targets,
  month-measured metrics and trial status are taken for the anchor day's month.
- Target for a window: a cumulative metric's monthly target is shared out by whole days, and a window's
  target is the sum of its days' shares (a week that spans two months takes a share of each). A level
  metric (a rate, an average) keeps the target of the anchor day's month.
- Expected by now: a cumulative target times the share of the window's usual activity that has passed
  (scoring.shape: the team's own rhythm by hour and weekday, else the share of the window's clock time), in
  the member's period zone.
  Pace = actual / expected by now.
- Achievement (shown): actual / target for the window; for a lower-is-better metric 2 - actual / target
  (100 % on target, 200 % at zero, 0 % at twice the target and beyond: never below 0 %).
- Scored achievement: for a cumulative metric its pace (at the end of the window, actual / target); for a
  level metric its achievement. Floored at 0 and capped at `Rules.achievement_cap` (default 150 %).
- Left out of the score, each with its reason on the card:
  - no target: a metric without a target;
  - not scored yet: while the window is running, a cumulative metric while less than `MIN_EXPECTED_SHARE`
    (1 %) of its window's usual activity is expected by now (a count: while less than one is expected), and a
    level metric without a value (no live session yet, no order yet to rate) until `LEVEL_WAIT_SHARE` (half) of
    the window's usual activity has passed: from then on it scores 0;
  - nothing went wrong: a lower-is-better metric without a value (no order old enough to be refunded).
  A higher-is-better metric with a target but no value once it is judged (a cumulative one past the first 1 %,
  or any at the window's end) scores 0: the activity it measures did not happen. The remaining weights are
  rescaled to 100 %.
- No score before a minimum of data: while the window is running, the score and grade are left out ("not
  scored yet", and rank leaves the member out) while less than `MIN_SCORED_SHARE` (10 %) of the window's usual
  activity is expected by now, or while the metrics scored carry less than `MIN_SCORED_WEIGHT` (half) of the
  weight of the metrics that have a target. The card says from when the first score comes.
- Score: the weighted mean of the scored achievements times 100, rounded half-up to one decimal. The grade
  is the first band whose floor the score reaches.
- Pace, as shown and judged (ahead, on pace, behind, no pace yet): see Pace below (scoring.pace).
- Approved appeals (services.appeal_adjustments): an order taken out of a member's numbers, an order credited to
  them and a live session added count in every period, like any other order or session. A value an appeal sets
  for a metric and month (an override) replaces what the metric measures over that month: the month's score,
  its rank, commission and the month's snapshot use it, and so does a week's or day's score for a metric measured
  over the month. A day or week view of any other metric, and the month's daily chart, keep what they measure
  from the orders and sessions themselves: the override is a value for the month, not spread over its days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from scoring.facts import Activity
from scoring.metrics import CATALOG, Context, Metric, Unit
from scoring.pace import Pace, pace_of, too_early
from scoring.periods import PeriodKind, Window, days_in_month, month_window
from scoring.rules import Rules
from scoring.shape import expected_share, moment_reaching
from scoring.templates import Template

MIN_SCORED_SHARE = Decimal("0.10")   # of the window's usual activity expected by now, before a score and grade
MIN_SCORED_WEIGHT = Decimal("0.5")   # of the weight of the metrics with a target, scored, before a score
LEVEL_WAIT_SHARE = Decimal("0.5")    # of the window's usual activity: a level metric without a value waits until
#                                      then for its activity (a live session, a launch), and then scores 0


class LeftOut(StrEnum):
    """Why a metric is left out of the score."""

    NO_TARGET = "no_target"
    NOT_YET = "not_yet"              # nothing to judge yet in a running window
    NOTHING_WRONG = "nothing_wrong"  # lower is better and nothing happened that could go wrong


def least_expected(metric: Metric) -> Decimal:
    """The least amount expected by now worth judging: one for a count (0 of 0.3 videos is no shortfall)."""
    return Decimal(1) if metric.unit is Unit.COUNT else Decimal(0)


@dataclass(frozen=True, slots=True)
class MetricResult:
    metric: Metric
    weight: Decimal
    actual: Decimal | None
    target: Decimal | None          # for the window
    expected: Decimal | None        # cumulative metrics: target x elapsed share
    achievement: Decimal | None     # against the window's target, uncapped
    scored: Decimal | None          # what the score uses: floored, capped; None = left out
    left_out: LeftOut | None = None   # why `scored` is None

    @property
    def pace(self) -> Decimal | None:
        if not self.metric.cumulative or self.actual is None or not self.expected:
            return None
        return self.actual / self.expected

    @property
    def pace_shown(self) -> Pace | None:
        """The pace as cards show and judge it (scoring.pace): the rounded percent and its status."""
        return pace_of(self.actual, self.expected, self.target, self.metric.cumulative, least_expected(self.metric))


@dataclass(frozen=True, slots=True)
class Scorecard:
    template: Template
    results: tuple[MetricResult, ...]
    score: Decimal | None
    grade: str | None
    binding: bool
    first_score_at: datetime | None = None   # score None in a running window: when the first score comes
    awaiting_activity: bool = False   # too little weight can be judged: level metrics wait for a value

    @property
    def not_yet(self) -> bool:
        """Too early for a score (the minimum of data), not a bad one."""
        return self.first_score_at is not None

    def result(self, key: str) -> MetricResult:
        return next(r for r in self.results if r.metric.key == key)


def window_target(metric: Metric, monthly: Mapping[tuple[int, int], Decimal], days: Sequence[date],
                  anchor: date | None = None) -> Decimal | None:
    """The target for a window of local days, from monthly targets keyed by (year, month). A level metric
    takes the target of the anchor day's month (default: the window's last day)."""
    if not metric.cumulative:
        day = anchor or days[-1]
        return monthly.get((day.year, day.month))
    days_per_month = Counter((d.year, d.month) for d in days)
    total = Decimal(0)
    for (year, month), count in sorted(days_per_month.items()):
        month_target = monthly.get((year, month))
        if month_target is None:
            return None
        # share by whole days: a full month gives back its target exactly
        total += month_target * count / days_in_month(date(year, month, 1))
    return total


def achievement(metric: Metric, actual: Decimal, target: Decimal) -> Decimal | None:
    if target == 0:
        return None
    if metric.lower_is_better:
        return max(Decimal(0), 2 - actual / target)
    return actual / target


def clamp(value: Decimal, cap: Decimal) -> Decimal:
    return max(Decimal(0), min(value, cap))


def score_metric(metric: Metric, weight: Decimal, actual: Decimal | None, target: Decimal | None,
                 elapsed: Decimal, rules: Rules, running: bool = False) -> MetricResult:
    """`elapsed`: the share of the window's usual activity passed by now; `running`: the window is not over
    (a metric with nothing to judge yet is then left out as not scored yet)."""
    expected = target * elapsed if (target is not None and metric.cumulative) else None
    shown = achievement(metric, actual, target) if (actual is not None and target is not None) else None
    if target is None:
        return MetricResult(metric, weight, actual, target, expected, shown, None, LeftOut.NO_TARGET)
    # nothing to judge yet, as the card's "no pace yet" (scoring.pace.too_early; a count: less than one expected)
    early = metric.cumulative and expected is not None and too_early(expected, target, least_expected(metric))
    waiting = actual is None and not metric.lower_is_better and not metric.cumulative and elapsed < LEVEL_WAIT_SHARE
    if running and (early or waiting):
        return MetricResult(metric, weight, actual, target, expected, shown, None, LeftOut.NOT_YET)
    if metric.cumulative:
        raw = achievement(metric, actual, expected) if (actual is not None and expected) else None
    else:
        raw = shown
    if raw is None and actual is None and not metric.lower_is_better:
        raw = Decimal(0)  # the measured activity did not happen
    if raw is None:
        return MetricResult(metric, weight, actual, target, expected, shown, None, LeftOut.NOTHING_WRONG)
    return MetricResult(metric, weight, actual, target, expected, shown, clamp(raw, rules.achievement_cap))


def weighted_score(results: tuple[MetricResult, ...]) -> Decimal | None:
    scored = [r for r in results if r.scored is not None]
    weights = sum((r.weight for r in scored), Decimal(0))
    if not scored or weights == 0:
        return None
    raw = sum((r.weight * r.scored for r in scored), Decimal(0)) / weights * 100  # type: ignore[operator]
    return raw.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def grade_for(score: Decimal | None, rules: Rules) -> str | None:
    if score is None:
        return None
    return next(grade for grade, floor in rules.grade_bands if score >= floor)


def anchor_day(window: Window, now: datetime) -> date:
    """The member's local today, or the window's last day once the window is over."""
    return min(window.local_day(now), window.last_day)


def scorecard(template: Template, activity: Activity, ctx: Context,
              monthly_targets: Mapping[str, Mapping[tuple[int, int], Decimal]], in_trial: bool,
              overrides: Mapping[str, Decimal] | None = None) -> Scorecard:
    """Score one member's activity in `ctx.window` against monthly targets keyed by metric. Metrics measured
    over the month (`Metric.month_to_date`) use the anchor day's month whatever the window. `overrides`: metric
    values of the anchor month an approved appeal set; they replace the computed value wherever the metric is
    measured over that month (a day or week window keeps what it measures)."""
    if template.achievement_cap is not None or template.grade_bands is not None:   # the template's own
        ctx = replace(ctx, rules=replace(ctx.rules,
                                         achievement_cap=template.achievement_cap or ctx.rules.achievement_cap,
                                         grade_bands=template.grade_bands or ctx.rules.grade_bands))
    window = ctx.window
    anchor = anchor_day(window, ctx.now)
    month_ctx = replace(ctx, window=month_window(anchor.year, anchor.month, window.tz))
    results = []
    for wm in template.metrics:
        metric = CATALOG[wm.key]
        mctx = month_ctx if metric.month_to_date else ctx
        actual = metric.compute(activity, mctx)
        if overrides and wm.key in overrides and mctx.window.kind is PeriodKind.MONTH:
            actual = overrides[wm.key]
        target = window_target(metric, monthly_targets.get(wm.key, {}), mctx.window.days(), anchor)
        elapsed = expected_share(mctx.window, ctx.now, ctx.shape)
        results.append(score_metric(metric, wm.weight, actual, target, elapsed, ctx.rules,
                                    running=ctx.now < mctx.window.end))
    final = tuple(results)
    first = first_score_at(final, ctx)
    score = weighted_score(final) if first is None else None
    return Scorecard(template, final, score, grade_for(score, ctx.rules),
                     binding=not (in_trial or template.trial), first_score_at=first,
                     awaiting_activity=first is not None and not enough_judged(final))


def first_score_at(results: tuple[MetricResult, ...], ctx: Context) -> datetime | None:
    """While it is too early for a score (the minimum of data): when the first score comes. When the metrics that
    can be judged soon carry too little weight (`enough_judged`), the moment `LEVEL_WAIT_SHARE` of the window's
    usual activity has passed at the latest (level metrics without a value wait for their activity, a live
    session or a launch, until then, and score 0 from then on); otherwise
    the moment the window's expected share reaches `MIN_SCORED_SHARE`. None when a score may be given (or the
    window is over)."""
    window = ctx.window
    if ctx.now >= window.end:
        return None
    share = expected_share(window, ctx.now, ctx.shape)
    judged = sum((r.weight for r in results if r.left_out is None), Decimal(0))
    waiting = sum((r.weight for r in results if r.left_out is LeftOut.NOT_YET), Decimal(0))
    if share >= MIN_SCORED_SHARE and judged >= (judged + waiting) * MIN_SCORED_WEIGHT:
        return None
    if not enough_judged(results):   # the level metrics are judged (0 without activity) from LEVEL_WAIT_SHARE on
        return moment_reaching(window, max(LEVEL_WAIT_SHARE, MIN_SCORED_SHARE), ctx.shape) or window.end
    return moment_reaching(window, MIN_SCORED_SHARE, ctx.shape) or window.end


def enough_judged(results: tuple[MetricResult, ...]) -> bool:
    """Whether the metrics a score would use carry at least `MIN_SCORED_WEIGHT` of those that have a target, once
    the cumulative ones are judged (they are from 1 % of the window on, before the 10 % minimum)."""
    waiting = [r for r in results if r.left_out is LeftOut.NOT_YET]
    judged = sum((r.weight for r in results if r.left_out is None), Decimal(0))
    soon = judged + sum((r.weight for r in waiting if r.metric.cumulative), Decimal(0))
    return soon >= (judged + sum((r.weight for r in waiting), Decimal(0))) * MIN_SCORED_WEIGHT


def rank(scores: Mapping[str, Decimal | None], who: str) -> tuple[int, int] | None:
    """(position, out of) among those with a score; ties share the better position."""
    mine = scores.get(who)
    ranked = [s for s in scores.values() if s is not None]
    if mine is None:
        return None
    return 1 + sum(1 for s in ranked if s > mine), len(ranked)
