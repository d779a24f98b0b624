"""Phone-friendly PNG progress charts: cumulative actual vs. linear target, with the amount expected by now
marked on the target line and the gap to it; or, for a level metric (ROI, a rate), the month-to-date value as
of each day against a flat target.

Figures are built with ``matplotlib.figure.Figure`` + ``FigureCanvasAgg``;
pyplot and global rcParams are never touched. Chinese text is rendered with
Noto Sans CJK SC shipped inside the ``mplfonts`` wheel, with DejaVu Sans as
per-glyph fallback.

matplotlib is imported when the first chart is drawn, not with this module:
every `kpibot` command imports the commands that describe charts, and most
draw none.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ProgressChart", "chart_key", "render_progress_chart"]

FONT_FAMILY: tuple[str, ...] = ("Noto Sans CJK SC", "DejaVu Sans")
"""Font fallback list: CJK first, DejaVu Sans for anything it lacks."""

_FONT_PACKAGE = "mplfonts"
_FONT_FILE = "NotoSansCJKsc-Regular.otf"

# Bump when the drawing changes so cached images keyed by chart_key() expire.
_RENDER_VERSION = 3

_WIDTH_IN, _HEIGHT_IN, _DPI = 7.2, 4.0, 100  # -> 720 x 400 px

_ACTUAL_COLOR = "#2563eb"
_TARGET_COLOR = "#6b7280"
_GRID_COLOR = "#e5e7eb"
_TEXT_COLOR = "#111827"
_AHEAD_COLOR = "#15803d"  # the gap to expected-by-now when at or above it
_BEHIND_COLOR = "#dc2626"  # ... and when below it

_TITLE_PT = 13.0
_LABEL_PT = 11.0
_TICK_PT = 10.0
_LEGEND_PT = 10.0
_ANNOT_PT = 11.0

_font_lock = threading.Lock()
_font_ready = False
# Matplotlib does not promise thread safety; serialise drawing to be safe.
_render_lock = threading.Lock()


@dataclass(frozen=True)
class ProgressChart:
    """Cumulative daily progress of one metric against its target line."""

    title: str  # may contain Chinese, e.g. "林小雨 · 2026-11 GMV"
    day_labels: tuple[str, ...]  # one label per day of the period: ("1", ..., "30")
    cumulative: tuple[float | None, ...]  # cumulative actual per day; None = not reached yet
    target_total: float  # full-period target; the target line runs linearly 0 -> this
    unit: str  # axis unit label, e.g. "USD" or "单"
    target_label: str = "Target"  # legend label, passed in already translated ("目标")
    actual_label: str = "Actual"  # legend label, passed in already translated ("实际")
    expected_now: float | None = None  # cumulative value expected by now (the result's `expected`): marked
    now_index: int | None = None  # index of today in day_labels: where the expected-by-now mark goes
    gap_label: str = "{gap} vs expected"  # the gap's wording, already translated; {gap} is "+1,234" / "-1,234"
    cumulative_line: bool = True  # False: a level metric; values are month-to-date levels, the target is flat
    # the target expected by the end of each day (the team's usual shape, scoring.shape); None: a straight line
    target_path: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """Validate that there is one value per day and that today is one of them."""
        if not self.day_labels:
            raise ValueError("ProgressChart needs at least one day label")
        if len(self.cumulative) != len(self.day_labels):
            got, want = len(self.cumulative), len(self.day_labels)
            raise ValueError(f"cumulative has {got} values but {want} day labels")
        if self.target_path is not None and len(self.target_path) != len(self.day_labels):
            raise ValueError(f"target_path has {len(self.target_path)} values but {len(self.day_labels)} day labels")
        if self.now_index is not None and not 0 <= self.now_index < len(self.day_labels):
            raise ValueError(f"now_index {self.now_index} is outside the {len(self.day_labels)} days")

    @property
    def expected_mark(self) -> tuple[int, float] | None:
        """(day index, expected value) of the expected-by-now mark, when there is one to draw."""
        if not self.cumulative_line or self.expected_now is None or self.now_index is None:
            return None
        return self.now_index, float(self.expected_now)

    @property
    def actual_now(self) -> float | None:
        """The actual at today's mark: the latest value reached by today, 0 when none yet (nothing sold is 0)."""
        mark = self.expected_mark
        if mark is None:
            return None
        reached = [v for v in self.cumulative[: mark[0] + 1] if v is not None]
        return reached[-1] if reached else 0.0


