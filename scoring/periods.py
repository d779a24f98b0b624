"""Reporting windows (day, ISO week, month) in a stated time zone, and which zone a member's periods are in.

A window is a half-open interval [start, end) of aware datetimes. `elapsed_fraction` says how much of
it has passed at `now`; pace compares the actual against the target times that fraction.

A member's period (period_zone): a member's day, week and month are the calendar day, ISO week and month in
their team's time zone; a member without a team uses their own. Every view (/mykpi, /team, /rank, the digest,
`kpibot kpi`, commission, snapshots, targets) scores a member on that one window, so one person has one number
per period, and a team's members, whose figures add up to the team's, share the team's calendar. The member's
own zone decides only when kpibot talks to them (send times, quiet hours); times on a card are shown in the
zone its days are counted in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YESTERDAY = "yesterday"   # the local day before today: a window of kind DAY


@dataclass(frozen=True)
class Window:
    kind: PeriodKind
    first_day: date   # first local calendar day in the window
    last_day: date    # last local calendar day in the window (inclusive)
    tz: str

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @cached_property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), self.zone)

    @cached_property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(), self.zone)

    @cached_property
    def _utc_bounds(self) -> tuple[datetime, datetime]:
        return self.start.astimezone(UTC), self.end.astimezone(UTC)

    def days(self) -> tuple[date, ...]:
        return self._days

    @cached_property
    def _days(self) -> tuple[date, ...]:
        return tuple(self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1))

    def contains(self, moment: datetime) -> bool:
        start, end = self._utc_bounds
        return start <= moment < end

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def elapsed_fraction(self, now: datetime) -> Decimal:
        """Share of the window's length that has passed at `now`, in [0, 1].

        Measured in real elapsed seconds, so a 23-hour daylight-saving day counts as it is lived.
        """
        # Subtract in UTC: Python subtracts aware datetimes of the same zone by wall clock, ignoring DST.
        start, end = self._utc_bounds
        total = Decimal((end - start).total_seconds())
        passed = Decimal((min(max(now.astimezone(UTC), start), end) - start).total_seconds())
        return passed / total

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.MONTH:
            return self.first_day.strftime("%Y-%m")
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}"
        return self.first_day.isoformat()


def is_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows. The one check every set-up path uses (config,
    org, teams, members import, CLI options); "Asia" is a folder of zones, so ZoneInfo raises IsADirectoryError
    (an OSError) for it, and "../x" a ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def period_zone(own_zone: str, team_zone: str | None) -> str:
    """The zone a member's periods are counted in: their team's, else their own (see the module docstring)."""
    return team_zone or own_zone


def local_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def window_for(kind: PeriodKind, now: datetime, tz: str) -> Window:
    """The day, ISO week (Monday to Sunday) or calendar month that contains `now` in `tz`; for YESTERDAY the
    day before that day in `tz` (at 00:10 on the 1st, the previous month's last day), a window of kind DAY."""
    today = local_today(now, tz)
    if kind is PeriodKind.DAY:
        return Window(kind, today, today, tz)
    if kind is PeriodKind.YESTERDAY:
        day = today - timedelta(days=1)
        return Window(PeriodKind.DAY, day, day, tz)
    if kind is PeriodKind.WEEK:
        monday = today - timedelta(days=today.weekday())
        return Window(kind, monday, monday + timedelta(days=6), tz)
    return month_window(today.year, today.month, tz)


@lru_cache(maxsize=1024)
def month_window(year: int, month: int, tz: str) -> Window:
    """The calendar month in `tz`: one Window per month and zone, shared (it is immutable), so what it works out
    once (its bounds, its days, its zone) is worked out once for every member scored on it."""
    last = calendar.monthrange(year, month)[1]
    return Window(PeriodKind.MONTH, date(year, month, 1), date(year, month, last), tz)


def parse_month(text: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); ValueError with a clear message otherwise."""
    try:
        year_s, month_s = text.split("-")
        year, month = int(year_s), int(month_s)
        if len(year_s) != 4 or not 1970 <= year <= 9998 or not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        raise ValueError(f"period must look like YYYY-MM (1970-9998), got {text!r}") from None
    return year, month


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]
