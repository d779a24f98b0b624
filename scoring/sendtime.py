"""When a scheduled message (a team's digest, a weekly report, a lag alert) is due, in the team's own zone.

A subscription says "send at HH:MM local". The moment is the local wall-clock time on that local day, so
it follows daylight saving: 09:00 in America/Los_Angeles is 17:00 UTC in winter and 16:00 UTC in summer.
On the two days a year where the wall clock jumps:
- a time that does not exist (spring forward: 02:30 on the second Sunday of March in Los Angeles) is read
  with the offset before the jump, so it is sent when the clock shows 03:30, one real hour after 01:30;
- a time that happens twice (fall back: 01:30 on the first Sunday of November) is sent the first time.
A message is due from its moment until the end of that local day, so one missed while the bot was down
goes out on recovery if it is still the same day there, and never on a later day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def parse_hhmm(text: str) -> time:
    """"09:30" -> time(9, 30); ValueError for anything else."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f'not a time of day "HH:MM": {text!r}')
    return time(int(hours), int(minutes))


def send_moment(day: date, at: time, tz: str) -> datetime:
    """The UTC moment of local time `at` on local `day` (fold 0: the first of a repeated time, the offset
    before the jump for a skipped one)."""
    return datetime.combine(day, at, ZoneInfo(tz)).astimezone(UTC)


def due_day(now: datetime, at: time, tz: str) -> date | None:
    """The local day whose send time has passed at `now`, if `now` is still that local day; else None."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return today if now >= send_moment(today, at, tz) else None
