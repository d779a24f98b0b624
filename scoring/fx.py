"""Currency conversion at the day's rate.

A rate row says: on `day`, 1 `base` = `rate` `quote`. Conversion looks for the rate of the day or, when
that day has none (weekends, holidays), the latest earlier one. It tries the direct pair, then the
inverse, then a cross through any currency both sides are quoted against on that day.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


class MissingRate(LookupError):
    """No rate on or before the day for a pair that needs converting."""


@dataclass(frozen=True, slots=True)
class FxRate:
    day: date
    base: str
    quote: str
    rate: Decimal


class FxTable:
    """Rates indexed by pair; lookups are O(log n) per conversion."""

    def __init__(self, rates: list[FxRate] | tuple[FxRate, ...] = ()) -> None:
        series: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
        for r in rates:
            if r.rate <= 0:
                raise ValueError(f"FX rate {r.base}->{r.quote} on {r.day} must be positive")
            series[(r.base, r.quote)].append((r.day, r.rate))
            series[(r.quote, r.base)].append((r.day, Decimal(1) / r.rate))
        self._days: dict[tuple[str, str], list[date]] = {}
        self._rates: dict[tuple[str, str], list[Decimal]] = {}
        for pair, points in series.items():
            points.sort(key=lambda p: p[0])
            self._days[pair] = [p[0] for p in points]
            self._rates[pair] = [p[1] for p in points]
        self._currencies = {c for pair in series for c in pair}
        self._memo: dict[tuple[str, str, date], Decimal] = {}

    def _on_or_before(self, base: str, quote: str, day: date) -> Decimal | None:
        days = self._days.get((base, quote))
        if not days:
            return None
        i = bisect.bisect_right(days, day) - 1
        return self._rates[(base, quote)][i] if i >= 0 else None

    def rate(self, base: str, quote: str, day: date) -> Decimal:
        """How many `quote` one `base` buys on `day`."""
        if base == quote:
            return Decimal(1)
        key = (base, quote, day)
        if key not in self._memo:
            self._memo[key] = self._lookup(base, quote, day)
        return self._memo[key]

    def _lookup(self, base: str, quote: str, day: date) -> Decimal:
        direct = self._on_or_before(base, quote, day)
        if direct is not None:
            return direct
        for pivot in sorted(self._currencies - {base, quote}):
            a = self._on_or_before(base, pivot, day)
            b = self._on_or_before(pivot, quote, day)
            if a is not None and b is not None:
                return a * b
        raise MissingRate(f"no {base}->{quote} rate on or before {day.isoformat()}")

    def convert(self, amount: Decimal, currency: str, to: str, day: date) -> Decimal:
        return amount * self.rate(currency, to, day)
