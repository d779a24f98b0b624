"""Pace: how far a cumulative metric is along the way it should have come by now, and whether that is ahead,
on pace or behind (pure). Every card, the digest, /team, the lag alerts and `kpibot kpi` word pace from here.

- Pace = actual / expected by now, where expected by now = the window's target x the share of the window's
  usual activity that has passed (scoring.shape; scoring.score). It is shown as a whole percent *of pace*:
  "94% of pace" means the member has 94 % of what they should have by now (6 % short), never "94 % behind".
- The figure shown is pace x 100 rounded half-up to a whole percent, and the status is decided on that shown
  figure, never on the unrounded value: behind when the shown percent is below 95, ahead from 105, on pace in
  between. So a card can never show "95% of pace · behind": 94.9 % shows as 95 % and is on pace; 94.4 % shows
  as 94 % and is behind.
- Nothing expected yet is "no pace yet", never behind: while expected by now is under 1 % of the window's
  target (`MIN_EXPECTED_SHARE`; with the clock-time fallback the first ~7 hours of a month, ~100 minutes of a
  week, ~14 minutes of a day), a pace measured on a sliver of time says nothing, and an expected amount that
  shows as 0.00 must not make anyone behind; nor may a count while less than one is expected (0 of 0.3 videos
  is no shortfall). A metric that is not cumulative, or has no target or no actual,
  has no pace.
- Worded one way everywhere (cards.kpi_cards.pace_text): "94% of pace · behind", "118% of pace · ahead",
  "95% of pace · on pace" (en); "进度 94%（落后）" (zh); "94% dari laju · tertinggal" (id); "no pace yet (too
  early to judge)". /team and the digest mark a member behind from the pace their row shows; only a headline
  without a pace (a level metric, no target) falls back to grade C or D.
- Lag alerts (scoring.alerts) compare the same shown figure with their own margin, and only nudge a member
  whose card says behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

BEHIND_BELOW = 95   # shown percent below this: behind
AHEAD_FROM = 105    # shown percent from this: ahead
MIN_EXPECTED_SHARE = Decimal("0.01")   # of the window's target expected by now, before a pace is judged


class PaceStatus(StrEnum):
    AHEAD = "ahead"
    ON_PACE = "on_pace"
    BEHIND = "behind"
    NOT_YET = "not_yet"   # nothing expected yet: no pace to judge


@dataclass(frozen=True, slots=True)
class Pace:
    percent: int | None   # the whole percent shown; None when nothing is expected yet
    status: PaceStatus


def shown_percent(ratio: Decimal) -> int:
    """A pace ratio as the whole percent cards show (half-up, as cards.format.percent)."""
    return int((ratio * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def status_of(percent: int, behind_below: int = BEHIND_BELOW, ahead_from: int = AHEAD_FROM) -> PaceStatus:
    """The status of a shown whole percent."""
    if percent >= ahead_from:
        return PaceStatus.AHEAD
    return PaceStatus.BEHIND if percent < behind_below else PaceStatus.ON_PACE


def too_early(expected: Decimal, target: Decimal, least: Decimal = Decimal(0)) -> bool:
    """Nothing to judge yet: less than `MIN_EXPECTED_SHARE` of the target expected by now, or less than `least`
    (1 for a count). The one test "no pace yet" on a card and "not scored yet" in a score both use."""
    return expected < target * MIN_EXPECTED_SHARE or expected < least


def pace_of(actual: Decimal | None, expected: Decimal | None, target: Decimal | None,
            cumulative: bool = True, least: Decimal = Decimal(0)) -> Pace | None:
    """The pace of a metric: None when it has none (not cumulative, no positive target, no actual); "no pace yet"
    while less than `MIN_EXPECTED_SHARE` of its target is expected by now, or less than `least` (1 for a count:
    "0 of 0.3 videos expected" is no shortfall)."""
    if not cumulative or target is None or target <= 0 or actual is None or expected is None:
        return None
    if too_early(expected, target, least):
        return Pace(None, PaceStatus.NOT_YET)
    percent = shown_percent(actual / expected)
    return Pace(percent, status_of(percent))
