"""Sharing a target out: company -> teams -> members, and a month into weeks (pure).

Definitions (also in docs/metrics.md):
- A cumulative metric's target (GMV, orders, sessions) adds up: the parts of a split sum exactly to the
  whole. Parts are whole multiples of a quantum (a cent of the reporting currency, one order), proportional
  to the weights, by the largest-remainder method: each part is first rounded down, and the quanta left
  over go to the parts with the largest remainders (ties to the earlier part in the given order).
- A level metric's target (a rate, an average) does not add up: every part gets the whole target.
- By weights: the weights given (any positive numbers; 2:1:1 gives 50 %, 25 %, 25 %).
- By last period's share: each part's weight is its actual of the previous month. A part without a
  positive actual (a new member) gets the average weight of those with one; when nobody has one, the
  split is even.
- Weekly split: a month's cumulative target is shared among its calendar weeks (Monday to Sunday, cut at
  the month's ends) in proportion to their days, as scoring.score.window_target measures a week.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TypeVar

from scoring.metrics import Metric, Unit
from scoring.money import minor_unit
from scoring.periods import days_in_month

K = TypeVar("K", bound=Hashable)


class SplitError(ValueError):
    """A split that cannot be made (no parts, a negative weight). `key` names the reason in the message
    catalog (cards.i18n); the text is the English one, for logs and the command line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class AmountError(ValueError):
    """A typed amount that cannot be a target; `key` and `values` name the message (cards.i18n)."""

    def __init__(self, key: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.key, self.values = key, values


def split(total: Decimal, weights: Mapping[K, Decimal], quantum: Decimal) -> dict[K, Decimal]:
    """`total` shared in proportion to `weights`, in whole quanta, summing exactly to `total` rounded to
    the quantum."""
    if not weights:
        raise SplitError("split.nobody", "there is nobody to share the target among")
    if any(w < 0 for w in weights.values()):
        raise SplitError("split.negative", "a weight cannot be negative")
    weight_sum = sum(weights.values(), Decimal(0))
    if weight_sum == 0:
        raise SplitError("split.zero", "the weights are all zero")
    units = int((total / quantum).to_integral_value(rounding=ROUND_FLOOR))
    # exact fractions: equal remainders must compare equal, whatever Decimal's precision would round
    exact = {k: Fraction(units) * Fraction(w) / Fraction(weight_sum) for k, w in weights.items()}
    floors = {k: math.floor(v) for k, v in exact.items()}
    left = units - sum(floors.values())
    order = list(weights)
    by_remainder = sorted(order, key=lambda k: (-(exact[k] - floors[k]), order.index(k)))
    for k in by_remainder[:left]:
        floors[k] += 1
    return {k: floors[k] * quantum for k in order}


def weights_from_last_period(actuals: Mapping[K, Decimal | None]) -> dict[K, Decimal]:
    """Weights for a split by last period's share (see the module's definitions)."""
    known = [v for v in actuals.values() if v is not None and v > 0]
    if not known:
        return dict.fromkeys(actuals, Decimal(1))
    average = sum(known, Decimal(0)) / len(known)
    return {k: v if v is not None and v > 0 else average for k, v in actuals.items()}


def decompose(total: Decimal, weights: Mapping[K, Decimal], quantum: Decimal, cumulative: bool) -> dict[K, Decimal]:
    """A target shared among parts: split when the metric adds up, copied to every part when it does not."""
    if not cumulative:
        if not weights:
            raise SplitError("split.nobody", "there is nobody to share the target among")
        return dict.fromkeys(weights, total)
    return split(total, weights, quantum)


@dataclass(frozen=True, slots=True)
class WeekShare:
    first_day: date
    last_day: date
    value: Decimal

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def month_weeks(year: int, month: int) -> list[tuple[date, date]]:
    """The month's calendar weeks, Monday to Sunday, cut at the month's first and last day."""
    first = date(year, month, 1)
    last = date(year, month, days_in_month(first))
    weeks, start = [], first
    while start <= last:
        end = min(start + timedelta(days=6 - start.weekday()), last)
        weeks.append((start, end))
        start = end + timedelta(days=1)
    return weeks


def weekly_split(total: Decimal, year: int, month: int, quantum: Decimal, cumulative: bool = True) -> list[WeekShare]:
    weeks = month_weeks(year, month)
    parts = decompose(total, {w: Decimal((w[1] - w[0]).days + 1) for w in weeks}, quantum, cumulative)
    return [WeekShare(first, last, parts[(first, last)]) for first, last in weeks]


MAX_AMOUNT = Decimal(10) ** 15   # beyond any real target; keeps arithmetic exact
_SUFFIXES = {"k": Decimal(1000), "m": Decimal(1_000_000), "w": Decimal(10_000), "万": Decimal(10_000),
             "千": Decimal(1000), "百万": Decimal(1_000_000)}


def quantum(metric: Metric, currency: str) -> Decimal:
    """The smallest step of a target: a cent of the reporting currency, one order, 0.01 % of a rate."""
    if metric.unit is Unit.MONEY:
        return minor_unit(currency)
    return {Unit.COUNT: Decimal(1), Unit.RATIO: Decimal("0.0001")}.get(metric.unit, Decimal("0.1"))


def rounded(value: Decimal, step: Decimal) -> Decimal:
    """A target as it is stored: whole steps (cents, orders), half up, so that its split adds up to it."""
    return value.quantize(step, rounding=ROUND_HALF_UP)


def parse_amount(text: str, ratio: bool) -> Decimal:
    """A target as people type it: "120000", "120,000", "120k", "1.2m", "12万", "1.5w"; for a rate "8%" or
    "0.08" (a bare number above 1 is refused for a rate: "8" is far more likely 8 % than 800 %)."""
    raw = text.strip().replace(",", "").replace("_", "").lower()
    scale = Decimal(1)
    if raw.endswith("%"):
        raw, scale = raw[:-1], Decimal("0.01")
    else:
        for suffix in sorted(_SUFFIXES, key=len, reverse=True):
            if raw.endswith(suffix):
                raw, scale = raw[: -len(suffix)], _SUFFIXES[suffix]
                break
    if scale == Decimal("0.01") and not ratio:
        raise AmountError("amount.percent", f"{text!r}: a percentage is for a rate, this is an amount", text=text)
    try:
        value = Decimal(raw) * scale
    except ArithmeticError:
        raise AmountError("amount.not_number", f"{text!r} is not a number", text=text) from None
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        raise AmountError("amount.range", f"{text!r} is not a number from 0 to {MAX_AMOUNT:,}", text=text,
                          most=f"{MAX_AMOUNT:,}")
    if ratio and scale == 1 and value > 1:
        raise AmountError("amount.rate", f"{text!r} for a rate: write it as a percentage, e.g. {raw}%", text=text,
                          example=f"{raw}%")
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value
