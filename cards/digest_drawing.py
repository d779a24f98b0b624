"""Drawing a daily-digest chart (cards.digest_chart) with matplotlib: imported when the first digest chart
is drawn, so that importing the chart's description does not import matplotlib.

Drawing follows cards.charts and reuses its font registration, render lock, colours and number
formatting: a ``Figure`` on ``FigureCanvasAgg``, never pyplot or global rcParams.

Speed (a digest must render in well under 100 ms): the layout is fixed, so everything is placed in
pixels up front and added to the figure as plain artists: no Axes, no Ticks, no tight_layout, one
draw pass. A digest has ~80 strings (30 names, 30 percentages, ticks, titles); matplotlib's ``Text``
lays each string out twice per draw (to measure it, then to draw it), so the strings are drawn by
one small artist straight through ``renderer.draw_text``, their widths measured once and remembered
across renders (names and labels repeat from one day's digest to the next). matplotlib reports a
missing glyph when it measures a string, so the warnings of a measurement are remembered with its
width and raised again on every render that draws the string.
"""

from __future__ import annotations

import math
import struct
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Affine2D, Transform

from cards.charts import (
    _ACTUAL_COLOR,
    _GRID_COLOR,
    _TARGET_COLOR,
    _TEXT_COLOR,
    _annotation_placement,
    _axis_formatter,
    _format_value,
    _tick_indices,
)
from cards.digest_chart import (
    _BAR_HEADER_IN,
    _DAYS_IN,
    _DPI,
    _KEY_IN,
    _LINE_PANEL_IN,
    _MIN_ROWS,
    _TITLE_IN,
    _TOP_PAD_IN,
    _WIDTH_IN,
    DigestChart,
    _height_in,
    _num,
    _one_line,
    _pct_label,
    _row_style,
)

__all__ = ["draw"]

_WARN_COLOR = "#ea580c"  # orange: tells apart from the blue for colour-blind readers too
_TRACK_COLOR = "#eef0f3"  # 0..100 % track behind every bar (not behind a member without a value)
_REF_COLOR = "#4b5563"
_SPINE_COLOR = "#9ca3af"
_MUTED_COLOR = "#6b7280"

_TITLE_PT = 15.0
_PANEL_TITLE_PT = 13.5
_LABEL_PT = 12.0
_TICK_PT = 12.0
_ANNOT_PT = 12.5

# Horizontal layout, in inches.
_EDGE_IN = 0.15  # titles and labels start this far from the left edge
_RIGHT_IN = 0.3
_GAP_IN = 0.1  # between a tick label or a name and its panel
_MIN_LEFT_IN = 0.6
_MAX_NAME_IN = 2.0  # longer names are shortened with an ellipsis

_BAR_HEIGHT = 0.66  # of a row
_LABEL_OFFSET_PX = 6.0  # between a bar's end and its percentage
_BAR_CAP_PCT = 200.0  # longer bars run to the panel edge; their label still tells the value
_BAR_FLOOR_PCT = -100.0

# Noto Sans CJK's ideographic em box spans 0.88 em above to 0.12 em below the baseline; placing
# text by it keeps Chinese, Latin and mixed strings on one line per row.
_BASELINE_EM = {"top": 0.88, "center": 0.38, "bottom": -0.12, "baseline": 0.0}


# Measured strings by (text, size, font family): width in pixels at _DPI, and the warnings that
# measuring raised (missing glyphs: matplotlib reports them when it measures, not when it draws).
_Measured = tuple[float, tuple[warnings.WarningMessage, ...]]
_measured: dict[tuple[str, float, tuple[str, ...]], _Measured] = {}
_MEASURED_MAX = 8192


