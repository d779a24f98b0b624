"""VChart specs for Feishu's native `chart` card component, from the same chart data the PNGs are drawn from.

Feishu draws the spec on the phone (crisp, tappable). Its documented limits shape what is used here: plain JSON
only (no JavaScript: no formatter or style callbacks, so colours come from ordinal scales and constant styles),
and none of the features that fail to load on mobile (bar textures, conical gradients, grid word clouds,
repeated extensionMark images, SVG bar backgrounds). Numbers are plain JSON floats: they are only displayed.

A progress chart is one line spec; a digest chart is two (team line, member bars), as its PNG has two panels.
"""

from __future__ import annotations

import math
from typing import Any

from cards.charts import ProgressChart, gap_text
from cards.digest_chart import DigestChart

__all__ = ["bars_height_px", "digest_specs", "progress_spec"]

Spec = dict[str, Any]

ACTUAL_COLOR = "#2563eb"   # the PNGs' colours (cards.charts, cards.digest_drawing)
TARGET_COLOR = "#6b7280"
WARN_COLOR = "#ea580c"
REF_COLOR = "#4b5563"
LAGGING_MARK = " ⚠"        # appended to the achievement label: the laggards' series name, shown in tooltips
_DASH = [6, 4]


def _number(value: float | None, digits: int = 2) -> float | None:
    """A finite value rounded for display; None (JSON null: a gap) for no value, NaN or infinity."""
    if value is None:
        return None
    number = float(value)
    return round(number, digits) + 0.0 if math.isfinite(number) else None


def _title(text: str) -> dict[str, Any]:
    return {"visible": True, "text": " ".join(text.split())}


def _dashed(color: str) -> dict[str, Any]:
    return {"style": {"stroke": color, "lineWidth": 2, "lineDash": _DASH}}


def _target_mark(day_labels: tuple[str, ...], target: float, label: str,
                 path: tuple[float, ...] | None = None) -> dict[str, Any]:
    """The dashed target: through the target expected by the end of each day (`path`: the team's usual shape), else
    a straight line from the first day's share to the full target on the last day; autoRange lets it widen the
    value axis."""
    if path:
        coordinates = [{"day": day, "value": _number(value)} for day, value in zip(day_labels, path, strict=True)]
    else:
        share = _number(target / len(day_labels))
        coordinates = [{"day": day_labels[0], "value": share}, {"day": day_labels[-1], "value": target}]
    return {
        "coordinates": coordinates,
        "autoRange": True,
        "line": _dashed(TARGET_COLOR),
        "endSymbol": {"visible": False},
        "label": {"visible": True, "text": label, "position": "insideEndTop"},
    }


def _cumulative_line(title: str, day_labels: tuple[str, ...], cumulative: tuple[float | None, ...],
                     target_total: float | None, unit: str, actual_label: str, target_label: str) -> Spec:
    """Cumulative actual per day (null where not reached: the line stops) and the dashed target line.

    Every day is in the data, so the x axis always spans the whole period."""
    values = [{"day": day, "value": _number(value), "series": actual_label}
              for day, value in zip(day_labels, cumulative, strict=True)]
    spec: Spec = {
        "type": "line",
        "title": _title(title),
        "data": [{"id": "actual", "values": values}],
        "xField": "day",
        "yField": "value",
        "seriesField": "series",
        "color": [ACTUAL_COLOR],
        "line": {"style": {"lineWidth": 3}},
        "point": {"visible": False},
        "axes": [
            {"orient": "bottom", "type": "band"},
            {"orient": "left", "type": "linear", "title": {"visible": bool(unit), "text": unit}},
        ],
        "legends": {"visible": True, "orient": "top", "position": "end"},
    }
    target = _number(target_total)
    if target is not None:
        spec["markLine"] = [_target_mark(day_labels, target, target_label)]
    return spec