def _font_path() -> Path:
    """Locate the bundled Noto Sans CJK SC file without importing mplfonts."""
    spec = importlib.util.find_spec(_FONT_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "fonts" / _FONT_FILE
        if candidate.is_file():
            return candidate
    raise RuntimeError(
        f"Chart font {_FONT_FILE} not found: install the '{_FONT_PACKAGE}' "
        f"package (pip install {_FONT_PACKAGE}) so Chinese text can be rendered."
    )


def _ensure_font() -> None:
    """Register the CJK font with matplotlib's font manager exactly once."""
    global _font_ready
    if _font_ready:
        return
    with _font_lock:
        if _font_ready:
            return
        from matplotlib import font_manager

        path = _font_path()
        manager = font_manager.fontManager
        if not any(Path(entry.fname) == path for entry in manager.ttflist):
            manager.addfont(str(path))
        _font_ready = True


def chart_key(chart: ProgressChart) -> str:
    """Stable sha256 hex of the chart's content (for image caching)."""

    def num(value: float) -> float:
        return float(value) + 0.0  # 5 == 5.0 and -0.0 == 0.0 hash alike

    payload = {
        "v": _RENDER_VERSION,
        "title": chart.title,
        "day_labels": list(chart.day_labels),
        "cumulative": [None if v is None else num(v) for v in chart.cumulative],
        "target_total": num(chart.target_total),
        "unit": chart.unit,
        "target_label": chart.target_label,
        "actual_label": chart.actual_label,
        "expected_now": None if chart.expected_now is None else num(chart.expected_now),
        "now_index": chart.now_index,
        "gap_label": chart.gap_label,
        "cumulative_line": chart.cumulative_line,
        "target_path": None if chart.target_path is None else [num(v) for v in chart.target_path],
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _strip_zeros(text: str) -> str:
    """Drop trailing fractional zeros: '2.50' -> '2.5', '3.00' -> '3'."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _axis_formatter(span: float) -> Callable[[float, int | None], str]:
    """Tick formatter with one suffix (none/K/M) chosen for the whole axis."""
    if span >= 1_000_000:
        scale, suffix = 1_000_000.0, "M"
    elif span >= 10_000:
        scale, suffix = 1_000.0, "K"
    else:
        scale, suffix = 1.0, ""

    def fmt(value: float, _pos: int | None = None) -> str:
        scaled = value / scale
        if scaled == 0:
            return "0"
        return _strip_zeros(f"{scaled:,.2f}") + suffix

    return fmt


def _format_value(value: float) -> str:
    """Compact label for the annotated latest value, e.g. 12,345 or 1.25M."""
    if abs(value) >= 1_000_000:
        return _strip_zeros(f"{value / 1_000_000:,.2f}") + "M"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _tick_indices(n: int) -> list[int]:
    """0-based day indices to label: ~every 5th day for a month, plus the last."""
    if n <= 10:
        return list(range(n))
    step = max(1, round(n / 6))
    picked = {0, n - 1} | {i for i in range(n) if (i + 1) % step == 0}
    last = n - 1
    return sorted(i for i in picked if i == last or last - i >= step / 2)


def _annotation_placement(
    x: int, y: float, n: int, target: float, known: Sequence[tuple[int, float]], flat: bool = False
) -> dict[str, object]:
    """Put the latest-value label on the side away from the target line (`flat`: a level target)."""
    values = [v for _, v in known] + [0.0, target]
    low, high = min(values), max(values)
    low_in_plot = high > low and (y - low) / (high - low) < 0.2
    above = y >= (target if flat else target * x / n) or low_in_plot
    to_right = x <= n * 0.3 or ((flat or not above) and x < n - 3)
    return {
        "xytext": (8 if to_right else -8, 8 if above else -8),
        "textcoords": "offset points",
        "ha": "left" if to_right else "right",
        "va": "bottom" if above else "top",
    }


def mark_x(now_i: int, expected: float, path: Sequence[float] | None) -> float:
    """Where today's expected-by-now mark sits on the x axis (day d ends at x = d + 1): on the target path, between
    the end of yesterday and the end of today; at today's end on a straight target line."""
    if not path:
        return now_i + 1
    before, after = (path[now_i - 1] if now_i > 0 else 0.0), path[now_i]
    if after <= before:
        return now_i + 1
    return now_i + min(1.0, max(0.0, (expected - before) / (after - before)))


def gap_text(gap: float, template: str) -> str:
    """"+1,234 vs expected" / "-1,234 vs expected"; a gap that rounds to nothing shows as 0."""
    shown = _format_value(abs(gap))
    if not any(digit in shown for digit in "123456789"):   # "0", "0.0"
        return template.format(gap="0")
    return template.format(gap=("+" if gap > 0 else "-") + shown)


def _overlaps(a: object, b: object, renderer: object) -> bool:
    box_a, box_b = a.get_window_extent(renderer), b.get_window_extent(renderer)  # type: ignore[attr-defined]
    return bool(box_a.overlaps(box_b))


def _inside(artist: object, fig: object, renderer: object) -> bool:
    box = artist.get_window_extent(renderer)  # type: ignore[attr-defined]
    frame = fig.bbox  # type: ignore[attr-defined]
    return bool(box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1)


def _figure(chart: ProgressChart, font_family: Sequence[str]) -> Figure:
    """The laid-out figure of *chart*; its texts are the title, the latest value and (with a mark) the gap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.layout_engine import TightLayoutEngine
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    family = list(font_family)
    n = len(chart.day_labels)
    level = not chart.cumulative_line
    values = [math.nan if v is None else float(v) for v in chart.cumulative]
    known = [(i, v) for i, v in enumerate(values) if not math.isnan(v)]

    # x = day number (1..n); for a cumulative metric day 0 is the origin where both lines start at 0.
    xs = list(range(1, n + 1)) if level else list(range(n + 1))
    actual = values if level else [0.0, *values]
    target = float(chart.target_total)
    mark = chart.expected_mark

    fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor("white")

    path = chart.target_path if not level else None
    ax.plot(
        (list(range(n + 1)) if path else [0, n]) if not level else [0.5, n + 0.5],
        ([0.0, *path] if path else [0.0, target]) if not level else [target, target],
        linestyle=(0, (6, 4)),
        linewidth=2.0,
        color=_TARGET_COLOR,
        label=chart.target_label,
        zorder=2,
    )
    value_label = None
    if known:
        if not level:
            ax.fill_between(
                xs,
                actual,
                0.0,
                where=[not math.isnan(v) for v in actual],
                color=_ACTUAL_COLOR,
                alpha=0.15,
                linewidth=0,
                zorder=1,
            )
        ax.plot(
            xs,
            actual,
            color=_ACTUAL_COLOR,
            linewidth=2.5,
            marker="o" if level else None,
            markersize=3.5,
            label=chart.actual_label,
            zorder=3,
        )
        last_i, last_v = known[-1]
        last_x = last_i + 1
        ax.plot(
            [last_x],
            [last_v],
            marker="o",
            markersize=7,
            color=_ACTUAL_COLOR,
            markeredgecolor="white",
            markeredgewidth=1.5,
            zorder=4,
        )
        value_label = ax.annotate(
            _format_value(last_v),
            xy=(last_x, last_v),
            **_annotation_placement(last_x, last_v, n, target, known, flat=level),
            fontsize=_ANNOT_PT,
            fontfamily=family,
            color=_ACTUAL_COLOR,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )
    else:
        # Nothing reached yet: keep the legend entry so the key stays stable.
        ax.plot([], [], color=_ACTUAL_COLOR, linewidth=2.5, label=chart.actual_label)

    gap_label = None
    if mark is not None:
        now_i, expected = mark
        now_x = mark_x(now_i, expected, path)
        actual_now = chart.actual_now or 0.0
        gap = actual_now - expected
        color = _AHEAD_COLOR if gap >= 0 else _BEHIND_COLOR
        # the gap itself: a thin bar between the actual and the expected value at today
        ax.plot([now_x, now_x], [actual_now, expected], color=color, linewidth=1.6, zorder=3.5)
        ax.plot(
            [now_x],
            [expected],
            marker="D",
            markersize=7,
            color="white",
            markeredgecolor=_TARGET_COLOR,
            markeredgewidth=2.0,
            linestyle="none",
            zorder=4,
        )
        up_first = expected >= actual_now  # away from the actual's point, so away from its label
        right_first = now_x <= n * 0.6
        candidates = [
            (up, right)
            for up in (up_first, not up_first)
            for right in (right_first, not right_first)
        ]
        gap_label = ax.annotate(
            gap_text(gap, chart.gap_label),
            xy=(now_x, expected),
            xytext=(0, 0),
            textcoords="offset points",
            fontsize=_ANNOT_PT,
            fontfamily=family,
            color=color,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )
        gap_label.set_in_layout(False)  # placed after the layout, inside the figure (below)

    finite = [target, 0.0, *(v for _, v in known)]
    if mark is not None:
        finite.append(mark[1])
    low, high = min(finite), max(finite)
    if high == low:
        high = low + 1.0
    pad = (high - low) * 0.15
    ax.set_ylim(low - pad if low < 0 else 0.0, high + pad)
    ax.set_xlim(0, n + 0.5)

    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(FuncFormatter(_axis_formatter(max(abs(low), abs(high)))))

    ticks = _tick_indices(n)
    ax.set_xticks(
        [i + 1 for i in ticks],
        [chart.day_labels[i] for i in ticks],
        fontsize=_TICK_PT,
        fontfamily=family,
    )
    ax.tick_params(axis="both", labelsize=_TICK_PT, labelfontfamily=family, colors=_TEXT_COLOR, length=3)

    ax.set_title(chart.title, fontsize=_TITLE_PT, fontfamily=family, color=_TEXT_COLOR, loc="left", pad=20)
    if chart.unit:
        # Horizontal, above the tick labels: rotated CJK is hard to read.
        ax.set_ylabel(
            chart.unit, fontsize=_LABEL_PT, fontfamily=family, color=_TEXT_COLOR, rotation=0, ha="right", va="bottom"
        )
        ax.yaxis.set_label_coords(-0.01, 1.0)

    ax.grid(axis="y", color=_GRID_COLOR, linewidth=1.0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9ca3af")

    # A cumulative line starts at 0: the upper left is free for the legend (and the gap label moves off it).
    ax.legend(loc="best" if level else "upper left", frameon=False, prop=FontProperties(family=family, size=_LEGEND_PT))
    # Same as fig.tight_layout(), but without leaving a placeholder layout
    # engine on the figure, which would make savefig() do a second draw pass.
    TightLayoutEngine().execute(fig)

    if gap_label is not None:
        renderer = canvas.get_renderer()
        legend = ax.get_legend()
        for up, right in candidates:
            gap_label.set_position((8 if right else -8, 10 if up else -10))
            gap_label.set_horizontalalignment("left" if right else "right")
            gap_label.set_verticalalignment("bottom" if up else "top")
            clear = value_label is None or not _overlaps(gap_label, value_label, renderer)
            if clear and not _overlaps(gap_label, legend, renderer) and _inside(gap_label, fig, renderer):
                break
    return fig


def _render(chart: ProgressChart, font_family: Sequence[str]) -> bytes:
    """Draw *chart* with the given font fallback list and return PNG bytes."""
    fig = _figure(chart, font_family)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def render_progress_chart(chart: ProgressChart) -> bytes:
    """PNG bytes."""
    _ensure_font()
    with _render_lock:
        return _render(chart, FONT_FAMILY)