class _Texts(Artist):
    """Single-line strings at pixel positions, drawn straight through the renderer (see module doc).

    Positions are in pixels from the top-left corner, as the layout is worked out.
    """

    def __init__(self, renderer: RendererBase, family: Sequence[str], height_px: float) -> None:
        super().__init__()
        self._measurer = renderer
        self._family = list(family)
        self._height = height_px
        self._props: dict[float, FontProperties] = {}
        self._items: list[tuple[float, float, str, FontProperties, str]] = []
        self.set_zorder(10)

    def _prop(self, size: float) -> FontProperties:
        if size not in self._props:
            self._props[size] = FontProperties(family=self._family, size=size)
        return self._props[size]

    def _measure(self, text: str, size: float) -> _Measured:
        """Width and warnings of *text*, remembered across renders (call under _render_lock)."""
        key = (text, size, tuple(self._family))
        measured = _measured.get(key)
        if measured is None:
            if len(_measured) >= _MEASURED_MAX:
                _measured.clear()
            # catch_warnings is process-wide: brief, and only on a miss (under _render_lock when rendering).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                width = self._measurer.get_text_width_height_descent(text, self._prop(size), ismath=False)[0]
            measured = _measured[key] = (width, tuple(caught))
        return measured

    def width(self, text: str, size: float) -> float:
        """Advance width of *text* in pixels."""
        return self._measure(text, size)[0]

    def fit(self, text: str, size: float, max_px: float) -> str:
        """*text*, shortened with an ellipsis until it is at most *max_px* wide."""
        if self.width(text, size) <= max_px:
            return text
        cut = len(text)
        while cut > 1 and self.width(text[:cut].rstrip() + "…", size) > max_px:
            cut -= 1
        return text[:cut].rstrip() + "…"

    def add(self, x: float, y: float, text: str, size: float, color: str = _TEXT_COLOR, *, ha: str = "left",
            va: str = "baseline") -> tuple[float, float, float, float]:
        """Place *text* with its *ha* side at x and its *va* line at y; return its (left, top, right, bottom)."""
        width, caught = self._measure(text, size) if text else (0.0, ())
        for warning in caught:  # on every render that draws the string, not just the first
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        left = x - {"left": 0.0, "center": width / 2, "right": width}[ha]
        em = size * _DPI / 72
        baseline = y + _BASELINE_EM[va] * em
        if text:
            self._items.append((left, baseline, text, self._prop(size), color))
        return left, baseline - _BASELINE_EM["top"] * em, left + width, baseline - _BASELINE_EM["bottom"] * em

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible():
            return
        _, canvas_height = renderer.get_canvas_width_height()
        gc = renderer.new_gc()
        for x, baseline, text, prop, color in self._items:
            y = self._height - baseline  # display pixels run upwards
            gc.set_foreground(color)
            renderer.draw_text(gc, x, canvas_height - y if renderer.flipy() else y, text, prop, 0.0, ismath=False)
        gc.restore()
        self.stale = False


@dataclass(frozen=True)
class _Panel:
    """A plot area in pixels from the top-left corner, with the data range it shows."""

    left: float
    top: float
    right: float
    bottom: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]  # y_range[0] at the bottom edge, y_range[1] at the top edge

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        return self.left + (value - lo) / (hi - lo) * (self.right - self.left)

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        return self.bottom - (value - lo) / (hi - lo) * (self.bottom - self.top)

    def data_transform(self, height_px: float) -> Transform:
        """Data -> display pixels (which run upwards), for lines drawn in data units."""
        (x_lo, x_hi), (y_lo, y_hi) = self.x_range, self.y_range
        sx = (self.right - self.left) / (x_hi - x_lo)
        sy = (self.bottom - self.top) / (y_hi - y_lo)
        return Affine2D().translate(-x_lo, -y_lo).scale(sx, sy).translate(self.left, height_px - self.bottom)


