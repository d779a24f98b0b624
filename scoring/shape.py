"""Pace shape (pure): how a team's activity is usually spread over the hours of a day and the days of a week,
learned from its own history, so that "expected by now" follows the team's real rhythm (an evening live
streamer is not behind at 09:23) instead of minutes since midnight.

- Learned from the counting moments of the team's counted orders (scoring.metrics) in the `HISTORY_DAYS` (56)
  local days before today, today excluded: each order adds one to its local hour of day (24 shares) and to its
  weekday (7 shares); both are normalised to sum to 1.
- Fallback: with fewer than `MIN_HISTORY_DAYS` (14) local days with an order, or fewer than
  `MIN_HISTORY_ORDERS` (100) orders, there is no shape and expected by now is the share of the window's clock
  time that has passed (scoring.periods.Window.elapsed_fraction), as before.
- Share of a day by now: the hour shares of the day's real hours up to now, the current hour counted by the
  part of it that has passed; normalised over the hours that exist that day, so a 23- or 25-hour daylight-
  saving day still sums to 1 (a local hour lived twice shares its weight between both).
- Share of a week or month by now: each day of the window weighs its weekday's share, normalised over the
  window's days (equal weights when they all weigh 0); the share by now is the sum of each day's weight times
  its share by now (1 for a past day, 0 for a day to come).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from scoring.periods import PeriodKind, Window

HISTORY_DAYS = 56          # 8 weeks of history before today
MIN_HISTORY_DAYS = 14      # local days with at least one order, else the linear fallback
MIN_HISTORY_ORDERS = 100   # orders in the history, else the linear fallback
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PaceShape:
    hours: tuple[Decimal, ...]      # 24 shares by local hour of day, summing to 1
    weekdays: tuple[Decimal, ...]   # 7 shares, Monday first, summing to 1


def learn_shape(moments: Iterable[datetime], tz: str) -> PaceShape | None:
    """The shape of the counting moments `moments` (the caller passes the history window's) in zone `tz`; None
    (linear fallback) when the history is too thin."""
    return learn_shape_counted(((m, 1) for m in moments), tz)


def learn_shape_counted(counted: Iterable[tuple[datetime, int]], tz: str) -> PaceShape | None:
    """learn_shape of (moment, orders at it) pairs: the store's sums by quarter-hour (every zone's hours start on
    one)."""
    zone = ZoneInfo(tz)
    hours = [0] * 24
    weekdays = [0] * 7
    days: set[date] = set()
    for moment, n in counted:
        local = moment.astimezone(zone)
        hours[local.hour] += n
        weekdays[local.weekday()] += n
        days.add(local.date())
    total = sum(hours)
    if total < MIN_HISTORY_ORDERS or len(days) < MIN_HISTORY_DAYS:
        return None
    return PaceShape(tuple(Decimal(h) / total for h in hours), tuple(Decimal(w) / total for w in weekdays))


def history_bounds(today: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the `HISTORY_DAYS` local days before `today` in `tz`."""
    zone = ZoneInfo(tz)
    return (datetime.combine(today - timedelta(days=HISTORY_DAYS), time(), zone),
            datetime.combine(today, time(), zone))


def _day_hours(day: date, zone: ZoneInfo, shape: PaceShape) -> list[tuple[datetime, Decimal]]:
    """The real hours of local `day` (UTC start, weight), weights normalised to sum to 1."""
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    starts = []
    moment = start
    while moment < end:
        starts.append(moment)
        moment += _HOUR
    local_hours = [s.astimezone(zone).hour for s in starts]
    weights = [shape.hours[h] / local_hours.count(h) for h in local_hours]
    total = sum(weights, Decimal(0))
    if total == 0:   # no history in any hour that exists today: spread evenly
        return [(s, Decimal(1) / len(starts)) for s in starts]
    return [(s, w / total) for s, w in zip(starts, weights, strict=True)]


def day_share(day: date, now: datetime, zone: ZoneInfo, shape: PaceShape) -> Decimal:
    """Share of local `day`'s usual activity that has passed at `now`, in [0, 1]."""
    now_utc = now.astimezone(UTC)
    share = Decimal(0)
    for start, weight in _day_hours(day, zone, shape):
        if now_utc >= start + _HOUR:
            share += weight
        elif now_utc > start:
            share += weight * Decimal((now_utc - start).total_seconds()) / 3600
    return min(share, Decimal(1))


@lru_cache(maxsize=4096)
def expected_share(window: Window, now: datetime, shape: PaceShape | None) -> Decimal:
    """Share of `window`'s usual activity that has passed at `now`, in [0, 1]; without a shape the share of its
    clock time (the fallback). Remembered (pure; every value hashable): a team's members share their window, `now`
    and shape, and a score asks it once per metric, so a run scoring a team works it out once, not hundreds of
    times."""
    return _expected_share(window, now, shape)


def _expected_share(window: Window, now: datetime, shape: PaceShape | None) -> Decimal:
    if shape is None:
        return window.elapsed_fraction(now)
    if now.astimezone(UTC) >= window.end.astimezone(UTC):
        return Decimal(1)
    if now.astimezone(UTC) <= window.start.astimezone(UTC):
        return Decimal(0)
    if window.kind is PeriodKind.DAY:
        return day_share(window.first_day, now, window.zone, shape)
    days = window.days()
    weights = [shape.weekdays[d.weekday()] for d in days]
    total = sum(weights, Decimal(0))
    if total == 0:
        weights, total = [Decimal(1)] * len(days), Decimal(len(days))
    today = window.local_day(now)
    share = Decimal(0)
    for day, weight in zip(days, weights, strict=True):
        if day < today:
            share += weight
        elif day == today:
            share += weight * day_share(day, now, window.zone, shape)
    return min(share / total, Decimal(1))


def moment_reaching(window: Window, share: Decimal, shape: PaceShape | None) -> datetime | None:
    """The first moment (to the minute, rounded up) at which `window`'s expected share reaches `share`; None
    when it never does."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    low, high = 0, int((end - start).total_seconds() // 60)
    if _expected_share(window, end, shape) < share:
        return None
    while low < high:   # expected_share grows with time: bisect on whole minutes (not remembered: asked once each)
        mid = (low + high) // 2
        if _expected_share(window, start + timedelta(minutes=mid), shape) >= share:
            high = mid
        else:
            low = mid + 1
    return start + timedelta(minutes=low)
