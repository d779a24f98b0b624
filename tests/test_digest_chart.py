"""Tests for cards.digest_chart: PNG output and size, CJK glyph coverage, keys, caching, validation."""

from __future__ import annotations

import dataclasses
import io
import struct
import warnings

import pytest
from PIL import Image as PILImage

from cards import digest_chart, digest_drawing
from cards.chart_cache import ChartCache
from cards.charts import ProgressChart, chart_key
from cards.digest_chart import DigestChart, digest_chart_key, digest_chart_size, render_digest_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

DAYS_30 = tuple(str(day) for day in range(1, 31))

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡"
LATIN = ("Olivia Martin", "Ethan Brown", "Sophia Nguyen", "Liam O'Connor", "Ava Kowalski")


def _zh_chart() -> DigestChart:
    values = tuple(float(4_137 * day) for day in range(1, 18))
    return DigestChart(
        title="北区团队 Team North · 2026-11",
        day_labels=DAYS_30,
        cumulative=values + (None,) * 13,
        target_total=150_000.0,
        unit="元",
        members=(
            ("林小雨", 1.32, False),
            ("Alexander Richardson-Smith", 1.05, False),
            ("王 Wei", 0.998, False),
            ("欧阳娜娜", 0.71, True),
            ("Chen Jie 陈杰", 0.43, True),
            ("新同事", None, False),
        ),
        actual_label="实际",
        target_label="目标",
        achievement_label="达成率",
    )


def _thirty_members() -> DigestChart:
    members = []
    for i in range(30):
        name = LATIN[i % 5] if i % 4 == 3 else SURNAMES[i % 15] + "小雨"[i % 2] + ("明" if i % 3 else "")
        ratio = 1.6 - i * 0.045
        members.append((name, ratio, ratio < 0.8))
    cumulative = tuple(5_300.0 * day for day in range(1, 31))
    return dataclasses.replace(_zh_chart(), cumulative=cumulative, members=tuple(members))


def _png_size(png: bytes) -> tuple[int, int]:
    # Signature (8) + chunk length (4) + chunk type (4), then IHDR width/height.
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_renders_png_of_chosen_size() -> None:
    png = render_digest_chart(_zh_chart())
    assert png[:8] == PNG_SIGNATURE
    assert _png_size(png) == (720, 675) == digest_chart_size(6)


def test_png_decodes_to_an_opaque_image_of_that_size() -> None:
    png = render_digest_chart(_zh_chart())
    with PILImage.open(io.BytesIO(png)) as image:
        image.load()  # decompresses every row: checks the IDAT stream and the CRCs
        assert image.size == (720, 675)
        assert image.mode == "RGB"
        assert image.getpixel((0, 0)) == (255, 255, 255)
        colours = {colour for _, colour in image.getcolors(maxcolors=1_000_000)}
    assert (0x25, 0x63, 0xEB) in colours  # the "actual" blue of the line and normal bars
    assert (0xEA, 0x58, 0x0C) in colours  # the warning orange of the laggards' bars


def test_thirty_members_get_a_taller_image() -> None:
    png = render_digest_chart(_thirty_members())
    assert _png_size(png) == (720, 1317) == digest_chart_size(30)
    sizes = [digest_chart_size(n)[1] for n in range(0, 41)]
    assert sizes == sorted(sizes)  # a bigger team never gets a shorter image
    assert sizes[0] == sizes[4] == 599  # an empty or tiny team still gets a full panel


def test_chinese_text_emits_no_warnings() -> None:
    # Title, unit, legend, panel title and names all contain Chinese.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_digest_chart(_zh_chart())
        render_digest_chart(_thirty_members())
    assert png[:8] == PNG_SIGNATURE


def test_missing_glyphs_are_detected_without_cjk_font() -> None:
    # Same drawing code with a Latin-only font must warn, which proves the test above would
    # catch a missing glyph in the strings this module draws itself.
    with pytest.warns(UserWarning, match="missing from font"):
        digest_chart._render(_zh_chart(), ("DejaVu Sans",))


def test_missing_glyph_in_a_member_name_alone_is_detected() -> None:
    latin = dataclasses.replace(
        _zh_chart(),
        title="Team North",
        unit="USD",
        members=(("Bob", 0.5, True), ("林小雨", 1.2, False)),
        actual_label="Actual",
        target_label="Target",
        achievement_label="Achievement",
    )
    with pytest.warns(UserWarning, match="missing from font"):
        digest_chart._render(latin, ("DejaVu Sans",))


def test_same_chart_renders_identical_bytes() -> None:
    chart = _zh_chart()
    assert render_digest_chart(chart) == render_digest_chart(chart)