class _Sheet:
    """The figure, its strings and pixel helpers; positions are in pixels from the top-left corner."""

    def __init__(self, height_in: float, family: Sequence[str]) -> None:
        self.fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.height = height_in * _DPI
        self.texts = _Texts(self.canvas.get_renderer(), family, self.height)
        self.fig.add_artist(self.texts)
        # Pixels from the top-left -> display pixels, which run upwards from the bottom-left.
        self.pixels = Affine2D().scale(1.0, -1.0).translate(0.0, self.height)

    def segments(self, segments: Sequence[Sequence[tuple[float, float]]], color: str, width: float,
                 zorder: float) -> None:
        self.fig.add_artist(LineCollection(segments, colors=color, linewidths=width, zorder=zorder,
                                           transform=self.pixels, capstyle="butt"))

    def boxes(self, boxes: Sequence[tuple[float, float, float, float]], colors: str | Sequence[str],
              zorder: float) -> None:
        """Filled rectangles given as (left, top, right, bottom)."""
        verts = [[(l, t), (r, t), (r, b), (l, b)] for l, t, r, b in boxes]  # noqa: E741
        self.fig.add_artist(PolyCollection(verts, facecolors=colors, edgecolors="none", zorder=zorder,
                                           transform=self.pixels))

    def png(self) -> bytes:
        self.canvas.draw()
        return _encode_png(np.asarray(self.canvas.buffer_rgba()))


def _encode_png(rgba: np.ndarray) -> bytes:
    """RGB PNG of an RGBA pixel array (the alpha is opaque white background anyway).

    Written directly rather than through Pillow, which picks a PNG filter per row by trying them
    all: unfiltered rows at zlib level 1 encode about a quarter faster here (14 vs 19 ms for
    30 members) and come out as small (115 KB) for a flat-colour chart.
    """
    height, width, _ = rgba.shape
    rows = np.empty((height, 1 + width * 3), dtype=np.uint8)
    rows[:, 0] = 0  # filter type: none
    rows[:, 1:] = rgba[:, :, :3].reshape(height, width * 3)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"".join((b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header), chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
                     chunk(b"IEND", b"")))


def _y_scale(chart: DigestChart) -> tuple[float, float, list[float], Callable[[float], str]]:
    """Top panel's y range, tick values and tick formatter (one suffix, K or M, for the whole axis)."""
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


