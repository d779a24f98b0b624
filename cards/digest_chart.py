"""A team lead's daily-digest chart: team progress over the month, then each member's achievement.

One portrait PNG with two stacked panels:

1. the team's cumulative actual so far against a linear cumulative target line;
2. one horizontal bar per member (achievement in percent), laggards in a warning colour,
   with a reference line at 100 %.

Drawing follows cards.charts (which this module reuses: font registration, render lock,
number formatting): ``Figure`` + ``FigureCanvasAgg``, never pyplot or global rcParams.
The layout is computed in inches and fixed (no tight_layout), so a render is a single draw
pass; the figure grows taller with the member count so 30 names stay readable on a phone.
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

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator, MultipleLocator, NullLocator
from matplotlib.transforms import ScaledTranslation
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

_WARN_COLOR = "#ea580c"  # orange: distinct from the blue for colour-blind readers too
_TRACK_COLOR = "#f3f4f6"  # light 0..100 % track behind every bar ("empty bar" for no value)
_REF_COLOR = "#374151"
_SPINE_COLOR = "#9ca3af"
_MUTED_COLOR = "#6b7280"

_TITLE_PT = 15.0
_PANEL_TITLE_PT = 13.5
_LABEL_PT = 12.0
_TICK_PT = 12.0
_LEGEND_PT = 12.0
_ANNOT_PT = 12.5

# Vertical layout, in inches from the top of the figure.
_TOP_PAD_IN = 0.18
_TITLE_IN = 0.42  # title line
_UNIT_IN = 0.34  # room above the top panel for the horizontal unit label
_LINE_AXES_IN = 2.35  # top panel
_DAYS_IN = 0.36  # day tick labels under the top panel
_BAR_HEADER_IN = 0.62  # gap + bottom panel title + "100%" label above the reference line
_BOTTOM_PAD_IN = 0.16
_MIN_ROWS = 4  # a team of one still gets a sensibly sized bottom panel

# Horizontal layout, in inches.
_RIGHT_IN = 0.3
_MIN_LEFT_IN = 0.6
_MAX_NAME_IN = 2.2  # longer names are shortened with an ellipsis
_GAP_IN = 0.12  # between a label and the axis it belongs to

_BAR_HEIGHT = 0.66  # of a row
_LABEL_OFFSET_PT = 4.0  # between a bar's end and its percentage

_BAR_CAP_PCT = 200.0  # bars longer than this run to the panel edge; their label still tells the value
_BAR_FLOOR_PCT = -100.0


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
                raise ValueError(
                    f"member {index} has {len(member)} fields; expected (name, ratio, lagging)"
                )


def _num(value: float | None) -> float | None:
    """Normalise a number for hashing: 5 == 5.0, -0.0 == 0.0; non-finite counts as no value."""
    if value is None:
        return None
    number = float(value) + 0.0
    return number if math.isfinite(number) else None


def digest_chart_key(chart: DigestChart) -> str:
    """Stable sha256 hex of the chart's content (for image caching)."""
    payload = {
        "kind": "digest",  # never equal to a ProgressChart key, even for look-alike content
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


def _row_style(count: int) -> tuple[float, float]:
    """(row height in inches, name font size) for *count* members: denser rows for big teams."""
    if count <= 12:
        return 0.38, 13.0
    if count <= 20:
        return 0.33, 12.5
    return 0.29, 12.0


def digest_chart_size(member_count: int) -> tuple[int, int]:
    """Pixel (width, height) of the PNG for a team of *member_count*."""
    return round(_WIDTH_IN * _DPI), round(_height_in(member_count) * _DPI)


def _height_in(member_count: int) -> float:
    row_in, _ = _row_style(member_count)
    rows = max(member_count, _MIN_ROWS)
    fixed = _TOP_PAD_IN + _TITLE_IN + _UNIT_IN + _LINE_AXES_IN + _DAYS_IN + _BAR_HEADER_IN + _BOTTOM_PAD_IN
    return fixed + rows * row_in


# Text widths at _DPI by (text, size): names and labels repeat from one day's digest to the next.
_widths: dict[tuple[str, float, tuple[str, ...]], float] = {}
_WIDTHS_MAX = 4096


def _text_width(renderer: RendererAgg, text: str, prop: FontProperties) -> float:
    """Width in pixels of *text* drawn with *prop* (memoised; call under _render_lock)."""
    key = (text, float(prop.get_size_in_points()), tuple(prop.get_family()))
    width = _widths.get(key)
    if width is None:
        if len(_widths) >= _WIDTHS_MAX:
            _widths.clear()
        width = _widths[key] = renderer.get_text_width_height_descent(text, prop, ismath=False)[0]
    return width


def _pct_label(ratio: float | None) -> str:
    """Same rounding as the card text (cards.format.percent), so chart and card agree."""
    if ratio is None:
        return "—"
    return percent(Decimal(repr(float(ratio))))


def _fit_text(text: str, max_px: float, measure: Callable[[str], float]) -> str:
    """*text*, shortened with an ellipsis until it is at most *max_px* wide."""
    if measure(text) <= max_px:
        return text
    cut = len(text)
    while cut > 1 and measure(text[:cut].rstrip() + "…") > max_px:
        cut -= 1
    return text[:cut].rstrip() + "…"


def _style_axes(ax: Axes) -> None:
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(_SPINE_COLOR)


def _draw_progress(ax: Axes, chart: DigestChart, family: list[str]) -> None:
    """Top panel: cumulative actual (to today) vs. the linear cumulative target."""
    n = len(chart.day_labels)
    values = [_num(v) for v in chart.cumulative]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    target = _num(chart.target_total)

    if target is not None:
        ax.plot(
            [0, n],
            [0.0, target],
            linestyle=(0, (6, 4)),
            linewidth=2.0,
            color=_TARGET_COLOR,
            label=chart.target_label,
            zorder=2,
        )
    # x = day number (1..n); day 0 is the origin where both lines start at 0.
    # NaN (not reached yet) breaks the line, so nothing is drawn after today.
    ax.plot(
        range(n + 1),
        [0.0, *(math.nan if v is None else v for v in values)],
        color=_ACTUAL_COLOR,
        linewidth=2.5,
        marker="o",
        markersize=4.5,
        markevery=slice(1, None),  # no marker on the day-0 origin
        label=chart.actual_label,
        zorder=3,
    )
    if known:
        last_i, last_v = known[-1]
        last_x = last_i + 1
        ax.plot(
            [last_x],
            [last_v],
            marker="o",
            markersize=8,
            color=_ACTUAL_COLOR,
            markeredgecolor="white",
            markeredgewidth=1.5,
            zorder=4,
        )
        ax.annotate(
            _format_value(last_v),
            xy=(last_x, last_v),
            **_annotation_placement(last_x, last_v, n, 0.0 if target is None else target, known),
            fontsize=_ANNOT_PT,
            fontfamily=family,
            color=_ACTUAL_COLOR,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )

    finite = [0.0, *(v for _, v in known), *([] if target is None else [target])]
    low, high = min(finite), max(finite)
    if high == low:
        high = low + 1.0
    pad = (high - low) * 0.15
    ax.set_ylim(low - pad if low < 0 else 0.0, high + pad)
    ax.set_xlim(0, n + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(_axis_formatter(max(abs(low), abs(high))))

    ticks = _tick_indices(n)
    ax.set_xticks([i + 1 for i in ticks], [chart.day_labels[i] for i in ticks])
    ax.tick_params(axis="both", labelsize=_TICK_PT, labelfontfamily=family, colors=_TEXT_COLOR, length=3)
    ax.grid(axis="y", color=_GRID_COLOR, linewidth=1.0)
    ax.set_axisbelow(True)
    _style_axes(ax)
    ax.legend(loc="upper left", frameon=False, prop=FontProperties(family=family, size=_LEGEND_PT))


def _rects(spans: Sequence[tuple[float, float]], half: float) -> list[list[tuple[float, float]]]:
    """Polygons for horizontal bars: one (x0, x1) span per row, row i centred on y = i."""
    return [[(x0, y - half), (x1, y - half), (x1, y + half), (x0, y + half)] for y, (x0, x1) in enumerate(spans)]


def _draw_members(
    ax: Axes, chart: DigestChart, family: list[str], name_pt: float, axes_px: float, measure: Callable[[str], float]
) -> None:
    """Bottom panel: one achievement bar per member, in the order given.

    Bars are two PolyCollections (the 0..100 % track, then the values) rather than barh(),
    which adds one Rectangle artist per bar and is several times slower to build.
    """
    count = len(chart.members)
    ratios = [_num(ratio) for _, ratio, _ in chart.members]
    pcts = [None if r is None else r * 100.0 for r in ratios]
    labels = [_pct_label(r) for r in ratios]
    widths = [0.0 if p is None else min(max(p, _BAR_FLOOR_PCT), _BAR_CAP_PCT) for p in pcts]
    colors = [_WARN_COLOR if lagging else _ACTUAL_COLOR for _, _, lagging in chart.members]

    # Leave room beyond the longest bar (and before a negative one) for its percentage label.
    label_px = max([measure(text) for text in labels] or [0.0]) + _LABEL_OFFSET_PT * _DPI / 72 + 4.0
    data_hi = max([100.0, *widths])
    data_lo = min([0.0, *widths])
    room = min(label_px / axes_px, 0.3)
    sides = 2 if data_lo < 0 else 1
    span = (data_hi - data_lo) / (1.0 - sides * room)
    ax.set_xlim(data_lo - (span * room if data_lo < 0 else 0.0), data_hi + span * room)
    ax.set_ylim(max(count, _MIN_ROWS) - 0.5, -0.5)  # first member on top

    half = _BAR_HEIGHT / 2
    # The 100 % line sits behind the tracks, so it shows between the rows and never crosses a label.
    ax.axvline(100.0, color=_REF_COLOR, linewidth=1.4, zorder=0.5)
    ax.add_collection(PolyCollection(_rects([(0.0, 100.0)] * count, half), facecolors=_TRACK_COLOR,
                                     edgecolors="none", zorder=1), autolim=False)
    ax.add_collection(PolyCollection(_rects([(0.0, w) for w in widths], half), facecolors=colors,
                                     edgecolors="none", zorder=2), autolim=False)

    fig = ax.get_figure()
    points = fig.dpi_scale_trans
    after = ax.transData + ScaledTranslation(_LABEL_OFFSET_PT / 72, 0, points)
    before = ax.transData + ScaledTranslation(-_LABEL_OFFSET_PT / 72, 0, points)
    style = {"va": "center", "fontsize": name_pt, "fontfamily": family, "zorder": 4}
    for y, (pct, width, text, color) in enumerate(zip(pcts, widths, labels, colors, strict=True)):
        if pct is None:  # empty bar: only the track, and a dash
            ax.text(0.0, y, text, ha="left", transform=after, color=_MUTED_COLOR, **style)
        elif pct > _BAR_CAP_PCT:  # the bar runs to the cap; its label goes inside the bar end
            ax.text(width, y, text, ha="right", transform=before, color="white", **style)
        elif width < 0:
            ax.text(width, y, text, ha="right", transform=before, color=color, **style)
        else:
            ax.text(width, y, text, ha="left", transform=after, color=color, **style)

    ax.text(100.0, 1.0, "100%", transform=ax.get_xaxis_transform() + ScaledTranslation(0, 3 / 72, points),
            ha="center", va="bottom", fontsize=_TICK_PT - 1, fontfamily=family, color=_REF_COLOR)
    ax.xaxis.set_major_locator(MultipleLocator(50.0))
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.yaxis.set_major_locator(NullLocator())  # names are plain texts (see _render): no Tick objects
    ax.grid(axis="x", color=_GRID_COLOR, linewidth=1.0)
    ax.set_axisbelow(True)
    _style_axes(ax)
    ax.spines["bottom"].set_visible(False)


def _render(chart: DigestChart, font_family: Sequence[str]) -> bytes:
    """Draw *chart* with the given font fallback list and return PNG bytes."""
    family = list(font_family)
    count = len(chart.members)
    row_in, name_pt = _row_style(count)
    height_in = _height_in(count)

    fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    name_prop = FontProperties(family=family, size=name_pt)
    tick_prop = FontProperties(family=family, size=_TICK_PT)

    def width_px(text: str, prop: FontProperties) -> float:
        return _text_width(renderer, text, prop)

    def fy(inches_from_top: float) -> float:
        return 1.0 - inches_from_top / height_in

    # Names: shorten the few that are too long, then size the left margin to the longest.
    names = [_fit_text(name, _MAX_NAME_IN * _DPI, lambda s: width_px(s, name_prop)) for name, _, _ in chart.members]
    names_in = max([width_px(name, name_prop) / _DPI for name in names] or [0.0])
    bar_left_in = max(_MIN_LEFT_IN, 0.15 + names_in + _GAP_IN)

    # Top panel; its left margin fits the widest y tick label.
    line_top = _TOP_PAD_IN + _TITLE_IN + _UNIT_IN
    line_bottom = line_top + _LINE_AXES_IN
    ax_line = fig.add_axes((0.0, fy(line_bottom), 1.0, _LINE_AXES_IN / height_in))
    _draw_progress(ax_line, chart, family)
    y_low, y_high = ax_line.get_ylim()
    y_format = ax_line.yaxis.get_major_formatter()
    ticks_in = max(
        [width_px(y_format(v, None), tick_prop) / _DPI for v in ax_line.get_yticks() if y_low <= v <= y_high]
        or [0.0]
    )
    line_left_in = max(_MIN_LEFT_IN, 0.15 + ticks_in + _GAP_IN)
    line_width_in = _WIDTH_IN - line_left_in - _RIGHT_IN
    ax_line.set_position((line_left_in / _WIDTH_IN, fy(line_bottom), line_width_in / _WIDTH_IN,
                          _LINE_AXES_IN / height_in))
    if chart.unit:
        # Horizontal, above the tick labels: rotated CJK is hard to read.
        fig.text(0.15 / _WIDTH_IN, fy(line_top - 0.08), chart.unit, ha="left", va="bottom", fontsize=_LABEL_PT,
                 fontfamily=family, color=_TEXT_COLOR)

    # Bottom panel.
    rows = max(count, _MIN_ROWS)
    bars_top = line_bottom + _DAYS_IN + _BAR_HEADER_IN
    bars_in = rows * row_in
    bars_width_in = _WIDTH_IN - bar_left_in - _RIGHT_IN
    ax_bars = fig.add_axes((bar_left_in / _WIDTH_IN, fy(bars_top + bars_in), bars_width_in / _WIDTH_IN,
                            bars_in / height_in))
    _draw_members(ax_bars, chart, family, name_pt, bars_width_in * _DPI, lambda s: width_px(s, name_prop))
    # Member names, right-aligned against the bars (as tick labels would be, without the tick machinery).
    name_x = (bar_left_in - _GAP_IN) / _WIDTH_IN
    for row, name in enumerate(names):
        fig.text(name_x, fy(bars_top + (row + 0.5) * row_in), name, ha="right", va="center_baseline",
                 fontsize=name_pt, fontfamily=family, color=_TEXT_COLOR)

    # Titles, left-aligned to the figure edge.
    fig.text(0.15 / _WIDTH_IN, fy(_TOP_PAD_IN), chart.title, ha="left", va="top", fontsize=_TITLE_PT,
             fontfamily=family, color=_TEXT_COLOR)
    fig.text(0.15 / _WIDTH_IN, fy(line_bottom + _DAYS_IN + 0.2), chart.achievement_label, ha="left", va="top",
             fontsize=_PANEL_TITLE_PT, fontfamily=family, color=_TEXT_COLOR)

    canvas.draw()
    # Encode the RGB pixels ourselves: no alpha channel to compress, and zlib's RLE strategy is
    # about twice as fast as the default on flat-colour charts for a similar file size.
    image = PILImage.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="png", compress_level=6, compress_type=zlib.Z_RLE)
    return buf.getvalue()


def render_digest_chart(chart: DigestChart) -> bytes:
    """PNG bytes (see digest_chart_size() for the dimensions)."""
    _ensure_font()
    with _render_lock:
        return _render(chart, FONT_FAMILY)
