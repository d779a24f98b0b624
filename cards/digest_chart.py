"""A team lead's daily-digest chart: team progress over the month, then each member's achievement.

One portrait PNG with two stacked panels:

1. the team's cumulative actual so far against a linear cumulative target line;
2. one horizontal bar per member (achievement in percent), laggards in a warning colour,
   with a reference line at 100 %.

Drawing follows cards.charts and reuses its font registration, render lock, colours and number
formatting: ``Figure`` + ``FigureCanvasAgg``, never pyplot or global rcParams.

Speed: a digest has ~80 strings (30 names, 30 percentages, ticks, titles). matplotlib's ``Text``
lays every string out twice per draw (to measure, then to draw) and a ``Tick`` is several artists,
which made text most of the render time. So the layout here is fixed and computed in pixels up
front (no tight_layout, no tick machinery), widths are measured once and remembered across renders
(names and labels repeat from one day to the next), and all strings are drawn by one small artist
straight through ``renderer.draw_text``. Missing glyphs still warn, as they happen in the renderer.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator
from matplotlib.transforms import IdentityTransform
from PIL import Image as PILImage

from cards.charts import (
    _ACTUAL_COLOR,
    _GRID_COLOR,
    _TARGET_COLOR,
    _TEXT_COLOR,
    FONT_FAMILY,
    _annotation_placement,
    _axis_formatter,
    _ensure_font,
    _format_value,
    _render_lock,
    _tick_indices,
)
from cards.format import percent

__all__ = ["DigestChart", "digest_chart_key", "digest_chart_size", "render_digest_chart"]

# Bump when the drawing changes so cached images keyed by digest_chart_key() expire.
_RENDER_VERSION = 1

_DPI = 100
_WIDTH_IN = 7.2  # -> 720 px wide, like ProgressChart

_WARN_COLOR = "#ea580c"  # orange: tells apart from the blue for colour-blind readers too
_TRACK_COLOR = "#eef0f3"  # 0..100 % track behind every bar: a member without a value shows it empty
_REF_COLOR = "#4b5563"
_SPINE_COLOR = "#9ca3af"
_MUTED_COLOR = "#6b7280"

_TITLE_PT = 15.0
_PANEL_TITLE_PT = 13.5
_LABEL_PT = 12.0
_TICK_PT = 12.0
_ANNOT_PT = 12.5

# Vertical layout, in inches from the top of the figure.
_TOP_PAD_IN = 0.16
_TITLE_IN = 0.42  # title line
_KEY_IN = 0.36  # unit label (left) and legend (right), above the top panel
_LINE_AXES_IN = 2.35  # top panel
_DAYS_IN = 0.34  # day labels under the top panel
_BAR_HEADER_IN = 0.64  # gap, bottom panel title, "100%" above the reference line
_BOTTOM_PAD_IN = 0.14
_MIN_ROWS = 4  # a team of one still gets a sensibly sized bottom panel

# Horizontal layout, in inches.
_EDGE_IN = 0.15  # titles and labels start this far from the left edge
_RIGHT_IN = 0.3
_GAP_IN = 0.1  # between a tick label or name and its axes
_MAX_NAME_IN = 2.2  # longer names are shortened with an ellipsis

_BAR_HEIGHT = 0.66  # of a row
_LABEL_OFFSET_PX = 6.0  # between a bar's end and its percentage
_BAR_CAP_PCT = 200.0  # longer bars run to the panel edge; their label still tells the value
_BAR_FLOOR_PCT = -100.0

# Noto Sans CJK's ideographic em box spans 0.12 em below to 0.88 em above the baseline; placing
# text by it keeps Chinese, Latin and mixed strings on one baseline per row.
_EM_TOP, _EM_MIDDLE, _EM_BOTTOM = 0.88, 0.38, -0.12


@dataclass(frozen=True)
class DigestChart:
    """Team cumulative progress plus per-member achievement, for a lead's daily digest."""

    title: str  # e.g. "Team North 北区 · 2026-11"
    day_labels: tuple[str, ...]  # one per day of the month: ("1", ..., "30")
    cumulative: tuple[float | None, ...]  # team cumulative actual per day; None = not reached yet
    target_total: float | None  # full-month team target; None = no target (no target line)
    unit: str  # "USD"
    members: tuple[tuple[str, float | None, bool], ...]  # (name, achievement ratio 1.0 = 100 %, lagging)
    actual_label: str = "Actual"
    target_label: str = "Target"
    achievement_label: str = "Achievement"  # bottom panel title, already translated ("达成率")

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
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _row_style(member_count: int) -> tuple[float, float]:
    """(row height in inches, name font size): denser rows for big teams, never below 12 pt."""
    if member_count <= 12:
        return 0.38, 13.0
    if member_count <= 20:
        return 0.33, 12.5
    return 0.29, 12.0


