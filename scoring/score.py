"""From actuals and targets to achievement, pace, a weighted score, a grade and a rank.

Definitions (also in docs/metrics.md):
- Target for a window: a cumulative metric's monthly target is spread evenly over the month's days, and
  a window's target is the sum over its days (so a week that spans two months takes a share of each).
  A level metric (a rate, an average) keeps its monthly target as it is.
- Expected by now: a cumulative target times the share of the window that has passed, measured in the
  member's own time zone. Pace = actual / expected.
- Achievement: for a cumulative metric, actual / expected by now (at the end of the window that is the full
  target); for a level metric where higher is better, actual / target; where lower is better,
  2 - actual / target (at target 100 %, at zero 200 %, at twice the target 0 %). Achievement is floored at
  0 and capped at `Rules.achievement_cap` (default 150 %).
- Score: the weighted mean of the achievements of the metrics that have a target and a value, times 100,
  rounded half-up to one decimal. Metrics without target or value are listed as not scored and the
  remaining weights are rescaled to 100 %. The grade is the first band whose floor the score reaches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from scoring.facts import Activity
from scoring.metrics import CATALOG, Context, Metric
from scoring.periods import days_in_month
from scoring.rules import Rules
from scoring.templates import Template

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class MetricResult:
    metric: Metric
    weight: Decimal
    actual: Decimal | None
    target: Decimal | None          # for the window
    expected: Decimal | None        # cumulative metrics: target x elapsed share
    achievement: Decimal | None     # uncapped
    scored: Decimal | None          # floored, capped; None = not scored

    @property
    def pace(self) -> Decimal | None:
        if not self.metric.cumulative or self.actual is None or not self.expected:
            return None
        return self.actual / self.expected


@dataclass(frozen=True, slots=True)
class Scorecard:
    template: Template
    results: tuple[MetricResult, ...]
    score: Decimal | None
    grade: str | None
    binding: bool

    def result(self, key: str) -> MetricResult:
        return next(r for r in self.results if r.metric.key == key)


def window_target(metric: Metric, monthly: Mapping[tuple[int, int], Decimal], days: list[date]) -> Decimal | None:
    """The target for a window of local days, from monthly targets keyed by (year, month)."""
    if not metric.cumulative:
        last = days[-1]
        return monthly.get((last.year, last.month))
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
    basis = expected if metric.cumulative else target
    ach = achievement(metric, actual, basis) if (actual is not None and basis is not None) else None
    if metric.cumulative and target is not None and actual is not None and target != 0:
        ach_shown = actual / target
    else:
        ach_shown = ach
    scored = clamp(ach, rules.achievement_cap) if ach is not None else None
    return MetricResult(metric, weight, actual, target, expected, ach_shown, scored)


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


def scorecard(template: Template, activity: Activity, ctx: Context,
              monthly_targets: Mapping[str, Mapping[tuple[int, int], Decimal]], in_trial: bool) -> Scorecard:
    """Score one member's activity in `ctx.window` against monthly targets keyed by metric."""
    elapsed = ctx.window.elapsed_fraction(ctx.now)
    days = ctx.window.days()
    results = []
    for wm in template.metrics:
        metric = CATALOG[wm.key]
        actual = metric.compute(activity, ctx)
        target = window_target(metric, monthly_targets.get(wm.key, {}), days)
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