def _flat_target(target: float, label: str) -> dict[str, Any]:
    """A level metric's target (ROI, hit rate): one dashed horizontal line."""
    return {"y": target, "autoRange": True, "line": _dashed(TARGET_COLOR), "endSymbol": {"visible": False},
            "label": {"visible": True, "text": label, "position": "insideEndTop"}}


def _expected_point(chart: ProgressChart) -> dict[str, Any] | None:
    """The expected-by-now mark on the target path at today, labelled with the gap ("-1,234 vs expected"), as
    the PNG draws it (cards.charts); none for a level metric or without an expected value."""
    mark = chart.expected_mark
    if mark is None:
        return None
    index, expected = mark
    gap = (chart.actual_now or 0.0) - expected
    colour = "#dc2626" if gap < 0 else "#16a34a"
    return {
        "coordinate": {"day": chart.day_labels[index], "value": _number(expected)},
        "itemLine": {"visible": False},
        "targetSymbol": {"visible": True, "style": {"symbolType": "diamond", "size": 10, "fill": TARGET_COLOR}},
        "itemContent": {"type": "text", "confine": True, "offsetY": 18,
                        "text": {"text": gap_text(gap, chart.gap_label), "style": {"fill": colour, "fontSize": 12}}},
    }


def progress_spec(chart: ProgressChart) -> Spec:
    """One member's month: cumulative actual against the dashed target line and the expected-by-now mark; for a
    level metric (ROI, hit rate: `cumulative_line` False) its month-to-date value per day against a flat target."""
    spec = _cumulative_line(chart.title, chart.day_labels, chart.cumulative, chart.target_total, chart.unit,
                            chart.actual_label, chart.target_label)
    target = _number(chart.target_total)
    if not chart.cumulative_line and target is not None:
        spec["markLine"] = [_flat_target(target, chart.target_label)]
    elif chart.target_path is not None and target is not None:
        spec["markLine"] = [_target_mark(chart.day_labels, target, chart.target_label, chart.target_path)]
    point = _expected_point(chart)
    if point is not None:
        spec["markPoint"] = [point]
    return spec


def _member_bars(chart: DigestChart) -> Spec:
    """One horizontal bar per member: their pace in percent (100 % = on pace), laggards in the warning colour, a
    dashed line at 100 %."""
    ok, lagging = chart.achievement_label, chart.achievement_label + LAGGING_MARK
    # a member without a bar ("no pace yet") says so after their name, as the PNG writes it in place of the bar
    values = [{"name": " ".join(name.split()) + ("" if _number(ratio) is not None else f" · {chart.note(i)}"),
               "value": None if _number(ratio) is None else _number(float(ratio) * 100, 1),
               "state": lagging if late else ok}
              for i, (name, ratio, late) in enumerate(chart.members)]
    return {
        "type": "bar",
        "direction": "horizontal",
        "title": _title(chart.achievement_label),
        "data": [{"id": "members", "values": values}],
        "xField": "value",
        "yField": "name",
        "seriesField": "state",
        "color": {"type": "ordinal", "domain": [ok, lagging], "range": [ACTUAL_COLOR, WARN_COLOR]},
        "axes": [
            {"orient": "left", "type": "band"},
            {"orient": "bottom", "type": "linear", "min": 0, "title": {"visible": True, "text": "%"}},
        ],
        "legends": {"visible": False},
        "markLine": [{
            "x": 100,
            "autoRange": True,
            "line": _dashed(REF_COLOR),
            "endSymbol": {"visible": False},
            "label": {"visible": True, "text": "100%", "position": "end"},
        }],
    }


def digest_specs(chart: DigestChart) -> tuple[Spec, Spec]:
    """A lead's digest: the team's cumulative line, then the member bars."""
    team = _cumulative_line(chart.title, chart.day_labels, chart.cumulative, chart.target_total, chart.unit,
                            chart.actual_label, chart.target_label)
    return team, _member_bars(chart)


def bars_height_px(chart: DigestChart) -> int:
    """Height of the member bars: 28 px a member plus title and axis, within Feishu's 1-999 px."""
    return min(999, 96 + 28 * max(len(chart.members), 4))

