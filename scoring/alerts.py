"""When a member is behind enough to be nudged: the rules of lag alerts (pure).

A member is lagging when their headline metric's pace (actual against target times the share of the month
gone, scoring.score), as the card shows it (the whole percent of scoring.pace), is below 1 - `behind_margin`
and the card says behind, from day `from_day` of the month on (early in a month a single day swings the pace
too much to mean anything). Alerts go out at `at`, local to the member, never in
the quiet hours [quiet_start, quiet_end), which may wrap midnight ("22:00"-"08:00").

A lead's summary of day D covers every member of the team, each judged as at their own alert time on their
own local day D (the moment their nudge was due). It waits until the last of those moments has passed, and
never goes out before the lead's own alert time on D, so every member's day D is judgeable when it is sent; a
moment inside the lead's quiet hours (in the lead's zone) moves to the end of them. It is due from that moment
until the next day's summary is due, and never while the lead's quiet hours last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from scoring.pace import Pace, PaceStatus
from scoring.sendtime import send_moment


@dataclass(frozen=True)
class AlertRules:
    enabled: bool = True
    behind_margin: Decimal = Decimal("0.10")
    from_day: int = 5
    at: time = time(18, 0)
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)


def is_lagging(pace: Pace | None, day: date, rules: AlertRules) -> bool:
    """Judged on the pace as the member's own card shows it (MetricResult.pace_shown), so a nudge never
    contradicts the card: never while it says "no pace yet", only when it says behind by more than the margin."""
    if pace is None or pace.percent is None or day.day < rules.from_day:
        return False
    return pace.status is PaceStatus.BEHIND and pace.percent < (1 - rules.behind_margin) * 100


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


def allowed_from(moment: datetime, tz: str, rules: AlertRules) -> datetime:
    """`moment`, or the end of the quiet hours in `tz` it falls in (the next allowed moment)."""
    local = moment.astimezone(ZoneInfo(tz))
    if not in_quiet_hours(local.time(), rules):
        return moment
    day = local.date() if local.time() < rules.quiet_end else local.date() + timedelta(days=1)
    return send_moment(day, rules.quiet_end, tz)


def summary_moment(day: date, lead_tz: str, member_tzs: Iterable[str], rules: AlertRules) -> datetime:
    """When the lead's summary of `day` is due: the latest of the lead's and every member's alert time on
    their own local `day`, moved out of the lead's quiet hours."""
    latest = max(send_moment(day, rules.at, tz) for tz in {lead_tz, *member_tzs})
    return allowed_from(latest, lead_tz, rules)


def summary_due_day(now: datetime, lead_tz: str, member_tzs: Iterable[str], rules: AlertRules) -> date | None:
    """The day whose summary is due at `now`: its moment has passed and the next day's has not, and `now` is
    outside the lead's quiet hours. Zones are at most 26 hours apart and quiet hours last less than a day, so
    the day is at most three days before the lead's today."""
    if in_quiet_hours(now.astimezone(ZoneInfo(lead_tz)).time(), rules):
        return None
    zones = set(member_tzs)
    today = now.astimezone(ZoneInfo(lead_tz)).date()
    for back in range(4):
        day = today - timedelta(days=back)
        if summary_moment(day, lead_tz, zones, rules) <= now < summary_moment(day + timedelta(days=1), lead_tz,
                                                                             zones, rules):
            return day
    return None
