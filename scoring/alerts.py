"""When a member is behind enough to be nudged: the rules of lag alerts (pure).

A member is lagging when their headline metric's pace (actual against target times the share of the month
gone, scoring.score), as the card shows it (the whole percent of scoring.pace), is below 1 - `behind_margin`
and the card says behind, from day `from_day` of the month on (early in a month a single day swings the pace
too much to mean anything). Alerts go out at `at`, local to the member, never in
the quiet hours [quiet_start, quiet_end), which may wrap midnight ("22:00"-"08:00").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal

from scoring.pace import PaceStatus, shown_percent, status_of


@dataclass(frozen=True)
class AlertRules:
    enabled: bool = True
    behind_margin: Decimal = Decimal("0.10")
    from_day: int = 5
    at: time = time(18, 0)
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)


def is_lagging(pace: Decimal | None, day: date, rules: AlertRules) -> bool:
    """Judged on the shown percent, so a nudge never contradicts the pace on the member's own card."""
    if pace is None or day.day < rules.from_day:
        return False
    shown = shown_percent(pace)
    return status_of(shown) is PaceStatus.BEHIND and shown < (1 - rules.behind_margin) * 100


def in_quiet_hours(local: time, rules: AlertRules) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def days_left(day: date, last_day: date) -> int:
    """Local days left in the period, today included."""
    return (last_day - day).days + 1