def test_key_is_stable_and_content_sensitive() -> None:
    chart, twin = _zh_chart(), _zh_chart()
    assert twin is not chart
    assert digest_chart_key(chart) == digest_chart_key(twin)
    assert len(digest_chart_key(chart)) == 64
    assert int(digest_chart_key(chart), 16) >= 0  # hex digest

    members = list(chart.members)
    members[3] = ("欧阳娜娜", 0.72, True)
    changed = dataclasses.replace(chart, members=tuple(members))
    assert digest_chart_key(changed) != digest_chart_key(chart)

    members[3] = ("欧阳娜娜", 0.71, False)  # same ratio, no longer lagging: another colour
    assert digest_chart_key(dataclasses.replace(chart, members=tuple(members))) != digest_chart_key(chart)
    assert digest_chart_key(dataclasses.replace(chart, target_total=None)) != digest_chart_key(chart)
    assert digest_chart_key(dataclasses.replace(chart, achievement_label="Achievement")) != digest_chart_key(chart)


def test_key_treats_equal_numbers_alike() -> None:
    chart = _zh_chart()
    as_int = dataclasses.replace(chart, target_total=150_000)
    assert as_int == chart
    assert digest_chart_key(as_int) == digest_chart_key(chart)


def test_cache_renders_a_digest_once() -> None:
    cache = ChartCache()
    chart = _zh_chart()
    first = cache.image(chart, "digest")
    again = cache.image(_zh_chart(), "digest")  # equal content, another object
    assert cache.renders == 0                   # drawn when the picture is first needed
    assert again.png == first.png
    assert cache.renders == 1
    assert first.key == digest_chart_key(chart)
    assert first.png == render_digest_chart(chart)

    members = list(chart.members)
    members[0] = ("林小雨", 1.33, False)
    changed = cache.image(dataclasses.replace(chart, members=tuple(members)), "digest")
    assert changed.png != first.png and cache.renders == 2
    assert changed.key != first.key


def test_cache_keeps_progress_and_digest_charts_apart() -> None:
    cache = ChartCache()
    progress = ProgressChart("林小雨 · 2026-11", DAYS_30, (1.0,) * 30, 30.0, "单")
    digest = _zh_chart()
    assert cache.image(progress, "p").key == chart_key(progress)
    assert cache.image(digest, "d").key == digest_chart_key(digest)
    for _ in range(2):
        assert cache.image(progress, "p").png != cache.image(digest, "d").png
    assert cache.renders == 2
    with pytest.raises(TypeError, match="cannot draw a str"):
        cache.image("not a chart", "x")  # type: ignore[arg-type]


def test_mismatched_lengths_rejected() -> None:
    with pytest.raises(ValueError, match="cumulative has 2 values but 3 day labels"):
        DigestChart("t", ("1", "2", "3"), (1.0, 2.0), 10.0, "USD", ())
    with pytest.raises(ValueError, match="at least one day label"):
        DigestChart("t", (), (), 10.0, "USD", ())
    with pytest.raises(ValueError, match=r"member 1 has 2 fields"):
        DigestChart("t", ("1",), (1.0,), 10.0, "USD", (("Ann", 1.0, False), ("Bob", 0.5)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"target_total": None},
        {"target_total": 0.0},
        {"cumulative": (None,) * 30},
        {"cumulative": (None,) * 30, "target_total": None},
        {"cumulative": tuple(-100.0 * d for d in range(1, 31))},
        {"members": ()},
        {"members": (("Ann", None, False),) * 3},
        {"members": (("Ann", 3.5, False), ("Bob", -0.4, True), ("Cy", 0.0, True), ("Di", float("nan"), False))},
        {"day_labels": ("1",), "cumulative": (5.0,)},
        {"day_labels": tuple(str(d) for d in range(1, 32)), "cumulative": (1e7,) * 31, "target_total": 3e8},
        {"title": "A very long title " * 8, "unit": "units of something\nwith a newline " * 4},
    ],
)
def test_edge_cases_render_cleanly(change: dict[str, object]) -> None:
    chart = dataclasses.replace(_zh_chart(), **change)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_digest_chart(chart)
    assert _png_size(png) == digest_chart_size(len(chart.members))


def test_percent_labels_match_the_card_text() -> None:
    assert digest_chart._pct_label(None) == "—"
    assert digest_chart._pct_label(0.29) == "29%"  # 0.29 * 100 is 28.999... as a float
    assert digest_chart._pct_label(1.0) == "100%"
    assert digest_chart._pct_label(12.345) == "1,235%"


def test_long_names_are_shortened_to_fit() -> None:
    sheet = digest_drawing._Sheet(6.0, digest_chart.FONT_FAMILY)
    texts = sheet.texts
    long_name = "Alexander Richardson-Smith the Third"
    short = texts.fit(long_name, 13.0, 150.0)
    assert short.endswith("…") and long_name.startswith(short[:-1])
    assert texts.width(short, 13.0) <= 150.0 < texts.width(long_name, 13.0)
    assert texts.fit("林小雨", 13.0, 150.0) == "林小雨"