def _height_in(member_count: int) -> float:
    row_in, _ = _row_style(member_count)
    fixed = _TOP_PAD_IN + _TITLE_IN + _KEY_IN + _LINE_AXES_IN + _DAYS_IN + _BAR_HEADER_IN + _BOTTOM_PAD_IN
    return fixed + max(member_count, _MIN_ROWS) * row_in


def digest_chart_size(member_count: int) -> tuple[int, int]:
    """Pixel (width, height) of the PNG for a team of *member_count*: 720 x 671 for up to 12."""
    return round(_WIDTH_IN * _DPI), round(_height_in(member_count) * _DPI)


def _pct_label(ratio: float | None) -> str:
    """Rounded like the card text (cards.format.percent), so chart and card agree."""
    return "—" if ratio is None else percent(Decimal(repr(ratio)))


# Text widths in pixels at _DPI, by (text, size, family).
_widths: dict[tuple[str, float, tuple[str, ...]], float] = {}
_WIDTHS_MAX = 8192


class _Texts(Artist):
    """Single-line strings at pixel positions, drawn straight through the renderer (see module doc)."""

    def __init__(self, renderer: RendererBase, family: Sequence[str]) -> None:
        super().__init__()
        self._measurer = renderer
        self._family = list(family)
        self._props: dict[float, FontProperties] = {}
        self._items: list[tuple[float, float, str, FontProperties, str]] = []
        self.set_zorder(10)

    def prop(self, size: float) -> FontProperties:
        if size not in self._props:
            self._props[size] = FontProperties(family=self._family, size=size)
        return self._props[size]

    def width(self, text: str, size: float) -> float:
        """Advance width of *text* in pixels (remembered across renders; call under _render_lock)."""
        key = (text, size, tuple(self._family))
        width = _widths.get(key)
        if width is None:
            if len(_widths) >= _WIDTHS_MAX:
                _widths.clear()
            width = self._measurer.get_text_width_height_descent(text, self.prop(size), ismath=False)[0]
            _widths[key] = width
        return width

    def fit(self, text: str, size: float, max_px: float) -> str:
        """*text*, shortened with an ellipsis until it is at most *max_px* wide."""
        if self.width(text, size) <= max_px:
            return text
        cut = len(text)
        while cut > 1 and self.width(text[:cut].rstrip() + "…", size) > max_px:
            cut -= 1
        return text[:cut].rstrip() + "…"

    def add(self, x: float, y: float, text: str, size: float, color: str = _TEXT_COLOR, *, ha: str = "left",
            va: str = "baseline") -> float:
        """Place *text* with its *ha* side at pixel x and its *va* line at pixel y; return its width."""
        width = self.width(text, size) if text else 0.0
        x -= {"left": 0.0, "center": width / 2, "right": width}[ha]
        em = size * _DPI / 72
        y -= {"baseline": 0.0, "top": _EM_TOP * em, "center": _EM_MIDDLE * em, "bottom": _EM_BOTTOM * em}[va]
        if text:
            self._items.append((x, y, text, self.prop(size), color))
        return width

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible():
            return
        _, canvas_height = renderer.get_canvas_width_height()
        gc = renderer.new_gc()
        for x, y, text, prop, color in self._items:
            gc.set_foreground(color)
            renderer.draw_text(gc, x, canvas_height - y if renderer.flipy() else y, text, prop, 0.0, ismath=False)
        gc.restore()
        self.stale = False


