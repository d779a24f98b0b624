"""Currency conversion at the day's rate.

A rate row says: on `day`, 1 `base` = `rate` `quote`. For a conversion on a day the table looks for the
latest rate on or before that day by three routes: the pair as stored, the inverse of the opposite pair,
and a cross through a third currency. The freshest route wins (the stored pair on a tie, then the inverse),
so a stale direct rate never beats a current cross rate. A rate older than `max_age_days` is refused rather
than used: a wrong amount is worse than a clear error.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

MAX_AGE_DAYS = 31


class MissingRate(LookupError):
    """No usable rate for a pair on a day; the message names both."""


@dataclass(frozen=True, slots=True)
class FxRate:
    day: date
    base: str
    quote: str
    rate: Decimal


class FxTable:
    """Rates by pair; each lookup is O(log n), and answers are memoised."""

    def __init__(self, rates: list[FxRate] | tuple[FxRate, ...] = (), max_age_days: int = MAX_AGE_DAYS) -> None:
        series: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
        for r in sorted(rates, key=lambda r: (r.day, r.base, r.quote)):
            if not r.rate.is_finite() or r.rate <= 0:
                raise ValueError(f"FX rate {r.base}->{r.quote} on {r.day} must be a positive number")
            series[(r.base, r.quote)][r.day] = r.rate   # the last row for a day wins: deterministic
        self._days = {pair: sorted(points) for pair, points in series.items()}
        self._series = series
        self._currencies = sorted({c for pair in series for c in pair})
        self._max_age = timedelta(days=max_age_days)
        self._memo: dict[tuple[str, str, date], Decimal] = {}

    def _stored(self, base: str, quote: str, day: date) -> tuple[date, Decimal] | None:
        days = self._days.get((base, quote))
        if not days:
            return None
        i = bisect.bisect_right(days, day) - 1
        return (days[i], self._series[(base, quote)][days[i]]) if i >= 0 else None

    def _one_leg(self, base: str, quote: str, day: date) -> tuple[date, Decimal] | None:
        """Stored pair or inverse, whichever is fresher (stored on a tie)."""
        direct = self._stored(base, quote, day)
        inverse = self._stored(quote, base, day)
        if inverse is not None and (direct is None or inverse[0] > direct[0]):
            return inverse[0], Decimal(1) / inverse[1]
        return direct

    def rate(self, base: str, quote: str, day: date) -> Decimal:
        """How many `quote` one `base` buys on `day`."""
        if base == quote:
            return Decimal(1)
        key = (base, quote, day)
        if key not in self._memo:
            self._memo[key] = self._lookup(base, quote, day)
        return self._memo[key]

    def _lookup(self, base: str, quote: str, day: date) -> Decimal:
        best = self._one_leg(base, quote, day)
        for pivot in self._currencies:
            if pivot in (base, quote):
                continue
            a, b = self._one_leg(base, pivot, day), self._one_leg(pivot, quote, day)
            if a is not None and b is not None:
                as_of = min(a[0], b[0])
                if best is None or as_of > best[0]:
                    best = (as_of, a[1] * b[1])
        if best is None:
            raise MissingRate(f"no {base}->{quote} exchange rate on or before {day.isoformat()}")
        if day - best[0] > self._max_age:
            raise MissingRate(f"the newest {base}->{quote} exchange rate for {day.isoformat()} is from "
                              f"{best[0].isoformat()}, more than {self._max_age.days} days old")
        return best[1]

    def convert(self, amount: Decimal, currency: str, to: str, day: date) -> Decimal:
        return amount * self.rate(currency, to, day)
