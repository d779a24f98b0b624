"""What it takes to land the month (pure): the month-end forecast of the headline metric, the amount needed per
remaining day to reach its target, the distance to the next grade, and yesterday against today. `/mykpi` shows
them under "What to do".

- Days are the member's local calendar days (their own time zone); "today" is the local day of now.
- Month-end forecast (where the pace points): the month so far / the share of the month's usual activity that
  has passed by now (scoring.shape, the same share that sets expected by now, so a member behind pace is never
  forecast above target and one ahead never below it). None (the card says "not yet") while that share is under
  `MIN_SCORED_SHARE` (10 %), the minimum before a score: a forecast on a sliver of the month says nothing. Only
  for a metric that adds up over time.
- Needed per remaining day = (month target - month so far) / the days left including today (on the last day
  of the month: all that is missing, today). None once the target is reached: the card says "target reached".
  Not for a lower-is-better metric or without a positive target.
- Distance to the next grade = the floor of the next higher grade band (the template's bands, else the
  organisation's) minus the score, in score points (one decimal, as the score). None at the top grade or
  without a score.
- Yesterday against today: the headline metric for the local day before today (on the 1st, the previous
  month's last day) and for today so far, both counted as on the card (Counting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from scoring.score import MIN_SCORED_SHARE


@dataclass(frozen=True, slots=True)
class Landing:
    """The month's landing of a cumulative metric as of today."""

    actual: Decimal                 # the month so far
    forecast: Decimal | None        # None before the minimum share of the month
    needed_per_day: Decimal | None  # None when reached, or without a positive target
    reached: bool
    days_left: int                  # local days left including today


def forecast(so_far: Decimal, share: Decimal) -> Decimal | None:
    """Month-end forecast from the month so far and the month's expected share by now; None before the minimum."""
    if share < MIN_SCORED_SHARE:
        return None
    return so_far / share


def needed_per_day(actual: Decimal, target: Decimal | None, days_left: int) -> Decimal | None:
    """What each local day left (including today) must bring to reach `target`; None when reached or no target."""
    if target is None or target <= 0 or actual >= target or days_left <= 0:
        return None
    return (target - actual) / days_left


def landing(cumulative: Sequence[Decimal | None], today_index: int, target: Decimal | None,
            share: Decimal) -> Landing:
    """`share`: of the month's usual activity passed by now (scoring.shape.expected_share)."""
    actual = cumulative[today_index] or Decimal(0)
    days_left = len(cumulative) - today_index
    reached = target is not None and target > 0 and actual >= target
    return Landing(actual, forecast(actual, share), needed_per_day(actual, target, days_left), reached,
                   days_left)


@dataclass(frozen=True, slots=True)
class NextGrade:
    grade: str
    points: Decimal   # score points still missing


def next_grade(score: Decimal | None, bands: Sequence[tuple[str, Decimal]]) -> NextGrade | None:
    """The next higher grade than `score`'s and the points to it; `bands` from the highest floor down."""
    if score is None:
        return None
    above = [(grade, floor) for grade, floor in bands if floor > score]
    if not above:
        return None
    grade, floor = above[-1]
    return NextGrade(grade, floor - score)
