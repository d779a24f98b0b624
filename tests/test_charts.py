"""Tests for cards.charts: PNG output, CJK glyph coverage, determinism, edge cases."""

from __future__ import annotations

import dataclasses
import struct
import warnings

import pytest

from cards import charts
from cards.charts import ProgressChart, chart_key, render_progress_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

DAYS_30 = tuple(str(day) for day in range(1, 31))


def _zh_chart() -> ProgressChart:
    values = tuple(float(4_000 * day + 137) for day in range(1, 13))
    return ProgressChart(
        title="林小雨 · 2026-11 GMV",
        day_labels=DAYS_30,
        cumulative=values + (None,) * 18,
        target_total=120_000.0,
        unit="单",
        target_label="目标",
        actual_label="实际",
    )


def _png_size(png: bytes) -> tuple[int, int]:
    # Signature (8) + chunk length (4) + chunk type (4), then IHDR width/height.
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_renders_png_of_phone_size() -> None:
    png = render_progress_chart(_zh_chart())
    assert png[:8] == PNG_SIGNATURE
    assert _png_size(png) == (720, 400)


def test_chinese_text_emits_no_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_progress_chart(_zh_chart())
    assert png[:8] == PNG_SIGNATURE


def test_missing_glyphs_are_detected_without_cjk_font() -> None:
    # Same drawing code, but with a Latin-only font: this must warn, which
    # proves test_chinese_text_emits_no_warnings would catch missing glyphs.
    with pytest.warns(UserWarning, match="missing from font"):
        charts._render(_zh_chart(), ("DejaVu Sans",))


def test_same_chart_renders_identical_bytes() -> None:
    chart = _zh_chart()
    assert render_progress_chart(chart) == render_progress_chart(chart)


def test_chart_key_is_stable_and_content_sensitive() -> None:
    chart = _zh_chart()
    twin = _zh_chart()
    assert twin is not chart
    assert chart_key(chart) == chart_key(twin)
    assert len(chart_key(chart)) == 64
    assert int(chart_key(chart), 16) >= 0  # hex digest

    changed_values = list(chart.cumulative)
    changed_values[5] = 1.0
    changed = dataclasses.replace(chart, cumulative=tuple(changed_values))
    assert chart_key(changed) != chart_key(chart)
    assert chart_key(dataclasses.replace(chart, title="Other")) != chart_key(chart)


def test_chart_key_treats_equal_numbers_alike() -> None:
    chart = _zh_chart()
    as_int = dataclasses.replace(chart, target_total=120_000)
    assert as_int == chart
    assert chart_key(as_int) == chart_key(chart)


def test_all_none_start_of_month_renders() -> None:
    chart = dataclasses.replace(_zh_chart(), cumulative=(None,) * 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_progress_chart(chart)
    assert png[:8] == PNG_SIGNATURE
    assert _png_size(png) == (720, 400)


def test_zero_target_renders() -> None:
    chart = dataclasses.replace(_zh_chart(), target_total=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_progress_chart(chart)
    assert png[:8] == PNG_SIGNATURE
    assert _png_size(png) == (720, 400)


def test_zero_target_and_no_values_renders() -> None:
    chart = dataclasses.replace(_zh_chart(), target_total=0.0, cumulative=(None,) * 30)
    png = render_progress_chart(chart)
    assert _png_size(png) == (720, 400)


def test_mismatched_lengths_rejected() -> None:
    with pytest.raises(ValueError, match="cumulative has 2 values"):
        ProgressChart("t", ("1", "2", "3"), (1.0, 2.0), 10.0, "USD")


def test_tick_thinning_for_a_month() -> None:
    assert charts._tick_indices(30) == [0, 4, 9, 14, 19, 24, 29]
    # Day 30 would crowd day 31, so it is dropped in favour of the last day.
    assert charts._tick_indices(31) == [0, 4, 9, 14, 19, 24, 30]
    assert charts._tick_indices(7) == [0, 1, 2, 3, 4, 5, 6]


def test_axis_formatter_uses_separators_and_suffixes() -> None:
    assert charts._axis_formatter(5_000)(2_500.0) == "2,500"
    assert charts._axis_formatter(120_000)(30_000.0) == "30K"
    assert charts._axis_formatter(120_000)(2_500.0) == "2.5K"
    assert charts._axis_formatter(3_000_000)(1_500_000.0) == "1.5M"
    assert charts._axis_formatter(3_000_000)(0.0) == "0"


def test_missing_font_package_raises_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(charts, "_FONT_PACKAGE", "no_such_font_pkg_for_tests")
    with pytest.raises(RuntimeError, match="install the 'no_such_font_pkg_for_tests'"):
        charts._font_path()


def test_small_fractional_ticks_are_not_rounded_away() -> None:
    fmt = charts._axis_formatter(1.0)
    assert fmt(0.25) == "0.25"
    assert fmt(1_000.0) == "1,000"
    assert charts._format_value(1_250_000.0) == "1.25M"
    assert charts._format_value(2_000_000.0) == "2M"
    assert charts._format_value(12_345.6) == "12,346"
