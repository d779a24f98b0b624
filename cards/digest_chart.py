"""A team lead's daily-digest chart: team progress over the month, then each member's achievement.

One portrait PNG with two stacked panels:

1. the team's cumulative actual so far against a linear cumulative target line;
2. one horizontal bar per member (pace in percent: actual against what was expected by now), laggards in a
   warning colour, with a reference line at 100 % (on pace); a member without a pace gets a note, no bar.

The drawing is in cards.digest_drawing, which imports matplotlib, and is imported when the first digest
chart is drawn (see cards.charts).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from cards.charts import FONT_FAMILY, _ensure_font, _render_lock
from cards.format import percent

__all__ = ["DigestChart", "digest_chart_key", "digest_chart_size", "render_digest_chart"]

# Bump when the drawing changes so cached images keyed by digest_chart_key() expire.
_RENDER_VERSION = 2

_DPI = 100
_WIDTH_IN = 7.2  # -> 720 px wide, like ProgressChart

# Vertical layout, in inches from the top of the figure.
_TOP_PAD_IN = 0.14
_TITLE_IN = 0.42  # title line
_KEY_IN = 0.42  # unit label (left) and legend (right), above the top panel
_LINE_PANEL_IN = 2.35  # top panel
_DAYS_IN = 0.34  # day labels under the top panel
_BAR_HEADER_IN = 0.64  # gap, bottom panel title, "100%" above the reference line
_BOTTOM_PAD_IN = 0.16
_MIN_ROWS = 4  # a team of one still gets a sensibly sized bottom panel


@dataclass(frozen=True)
class DigestChart:
    """Team cumulative progress plus per-member achievement, for a lead's daily digest."""

    title: str  # e.g. "Team North 北区 · 2026-11"
    day_labels: tuple[str, ...]  # one per day of the month: ("1", ..., "30")
    cumulative: tuple[float | None, ...]  # team cumulative actual per day; None = not reached yet
    target_total: float | None  # full-month team target; None = no target (no target line)
    unit: str  # "USD"
    members: tuple[tuple[str, float | None, bool], ...]  # (name, pace ratio 1.0 = on pace, lagging)
    actual_label: str = "Actual"
    target_label: str = "Target"
    achievement_label: str = "Pace"  # bottom panel title, already translated ("进度")
    notes: tuple[str, ...] = ()  # per member, shown instead of a bar when its ratio is None ("no pace yet"); "—"

    def __post_init__(self) -> None:
        """Validate that there is one value per day and three fields per member."""
        if not self.day_labels:
            raise ValueError("DigestChart needs at least one day label")
        if len(self.cumulative) != len(self.day_labels):
            got, want = len(self.cumulative), len(self.day_labels)
            raise ValueError(f"cumulative has {got} values but {want} day labels")
        for index, member in enumerate(self.members):
            if len(member) != 3:
                raise ValueError(f"member {index} has {len(member)} fields, expected (name, ratio, lagging)")
        if self.notes and len(self.notes) != len(self.members):
            raise ValueError(f"{len(self.notes)} notes for {len(self.members)} members")

    def note(self, index: int) -> str:
        """What member *index* shows without a ratio: its note, else a dash."""
        return (self.notes[index] if self.notes else "") or "—"


def _num(value: float | None) -> float | None:
    """5 == 5.0 and -0.0 == 0.0 alike; NaN and infinities count as no value."""
    if value is None:
        return None
    number = float(value) + 0.0
    return number if math.isfinite(number) else None


def digest_chart_key(chart: DigestChart) -> str:
    """Stable sha256 hex of the chart's content (for image caching)."""
    payload = {
        "kind": "digest",  # never the key of a ProgressChart, whatever the content
        "v": _RENDER_VERSION,
        "title": chart.title,
        "day_labels": list(chart.day_labels),
        "cumulative": [_num(v) for v in chart.cumulative],
        "target_total": _num(chart.target_total),
        "unit": chart.unit,
        "members": [[name, _num(ratio), bool(lagging)] for name, ratio, lagging in chart.members],
        "actual_label": chart.actual_label,
        "target_label": chart.target_label,
        "achievement_label": chart.achievement_label,
        "notes": list(chart.notes),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _row_style(member_count: int) -> tuple[float, float]:
    """(row height in inches, name font size): rows get denser from 12 members to 30 (never below
    12 pt type on 0.29 in rows), smoothly, so a bigger team never gets a shorter image."""
    row_in = 0.38 - 0.005 * min(max(member_count - 12, 0), 18)
    name_pt = 13.0 if member_count <= 12 else 12.5 if member_count <= 20 else 12.0
    return row_in, name_pt


def _height_in(member_count: int) -> float:
    row_in, _ = _row_style(member_count)
    fixed = _TOP_PAD_IN + _TITLE_IN + _KEY_IN + _LINE_PANEL_IN + _DAYS_IN + _BAR_HEADER_IN + _BOTTOM_PAD_IN
    return fixed + max(member_count, _MIN_ROWS) * row_in


def digest_chart_size(member_count: int) -> tuple[int, int]:
    """Pixel (width, height) of the PNG for a team of *member_count*: 720 x 669 up to 12 members."""
    return round(_WIDTH_IN * _DPI), round(_height_in(member_count) * _DPI)


def _one_line(text: str) -> str:
    """Strings are drawn as single lines: collapse newlines, tabs and runs of spaces."""
    return " ".join(str(text).split())


def _pct_label(ratio: float | None) -> str:
    """Rounded like the card text (cards.format.percent), so chart and card agree."""
    return "—" if ratio is None else percent(Decimal(repr(ratio)))


def _render(chart: DigestChart, font_family: Sequence[str]) -> bytes:
    """Draw *chart* with the given font fallback list and return PNG bytes."""
    from cards.digest_drawing import draw

    return draw(chart, font_family)


def render_digest_chart(chart: DigestChart) -> bytes:
    """PNG bytes, digest_chart_size(len(chart.members)) pixels."""
    _ensure_font()
    with _render_lock:
        return _render(chart, FONT_FAMILY)
