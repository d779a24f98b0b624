"""Currency conversion at the day's rate.

A rate row says: on `day`, 1 `base` = `rate` `quote`. For a conversion on a day the table looks for the
latest rate on or before that day by three routes: the pair as stored, the inverse of the opposite pair,
and a cross through a third currency. The freshest route wins (the stored pair on a tie, then the inverse),
so a stale direct rate never beats a current cross rate.

A day without a rate uses the latest earlier one, however old: the European Central Bank publishes no rate on
weekends and holidays, and a feed that stops must not fail every card a month later. A rate older than
`stale_after_days` is still used but remembered in `stale` (pair -> the oldest rate day used), so a card can say
from which date its rates are. Rates are stored as published (the ECB's are EUR-based: 1 EUR = rate X); any
other pair, e.g. USD->IDR, is a cross rate through EUR, computed with one exact Decimal division
(EUR->IDR / EUR->USD), never with floats.

A pair with no rate at all raises MissingRate; with `skip_missing` `convert` leaves the amount out instead
(returns 0) and remembers the pair in `missing`, so one currency without rates never fails a whole card.
The table stays pure: it only records what it was asked.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

STALE_AFTER_DAYS = 4   # Friday's rate on Tuesday after a holiday Monday is normal; older is worth a note


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

    def __init__(self, rates: list[FxRate] | tuple[FxRate, ...] = (), stale_after_days: int = STALE_AFTER_DAYS,
                 skip_missing: bool = False) -> None:
        series: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
        for r in sorted(rates, key=lambda r: (r.day, r.base, r.quote)):
            if not r.rate.is_finite() or r.rate <= 0:
                raise ValueError(f"FX rate {r.base}->{r.quote} on {r.day} must be a positive number")
            series[(r.base, r.quote)][r.day] = r.rate   # the last row for a day wins: deterministic
        self._days = {pair: sorted(points) for pair, points in series.items()}
        self._series = series
        self._currencies = sorted({c for pair in series for c in pair})
        self._stale_after = timedelta(days=stale_after_days)
        self._skip_missing = skip_missing
        self._memo: dict[tuple[str, str, date], Decimal] = {}
        self.stale: dict[tuple[str, str], date] = {}     # pair -> oldest rate day used beyond stale_after_days
        self.missing: dict[tuple[str, str], date] = {}   # pair -> first day asked that had no rate at all

    def _stored(self, base: str, quote: str, day: date) -> tuple[date, Decimal] | None:
        days = self._days.get((base, quote))
        if not days:
            return None
        i = bisect.bisect_right(days, day) - 1
        return (days[i], self._series[(base, quote)][days[i]]) if i >= 0 else None

    def _one_leg(self, base: str, quote: str, day: date) -> tuple[date, Decimal, Decimal] | None:
        """Stored pair or inverse, whichever is fresher (stored on a tie), as (day, numerator, denominator):
        the division is left to the end so a cross of two inverses is still one exact division."""
        direct = self._stored(base, quote, day)
        inverse = self._stored(quote, base, day)
        if inverse is not None and (direct is None or inverse[0] > direct[0]):
            return inverse[0], Decimal(1), inverse[1]
        return (direct[0], direct[1], Decimal(1)) if direct is not None else None

    def rate(self, base: str, quote: str, day: date) -> Decimal:
        """How many `quote` one `base` buys on `day`."""
        if base == quote:
            return Decimal(1)
        key = (base, quote, day)
        if key not in self._memo:
            self._memo[key] = self._lookup(base, quote, day)
        return self._memo[key]

    def as_of(self, base: str, quote: str, day: date) -> date | None:
        """The day of the rate `rate` would use for the pair on `day` (the freshest route's; `day` itself for a
        currency to itself); None: no rate at all. Asking records nothing in `stale` or `missing`."""
        if base == quote:
            return day
        best = self._best(base, quote, day)
        return None if best is None else best[0]

    def _best(self, base: str, quote: str, day: date) -> tuple[date, Decimal, Decimal] | None:
        """The freshest route: the pair as stored or inverted, else a cross through a third currency."""
        best = self._one_leg(base, quote, day)
        for pivot in self._currencies:
            if pivot in (base, quote):
                continue
            a, b = self._one_leg(base, pivot, day), self._one_leg(pivot, quote, day)
            if a is not None and b is not None:
                as_of = min(a[0], b[0])
                if best is None or as_of > best[0]:
                    best = (as_of, a[1] * b[1], a[2] * b[2])
        return best

    def _lookup(self, base: str, quote: str, day: date) -> Decimal:
        best = self._best(base, quote, day)
        if best is None:
            raise MissingRate(f"no {base}->{quote} exchange rate on or before {day.isoformat()}")
        as_of, num, den = best
        if day - as_of > self._stale_after:
            pair = (base, quote)
            self.stale[pair] = min(as_of, self.stale.get(pair, as_of))
        return num if den == 1 else num / den

    def convert(self, amount: Decimal, currency: str, to: str, day: date) -> Decimal:
        """`amount` in `to`; with `skip_missing` an amount whose pair has no rate at all is left out (0)."""
        return amount * self.factor(currency, to, day)

    def factor(self, base: str, quote: str, day: date) -> Decimal:
        """`rate`, except that with `skip_missing` a pair with no rate at all gives 0 and is remembered in
        `missing` (its amounts are left out; the order itself still counts)."""
        try:
            return self.rate(base, quote, day)
        except MissingRate:
            if not self._skip_missing:
                raise
            self.missing.setdefault((base, quote), day)
            return Decimal(0)