def _style_axes(ax: Axes, spines: Sequence[str]) -> None:
    ax.set_facecolor("white")
    ax.xaxis.set_major_locator(NullLocator())  # labels and grid are drawn by hand: no Tick artists
    ax.yaxis.set_major_locator(NullLocator())
    for side, spine in ax.spines.items():
        spine.set_visible(side in spines)
        spine.set_color(_SPINE_COLOR)


def _y_scale(chart: DigestChart) -> tuple[float, float, list[float], Callable[[float], str]]:
    """Top panel's y range, tick values and tick formatter."""
    values = [v for v in map(_num, chart.cumulative) if v is not None]
    target = _num(chart.target_total)
    finite = [0.0, *values, *([] if target is None else [target])]
    low, high = min(finite), max(finite)
    if high == low:
        high = low + 1.0
    pad = (high - low) * 0.15
    y_low, y_high = (low - pad if low < 0 else 0.0), high + pad
    ticks = [float(v) for v in MaxNLocator(nbins=5).tick_values(y_low, y_high) if y_low <= v <= y_high]
    return y_low, y_high, ticks, _axis_formatter(max(abs(low), abs(high)))


def _draw_progress(ax: Axes, chart: DigestChart, texts: _Texts, unit_y: float) -> None:
    """Top panel: cumulative actual (to today) vs. the linear cumulative target, with its labels."""
    n = len(chart.day_labels)
    values = [_num(v) for v in chart.cumulative]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    target = _num(chart.target_total)

    if target is not None:
        ax.plot([0, n], [0.0, target], linestyle=(0, (6, 4)), linewidth=2.0, color=_TARGET_COLOR, zorder=2)
    # x = day number (1..n); day 0 is the origin where both lines start at 0.
    # NaN (not reached yet) ends the line, so nothing is drawn after today.
    ax.plot(
        range(n + 1),
        [0.0, *(math.nan if v is None else v for v in values)],
        color=_ACTUAL_COLOR,
        linewidth=2.5,
        marker="o",
        markersize=4.5,
        markevery=slice(1, None),  # no marker on the day-0 origin
        zorder=3,
    )

    y_low, y_high, ticks, fmt = _y_scale(chart)
    ax.set_ylim(y_low, y_high)
    ax.set_xlim(0, n + 0.5)
    _style_axes(ax, ("left", "bottom"))

    if known:
        last_i, last_v = known[-1]
        last_x = last_i + 1
        ax.plot([last_x], [last_v], marker="o", markersize=8, color=_ACTUAL_COLOR, markeredgecolor="white",
                markeredgewidth=1.5, zorder=4)
        ax.annotate(
            _format_value(last_v),
            xy=(last_x, last_v),
            **_annotation_placement(last_x, last_v, n, 0.0 if target is None else target, known),
            fontsize=_ANNOT_PT,
            fontfamily=texts.prop(_ANNOT_PT).get_family(),
            color=_ACTUAL_COLOR,
            parse_math=False,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )

    to_px = ax.transData.transform
    (left, bottom), (right, top) = to_px((0, y_low)), to_px((n + 0.5, y_high))
    gap = _GAP_IN * _DPI

    # y: grid lines and labels at "nice" values, one suffix (K/M) for the whole axis.
    ax.hlines([v for v in ticks if v != y_low], 0, n + 0.5, colors=_GRID_COLOR, linewidth=1.0, zorder=0)
    for value in ticks:
        texts.add(left - gap, to_px((0, value))[1], fmt(value), _TICK_PT, ha="right", va="center")

    # x: day labels, about every fifth day plus the last, with short tick marks.
    days = [i + 1 for i in _tick_indices(n)]
    ax.vlines(days, -4.0 / (top - bottom), 0, transform=ax.get_xaxis_transform(), colors=_SPINE_COLOR,
              linewidth=1.0, clip_on=False)
    for day in days:
        texts.add(to_px((day, 0))[0], bottom - 7, chart.day_labels[day - 1], _TICK_PT, ha="center", va="top")

    # Unit (horizontal: rotated CJK is hard to read) on the left, legend on the right, above the panel.
    if chart.unit:
        texts.add(_EDGE_IN * _DPI, unit_y, chart.unit, _LABEL_PT, va="center")
    entries = [(chart.actual_label, "-", _ACTUAL_COLOR, 2.5)]
    if target is not None:
        entries.append((chart.target_label, (0, (4, 3)), _TARGET_COLOR, 2.0))
    x = right
    for label, style, color, width in reversed(entries):
        x -= texts.add(x, unit_y, label, _LABEL_PT, ha="right", va="center") + 6
        sample = Line2D([x - 26, x], [unit_y, unit_y], transform=IdentityTransform(), color=color,
                        linestyle=style, linewidth=width)
        ax.figure.add_artist(sample)
        x -= 26 + 18


