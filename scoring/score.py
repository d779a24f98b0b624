"""From actuals and targets to achievement, pace, a weighted score, a grade and a rank.

Definitions (also in docs/metrics.md):
- Anchor day: the member's today (in their period zone, see "A member's period"), or the window's last day for
  a window that is over. Level targets,
  month-measured metrics and trial status are taken for the anchor day's month.
- Target for a window: a cumulative metric's monthly target is shared out by whole days, and a window's
  target is the sum of its days' shares (a week that spans two months takes a share of each). A level
  metric (a rate, an average) keeps the target of the anchor day's month.
- Expected by now: a cumulative target times the share of the window that has passed, in the member's period
  zone. Pace = actual / expected by now.
- Achievement (shown): actual / target for the window; for a lower-is-better metric 2 - actual / target
  (100 % on target, 200 % at zero, 0 % at twice the target).
- Scored achievement: for a cumulative metric its pace (at the end of the window, actual / target); for a
  level metric its achievement. Floored at 0 and capped at `Rules.achievement_cap` (default 150 %).
- A metric with a target but no value: when higher is better, the activity it measures did not happen
  (no live session, no ad spend, no launch) and it scores 0; when lower is better, there was nothing to go
  wrong (no order old enough to be refunded) and it is left out. A metric without a target is left out.
  Left-out metrics are listed on the card and the remaining weights are rescaled to 100 %.
- Score: the weighted mean of the scored achievements times 100, rounded half-up to one decimal. The grade
  is the first band whose floor the score reaches.
- Pace, as shown and judged (ahead, on pace, behind, no pace yet): see Pace below (scoring.pace).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from scoring.facts import Activity
from scoring.metrics import CATALOG, Context, Metric
from scoring.pace import Pace, pace_of
from scoring.periods import Window, days_in_month, month_window
from scoring.rules import Rules
from scoring.templates import Template


@dataclass(frozen=True, slots=True)
class MetricResult:
    metric: Metric
    weight: Decimal
    actual: Decimal | None
    target: Decimal | None          # for the window
    expected: Decimal | None        # cumulative metrics: target x elapsed share
    achievement: Decimal | None     # against the window's target, uncapped
    scored: Decimal | None          # what the score uses: floored, capped; None = left out

    @property
    def pace(self) -> Decimal | None:
        if not self.metric.cumulative or self.actual is None or not self.expected:
            return None
        return self.actual / self.expected

    @property
    def pace_shown(self) -> Pace | None:
        """The pace as cards show and judge it (scoring.pace): the rounded percent and its status."""
        return pace_of(self.actual, self.expected, self.target, self.metric.cumulative)


@dataclass(frozen=True, slots=True)
class Scorecard:
    template: Template
    results: tuple[MetricResult, ...]
    score: Decimal | None
    grade: str | None
    binding: bool

    def result(self, key: str) -> MetricResult:
        return next(r for r in self.results if r.metric.key == key)


def window_target(metric: Metric, monthly: Mapping[tuple[int, int], Decimal], days: list[date],
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
        return 2 - actual / target
    return actual / target


def clamp(value: Decimal, cap: Decimal) -> Decimal:
    return max(Decimal(0), min(value, cap))


def score_metric(metric: Metric, weight: Decimal, actual: Decimal | None, target: Decimal | None,
                 elapsed: Decimal, rules: Rules) -> MetricResult:
    expected = target * elapsed if (target is not None and metric.cumulative) else None
    shown = achievement(metric, actual, target) if (actual is not None and target is not None) else None
    if metric.cumulative:
        basis = expected
        raw = achievement(metric, actual, basis) if (actual is not None and basis) else None
    else:
        raw = shown
    if raw is None and actual is None and target is not None and not metric.lower_is_better:
        raw = Decimal(0)  # the measured activity did not happen
    scored = clamp(raw, rules.achievement_cap) if raw is not None else None
    return MetricResult(metric, weight, actual, target, expected, shown, scored)


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
              monthly_targets: Mapping[str, Mapping[tuple[int, int], Decimal]], in_trial: bool) -> Scorecard:
    """Score one member's activity in `ctx.window` against monthly targets keyed by metric. Metrics measured
    over the month (`Metric.month_to_date`) use the anchor day's month whatever the window."""
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
        target = window_target(metric, monthly_targets.get(wm.key, {}), mctx.window.days(), anchor)
        elapsed = mctx.window.elapsed_fraction(ctx.now)
        results.append(score_metric(metric, wm.weight, actual, target, elapsed, ctx.rules))
    final = tuple(results)
    score = weighted_score(final)
    return Scorecard(template, final, score, grade_for(score, ctx.rules), binding=not (in_trial or template.trial))


def rank(scores: Mapping[str, Decimal | None], who: str) -> tuple[int, int] | None:
    """(position, out of) among those with a score; ties share the better position."""
    mine = scores.get(who)
    ranked = [s for s in scores.values() if s is not None]
    if mine is None:
        return None
    return 1 + sum(1 for s in ranked if s > mine), len(ranked)
