"""Phone-friendly PNG progress charts (cumulative actual vs. linear target).

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

__all__ = ["ProgressChart", "chart_key", "render_progress_chart"]

FONT_FAMILY: tuple[str, ...] = ("Noto Sans CJK SC", "DejaVu Sans")
"""Font fallback list: CJK first, DejaVu Sans for anything it lacks."""

_FONT_PACKAGE = "mplfonts"
_FONT_FILE = "NotoSansCJKsc-Regular.otf"

# Bump when the drawing changes so cached images keyed by chart_key() expire.
_RENDER_VERSION = 1

_WIDTH_IN, _HEIGHT_IN, _DPI = 7.2, 4.0, 100  # -> 720 x 400 px

_ACTUAL_COLOR = "#2563eb"
_TARGET_COLOR = "#6b7280"
_GRID_COLOR = "#e5e7eb"
_TEXT_COLOR = "#111827"

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

    def __post_init__(self) -> None:
        """Validate that there is one value per day."""
        if not self.day_labels:
            raise ValueError("ProgressChart needs at least one day label")
        if len(self.cumulative) != len(self.day_labels):
            got, want = len(self.cumulative), len(self.day_labels)
            raise ValueError(f"cumulative has {got} values but {want} day labels")


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
    x: int, y: float, n: int, target: float, known: Sequence[tuple[int, float]]
) -> dict[str, object]:
    """Put the latest-value label on the side away from the target line."""
    values = [v for _, v in known] + [0.0, target]
    low, high = min(values), max(values)
    low_in_plot = high > low and (y - low) / (high - low) < 0.2
    above = y >= target * x / n or low_in_plot
    to_right = x <= n * 0.3 or (not above and x < n - 3)
    return {
        "xytext": (8 if to_right else -8, 8 if above else -8),
        "textcoords": "offset points",
        "ha": "left" if to_right else "right",
        "va": "bottom" if above else "top",
    }


def _render(chart: ProgressChart, font_family: Sequence[str]) -> bytes:
    """Draw *chart* with the given font fallback list and return PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.layout_engine import TightLayoutEngine
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    family = list(font_family)
    n = len(chart.day_labels)
    values = [math.nan if v is None else float(v) for v in chart.cumulative]
    known = [(i, v) for i, v in enumerate(values) if not math.isnan(v)]

    # x = day number (1..n); day 0 is the origin where both lines start at 0.
    xs = list(range(n + 1))
    actual = [0.0, *values]
    target = float(chart.target_total)

    fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor("white")

    ax.plot(
        [0, n],
        [0.0, target],
        linestyle=(0, (6, 4)),
        linewidth=2.0,
        color=_TARGET_COLOR,
        label=chart.target_label,
        zorder=2,
    )
    if known:
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
        ax.annotate(
            _format_value(last_v),
            xy=(last_x, last_v),
            **_annotation_placement(last_x, last_v, n, target, known),
            fontsize=_ANNOT_PT,
            fontfamily=family,
            color=_ACTUAL_COLOR,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )
    else:
        # Nothing reached yet: keep the legend entry so the key stays stable.
        ax.plot([], [], color=_ACTUAL_COLOR, linewidth=2.5, label=chart.actual_label)

    finite = [target, 0.0, *(v for _, v in known)]
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

    ax.legend(loc="best", frameon=False, prop=FontProperties(family=family, size=_LEGEND_PT))
    # Same as fig.tight_layout(), but without leaving a placeholder layout
    # engine on the figure, which would make savefig() do a second draw pass.
    TightLayoutEngine().execute(fig)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def render_progress_chart(chart: ProgressChart) -> bytes:
    """PNG bytes."""
    _ensure_font()
    with _render_lock:
        return _render(chart, FONT_FAMILY)