def _draw_members(ax: Axes, chart: DigestChart, texts: _Texts, names: Sequence[str], name_pt: float) -> None:
    """Bottom panel: one achievement bar per member, in the order given, with names and percentages.

    Bars are two PolyCollections (the 0..100 % tracks, then the values) rather than barh(),
    which makes one Rectangle artist per bar.
    """
    count = len(chart.members)
    ratios = [_num(ratio) for _, ratio, _ in chart.members]
    labels = [_pct_label(r) for r in ratios]
    pcts = [None if r is None else r * 100.0 for r in ratios]
    ends = [0.0 if p is None else min(max(p, _BAR_FLOOR_PCT), _BAR_CAP_PCT) for p in pcts]
    colors = [_WARN_COLOR if lagging else _ACTUAL_COLOR for _, _, lagging in chart.members]

    # Room beyond the longest bar (and before a negative one) for its percentage label.
    (left, _), (right, top) = ax.get_window_extent().get_points()
    label_px = max([texts.width(text, name_pt) for text in labels] or [0.0]) + _LABEL_OFFSET_PX + 4
    room = min(label_px / (right - left), 0.3)
    data_hi, data_lo = max([100.0, *ends]), min([0.0, *ends])
    span = (data_hi - data_lo) / (1.0 - (2 if data_lo < 0 else 1) * room)
    x_lo = data_lo - span * room if data_lo < 0 else 0.0
    ax.set_xlim(x_lo, data_hi + span * room)
    rows = max(count, _MIN_ROWS)
    ax.set_ylim(rows - 0.5, -0.5)  # first member on top
    _style_axes(ax, ("left",) if x_lo == 0 else ())

    half = _BAR_HEIGHT / 2

    def rects(spans: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
        return [[(x0, y - half), (x1, y - half), (x1, y + half), (x0, y + half)] for y, (x0, x1) in enumerate(spans)]

    grid = [x for x in range(-100, 201, 50) if x not in (0, 100) and x_lo < x <= data_hi]
    ax.vlines(grid, -0.5, rows - 0.5, colors=_GRID_COLOR, linewidth=1.0, zorder=0)
    # The 100 % line sits behind the tracks: it shows between the rows and never runs through a label.
    ax.vlines([100.0], -0.5, rows - 0.5, colors=_REF_COLOR, linewidth=1.4, zorder=0.5)
    if x_lo < 0:
        ax.vlines([0.0], -0.5, rows - 0.5, colors=_SPINE_COLOR, linewidth=1.0, zorder=0.5)
    ax.add_collection(PolyCollection(rects([(0.0, 100.0)] * count), facecolors=_TRACK_COLOR, edgecolors="none",
                                     zorder=1), autolim=False)
    ax.add_collection(PolyCollection(rects([(0.0, end) for end in ends]), facecolors=colors, edgecolors="none",
                                     zorder=2), autolim=False)

    to_px = ax.transData.transform
    texts.add(to_px((100.0, 0))[0], top + 4, "100%", _TICK_PT - 1, _REF_COLOR, ha="center", va="bottom")
    for row, (name, pct, end, text, color) in enumerate(zip(names, pcts, ends, labels, colors, strict=True)):
        x, y = to_px((end, row))
        texts.add(left - _GAP_IN * _DPI, y, name, name_pt, ha="right", va="center")
        if pct is None:  # empty bar: only the track, and a dash
            texts.add(x + _LABEL_OFFSET_PX, y, text, name_pt, _MUTED_COLOR, va="center")
        elif pct > _BAR_CAP_PCT:  # the bar runs to the cap; its label goes inside the bar's end
            texts.add(x - _LABEL_OFFSET_PX, y, text, name_pt, "white", ha="right", va="center")
        elif end < 0:
            texts.add(x - _LABEL_OFFSET_PX, y, text, name_pt, color, ha="right", va="center")
        else:
            texts.add(x + _LABEL_OFFSET_PX, y, text, name_pt, color, va="center")


def _render(chart: DigestChart, font_family: Sequence[str]) -> bytes:
    """Draw *chart* with the given font fallback list and return PNG bytes."""
    count = len(chart.members)
    row_in, name_pt = _row_style(count)
    height_in = _height_in(count)
    fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    texts = _Texts(canvas.get_renderer(), font_family)
    fig.add_artist(texts)

    def px(inches_from_top: float) -> float:
        """Pixel y (upwards, as matplotlib's display coordinates) of a distance from the top."""
        return (height_in - inches_from_top) * _DPI

    texts.add(_EDGE_IN * _DPI, px(_TOP_PAD_IN), chart.title, _TITLE_PT, va="top")

    # Top panel; its left margin fits its widest y label, which needs the y range first.
    line_top = _TOP_PAD_IN + _TITLE_IN + _KEY_IN
    line_bottom = line_top + _LINE_AXES_IN
    _, _, ticks, fmt = _y_scale(chart)
    y_labels_px = max([texts.width(fmt(v), _TICK_PT) for v in ticks] or [0.0])
    line_left_in = max(0.6, _EDGE_IN + y_labels_px / _DPI + _GAP_IN)
    ax_line = fig.add_axes((line_left_in / _WIDTH_IN, 1 - line_bottom / height_in,
                            1 - (line_left_in + _RIGHT_IN) / _WIDTH_IN, _LINE_AXES_IN / height_in))
    _draw_progress(ax_line, chart, texts, px(line_top - _KEY_IN / 2))

    # Bottom panel; its left margin fits the longest name (very long ones are shortened).
    bars_top = line_bottom + _DAYS_IN + _BAR_HEADER_IN
    texts.add(_EDGE_IN * _DPI, px(bars_top - 0.4), chart.achievement_label, _PANEL_TITLE_PT, va="center")
    names = [texts.fit(name, name_pt, _MAX_NAME_IN * _DPI) for name, _, _ in chart.members]
    names_in = max([texts.width(name, name_pt) / _DPI for name in names] or [0.0])
    bar_left_in = max(0.6, _EDGE_IN + names_in + _GAP_IN)
    bars_in = max(count, _MIN_ROWS) * row_in
    ax_bars = fig.add_axes((bar_left_in / _WIDTH_IN, 1 - (bars_top + bars_in) / height_in,
                            1 - (bar_left_in + _RIGHT_IN) / _WIDTH_IN, bars_in / height_in))
    _draw_members(ax_bars, chart, texts, names, name_pt)

    canvas.draw()
    # Encode RGB ourselves: no alpha channel to compress, and zlib's RLE strategy is about
    # twice as fast as the default on a flat-colour chart, for a file about as small.
    image = PILImage.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="png", compress_level=6, compress_type=zlib.Z_RLE)
    return buf.getvalue()


def render_digest_chart(chart: DigestChart) -> bytes:
    """PNG bytes, digest_chart_size(len(chart.members)) pixels."""
    _ensure_font()
    with _render_lock:
        return _render(chart, FONT_FAMILY)