def _draw_progress(sheet: _Sheet, chart: DigestChart, top: float, key_y: float) -> float:
    """Top panel: cumulative actual (to today) vs. the linear cumulative target; return its bottom."""
    texts, n = sheet.texts, len(chart.day_labels)
    values = [_num(v) for v in chart.cumulative]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    target = _num(chart.target_total)
    y_low, y_high, ticks, fmt = _y_scale(chart)

    gap = _GAP_IN * _DPI
    left = max(_MIN_LEFT_IN * _DPI, _EDGE_IN * _DPI + max([texts.width(fmt(v), _TICK_PT) for v in ticks] or [0]) + gap)
    panel = _Panel(left, top, (_WIDTH_IN - _RIGHT_IN) * _DPI, top + _LINE_PANEL_IN * _DPI, (0.0, n + 0.5),
                   (y_low, y_high))
    data = panel.data_transform(sheet.height)

    # Grid and y labels at "nice" values; spines; day labels (about every fifth day, and the last).
    sheet.segments([[(panel.left, panel.y(v)), (panel.right, panel.y(v))] for v in ticks if v != y_low],
                   _GRID_COLOR, 1.0, 0)
    for value in ticks:
        texts.add(panel.left - gap, panel.y(value), fmt(value), _TICK_PT, ha="right", va="center")
    days = [i + 1 for i in _tick_indices(n)]
    sheet.segments([[(panel.left, panel.top), (panel.left, panel.bottom), (panel.right, panel.bottom)],
                    *([(panel.x(d), panel.bottom), (panel.x(d), panel.bottom + 4)] for d in days)],
                   _SPINE_COLOR, 1.0, 1)
    for day in days:
        texts.add(panel.x(day), panel.bottom + 7, chart.day_labels[day - 1], _TICK_PT, ha="center", va="top")

    if target is not None:
        sheet.fig.add_artist(Line2D([0, n], [0.0, target], transform=data, linestyle=(0, (6, 4)), linewidth=2.0,
                                    color=_TARGET_COLOR, zorder=2))
    # x = day number (1..n); day 0 is the origin where both lines start at 0.
    # NaN (not reached yet) ends the line, so nothing is drawn after today.
    sheet.fig.add_artist(Line2D(range(n + 1), [0.0, *(math.nan if v is None else v for v in values)],
                                transform=data, color=_ACTUAL_COLOR, linewidth=2.5, marker="o", markersize=4.5,
                                markevery=slice(1, None), zorder=3))  # no marker on the day-0 origin
    if known:
        last_i, last_v = known[-1]
        last_x = last_i + 1
        sheet.fig.add_artist(Line2D([last_x], [last_v], transform=data, marker="o", markersize=8,
                                    color=_ACTUAL_COLOR, markeredgecolor="white", markeredgewidth=1.5, zorder=4))
        place = _annotation_placement(last_x, last_v, n, 0.0 if target is None else target, known)
        dx, dy = place["xytext"]  # points, y upwards
        box = texts.add(panel.x(last_x) + dx * _DPI / 72, panel.y(last_v) - dy * _DPI / 72, _format_value(last_v),
                        _ANNOT_PT, _ACTUAL_COLOR, ha=place["ha"], va=place["va"])
        pad = 3.0
        sheet.fig.add_artist(FancyBboxPatch((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                                            boxstyle=f"round,pad={pad}", transform=sheet.pixels, facecolor="white",
                                            edgecolor="none", alpha=0.85, zorder=5))

    # Legend on the right and the unit on the left (horizontal: rotated CJK is hard to read),
    # above the panel; the unit is shortened if it would run into the legend.
    entries = [(_one_line(chart.actual_label), "-", _ACTUAL_COLOR, 2.5)]
    if target is not None:
        entries.append((_one_line(chart.target_label), (0, (4, 3)), _TARGET_COLOR, 2.0))
    x = panel.right
    for label, style, color, width in reversed(entries):
        x = texts.add(x, key_y, label, _LABEL_PT, ha="right", va="center")[0] - 6
        sheet.fig.add_artist(Line2D([x - 26, x], [key_y, key_y], transform=sheet.pixels, color=color,
                                    linestyle=style, linewidth=width, zorder=3))
        x -= 26 + 18
    if chart.unit:
        unit = texts.fit(_one_line(chart.unit), _LABEL_PT, max(x - _EDGE_IN * _DPI, 40.0))
        texts.add(_EDGE_IN * _DPI, key_y, unit, _LABEL_PT, va="center")
    return panel.bottom


def _draw_members(sheet: _Sheet, chart: DigestChart, top: float) -> None:
    """Bottom panel: one pace bar per member in the order given, with names and percentages; a member without
    a pace gets its note (muted, "no pace yet") and no bar."""
    texts, count = sheet.texts, len(chart.members)
    row_in, name_pt = _row_style(count)
    row = row_in * _DPI
    ratios = [_num(ratio) for _, ratio, _ in chart.members]
    labels = [_pct_label(r) if r is not None else chart.note(i) for i, r in enumerate(ratios)]
    pcts = [None if r is None else r * 100.0 for r in ratios]
    ends = [0.0 if p is None else min(max(p, _BAR_FLOOR_PCT), _BAR_CAP_PCT) for p in pcts]
    colors = [_WARN_COLOR if lagging else _ACTUAL_COLOR for _, _, lagging in chart.members]

    # Names right-aligned against the bars; the few very long ones shortened.
    names = [texts.fit(_one_line(name), name_pt, _MAX_NAME_IN * _DPI) for name, _, _ in chart.members]
    names_px = max([texts.width(name, name_pt) for name in names] or [0.0])
    left = max(_MIN_LEFT_IN * _DPI, (_EDGE_IN + _GAP_IN) * _DPI + names_px)
    right = (_WIDTH_IN - _RIGHT_IN) * _DPI

    # Room beyond the longest bar (and before a negative one) for its percentage label.
    label_px = max([texts.width(text, name_pt) for text, r in zip(labels, ratios, strict=True) if r is not None]
                   or [0.0]) + _LABEL_OFFSET_PX + 4
    label_px = max(label_px, texts.width("100%", _TICK_PT - 1) / 2 + 2)  # the "100%" above its line
    room = min(label_px / (right - left), 0.3)
    data_hi, data_lo = max([100.0, *ends]), min([0.0, *ends])
    span = (data_hi - data_lo) / (1.0 - (2 if data_lo < 0 else 1) * room)
    x_lo = data_lo - span * room if data_lo < 0 else 0.0
    rows = max(count, _MIN_ROWS)
    panel = _Panel(left, top, right, top + rows * row, (x_lo, data_hi + span * room), (0.0, 1.0))

    def centre(index: int) -> float:
        return panel.top + (index + 0.5) * row

    half = row * _BAR_HEIGHT / 2
    x0, x100 = panel.x(0.0), panel.x(100.0)
    grid = [x for x in range(-100, 201, 50) if x not in (0, 100) and x_lo < x <= data_hi]
    sheet.segments([[(panel.x(x), panel.top), (panel.x(x), panel.bottom)] for x in grid], _GRID_COLOR, 1.0, 0)
    sheet.segments([[(x0, panel.top), (x0, panel.bottom)]], _SPINE_COLOR, 1.0, 0.5)
    # The 100 % line sits behind the tracks: it shows between the rows and never runs through a bar.
    sheet.segments([[(x100, panel.top), (x100, panel.bottom)]], _REF_COLOR, 1.4, 0.5)
    texts.add(x100, panel.top - 4, "100%", _TICK_PT - 1, _REF_COLOR, ha="center", va="bottom")
    sheet.boxes([(x0, centre(i) - half, x100, centre(i) + half) for i in range(count) if ratios[i] is not None],
                _TRACK_COLOR, 1)
    sheet.boxes([(min(x0, panel.x(e)), centre(i) - half, max(x0, panel.x(e)), centre(i) + half)
                 for i, e in enumerate(ends)], colors, 2)

    for index, (name, pct, end, text, color) in enumerate(zip(names, pcts, ends, labels, colors, strict=True)):
        y, x = centre(index), panel.x(end)
        texts.add(left - _GAP_IN * _DPI, y, name, name_pt, ha="right", va="center")
        if pct is None:  # no bar, no track: the note ("no pace yet") or a dash
            texts.add(x + _LABEL_OFFSET_PX, y, text, name_pt, _MUTED_COLOR, va="center")
        elif pct > _BAR_CAP_PCT:  # the bar runs to the cap; its label goes inside the bar's end
            texts.add(x - _LABEL_OFFSET_PX, y, text, name_pt, "white", ha="right", va="center")
        elif end < 0:
            texts.add(x - _LABEL_OFFSET_PX, y, text, name_pt, color, ha="right", va="center")
        else:
            if end < 100 and x + _LABEL_OFFSET_PX + texts.width(text, name_pt) > x100 - 3:
                x = x100  # it would run through the 100 % line: put it just past the line instead
            texts.add(x + _LABEL_OFFSET_PX, y, text, name_pt, color, va="center")


def draw(chart: DigestChart, font_family: Sequence[str]) -> bytes:
    """Draw *chart* with the given font fallback list and return PNG bytes."""
    sheet = _Sheet(_height_in(len(chart.members)), font_family)
    full_width = (_WIDTH_IN - _EDGE_IN - _RIGHT_IN) * _DPI
    title = sheet.texts.fit(_one_line(chart.title), _TITLE_PT, full_width)
    sheet.texts.add(_EDGE_IN * _DPI, _TOP_PAD_IN * _DPI, title, _TITLE_PT, va="top")
    line_top = (_TOP_PAD_IN + _TITLE_IN + _KEY_IN) * _DPI
    line_bottom = _draw_progress(sheet, chart, line_top, line_top - 0.26 * _DPI)
    bars_top = line_bottom + (_DAYS_IN + _BAR_HEADER_IN) * _DPI
    label = sheet.texts.fit(_one_line(chart.achievement_label), _PANEL_TITLE_PT, full_width)
    sheet.texts.add(_EDGE_IN * _DPI, bars_top - 0.4 * _DPI, label, _PANEL_TITLE_PT, va="center")
    _draw_members(sheet, chart, bars_top)
    return sheet.png()
