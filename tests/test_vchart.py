"""Charts as Feishu's native chart component: the VChart specs, and when a card falls back to PNGs."""

from __future__ import annotations

import json

from cards.charts import ProgressChart
from cards.digest_chart import DigestChart
from cards.model import Card, Image, Text
from cards.render_feishu import (
    MAX_CARD_BYTES,
    body_bytes,
    card_content,
    chart_elements,
    native_charts,
    render_feishu,
)
from cards.vchart import bars_height_px, digest_specs, progress_spec

PROGRESS = ProgressChart("林小雨 · 2026-11 GMV", ("1", "2", "3", "4"), (100.0, 250.555, None, None), 1000.0,
                         "USD", target_label="目标", actual_label="实际")
DIGEST = DigestChart("Team North · 2026-11", ("1", "2", "3"), (300.0, None, None), None, "USD",
                     (("Sun Li 孙丽", 1.25, False), ("Wang\nFang", 0.4, True), ("Zhao", None, True)),
                     achievement_label="进度", notes=("", "", "暂无进度"))

TARGET_LINE = {"style": {"stroke": "#6b7280", "lineWidth": 2, "lineDash": [6, 4]}}


def test_a_progress_chart_is_a_line_with_a_dashed_target() -> None:
    assert progress_spec(PROGRESS) == {
        "type": "line",
        "title": {"visible": True, "text": "林小雨 · 2026-11 GMV"},
        "data": [{"id": "actual", "values": [
            {"day": "1", "value": 100.0, "series": "实际"},
            {"day": "2", "value": 250.56, "series": "实际"},
            {"day": "3", "value": None, "series": "实际"},
            {"day": "4", "value": None, "series": "实际"},
        ]}],
        "xField": "day",
        "yField": "value",
        "seriesField": "series",
        "color": ["#2563eb"],
        "line": {"style": {"lineWidth": 3}},
        "point": {"visible": False},
        "axes": [
            {"orient": "bottom", "type": "band"},
            {"orient": "left", "type": "linear", "title": {"visible": True, "text": "USD"}},
        ],
        "legends": {"visible": True, "orient": "top", "position": "end"},
        "markLine": [{
            "coordinates": [{"day": "1", "value": 250.0}, {"day": "4", "value": 1000.0}],
            "autoRange": True,
            "line": TARGET_LINE,
            "endSymbol": {"visible": False},
            "label": {"visible": True, "text": "目标", "position": "insideEndTop"},
        }],
    }


def test_a_digest_chart_is_a_team_line_and_member_bars() -> None:
    team, bars = digest_specs(DIGEST)
    assert team["data"] == [{"id": "actual", "values": [
        {"day": "1", "value": 300.0, "series": "Actual"},
        {"day": "2", "value": None, "series": "Actual"},
        {"day": "3", "value": None, "series": "Actual"},
    ]}]
    assert "markLine" not in team   # no team target: no target line
    assert bars == {
        "type": "bar",
        "direction": "horizontal",
        "title": {"visible": True, "text": "进度"},
        "data": [{"id": "members", "values": [
            {"name": "Sun Li 孙丽", "value": 125.0, "state": "进度"},
            {"name": "Wang Fang", "value": 40.0, "state": "进度 ⚠"},
            {"name": "Zhao · 暂无进度", "value": None, "state": "进度 ⚠"},   # no bar: the PNG's note, by the name
        ]}],
        "xField": "value",
        "yField": "name",
        "seriesField": "state",
        "color": {"type": "ordinal", "domain": ["进度", "进度 ⚠"], "range": ["#2563eb", "#ea580c"]},
        "axes": [
            {"orient": "left", "type": "band"},
            {"orient": "bottom", "type": "linear", "min": 0, "title": {"visible": True, "text": "%"}},
        ],
        "legends": {"visible": False},
        "markLine": [{
            "x": 100,
            "autoRange": True,
            "line": {"style": {"stroke": "#4b5563", "lineWidth": 2, "lineDash": [6, 4]}},
            "endSymbol": {"visible": False},
            "label": {"visible": True, "text": "100%", "position": "end"},
        }],
    }
    assert bars_height_px(DIGEST) == 208                 # at least four rows' height
    many = DigestChart("t", ("1",), (1.0,), 1.0, "USD", tuple((f"m{i}", 1.0, False) for i in range(40)))
    assert bars_height_px(many) == 999                   # Feishu's largest fixed height


def test_the_chart_components() -> None:
    assert chart_elements(PROGRESS) == [
        {"tag": "chart", "chart_spec": progress_spec(PROGRESS), "preview": True, "aspect_ratio": "4:3"}]
    team, bars = digest_specs(DIGEST)
    assert chart_elements(DIGEST) == [
        {"tag": "chart", "chart_spec": team, "preview": True, "aspect_ratio": "4:3"},
        {"tag": "chart", "chart_spec": bars, "preview": True, "height": "208px"}]


def test_specs_are_plain_json_without_javascript() -> None:
    text = json.dumps([progress_spec(PROGRESS), *digest_specs(DIGEST)], ensure_ascii=False, allow_nan=False)
    assert "function" not in text and "=>" not in text


def test_a_chart_goes_native_and_a_picture_without_chart_data_as_png() -> None:
    card = Card("KPI", (Text("hi"), Image(b"png", "k1", "chart", PROGRESS), Image(b"qr", "qr-1", "QR")))
    assert native_charts(card) == frozenset({"k1"})
    out = render_feishu(card, {"qr-1": "img_v3_qr"}, native=native_charts(card))
    assert [e["tag"] for e in out["body"]["elements"]] == ["markdown", "chart", "img"]
    assert out["body"]["elements"][1] == chart_elements(PROGRESS)[0]
    # without the native choice the chart is the uploaded PNG, as before
    out = render_feishu(card, {"k1": "img_v3_k1", "qr-1": "img_v3_qr"})
    assert [e["tag"] for e in out["body"]["elements"]] == ["markdown", "img", "img"]


def test_a_card_too_big_for_its_native_charts_falls_back_to_pngs() -> None:
    days = tuple(str(d) for d in range(1, 32))
    members = tuple((f"Member {i} " + "名" * 40, 0.5, i % 2 == 0) for i in range(30))
    big = DigestChart("Team", days, tuple(float(d) * 1000.5 for d in range(31)), 50000.0, "USD", members)

    def card(text_bytes: int) -> Card:
        return Card("Digest", (Image(b"a", "k1", "team", big), Image(b"b", "k2", "me", PROGRESS),
                               Text("x" * text_bytes)))

    assert native_charts(card(1000)) == frozenset({"k1", "k2"})
    # ~8.2 KB for the digest's two components, ~0.9 KB for the progress line, measured as the request body
    # (render_feishu.body_bytes: escaped inside it): room for the digest only
    assert native_charts(card(20500)) == frozenset({"k1"})
    assert native_charts(card(30000)) == frozenset()
    assert body_bytes(card_content(card(20500), {"k2": "img_v3_" + "0" * 57}, native={"k1"})) <= MAX_CARD_BYTES
    assert body_bytes(card_content(card(20500), {}, native={"k1", "k2"})) > MAX_CARD_BYTES


def test_at_most_five_chart_components() -> None:
    images = tuple(Image(b"p", f"k{i}", "c", ProgressChart(f"c{i}", ("1",), (1.0,), 2.0, "USD")) for i in range(4))
    digest = Image(b"d", "kd", "d", DIGEST)
    # four line charts, then a digest needing two more components: it stays a PNG
    assert native_charts(Card("t", (*images, digest))) == frozenset({"k0", "k1", "k2", "k3"})
    assert native_charts(Card("t", (digest, *images))) == frozenset({"kd", "k0", "k1", "k2"})


def test_the_expected_by_now_mark_sits_on_the_target_path_with_the_gap() -> None:
    # today is day 3 (index 2): the actual reached 250.56 on day 2 and nothing more yet; 750.00 expected by now
    chart = ProgressChart("林小雨 · 2026-11 GMV", ("1", "2", "3", "4"), (100.0, 250.555, None, None), 1000.0, "USD",
                          target_label="目标", actual_label="实际", expected_now=750.0, now_index=2,
                          gap_label="较预期 {gap}")
    assert progress_spec(chart)["markPoint"] == [{
        "coordinate": {"day": "3", "value": 750.0},
        "itemLine": {"visible": False},
        "targetSymbol": {"visible": True, "style": {"symbolType": "diamond", "size": 10, "fill": "#6b7280"}},
        "itemContent": {"type": "text", "confine": True, "offsetY": 18,
                        "text": {"text": "较预期 -499", "style": {"fill": "#dc2626", "fontSize": 12}}},
    }]
    assert "markPoint" not in progress_spec(PROGRESS)     # no expected value: no mark


def test_a_level_metric_has_a_flat_target_and_no_expected_mark() -> None:
    roi = ProgressChart("Chen Hao · 2026-11 ROI", ("1", "2", "3"), (2.5, 3.0, None), 2.8, "",
                        expected_now=1.0, now_index=1, cumulative_line=False)
    spec = progress_spec(roi)
    assert spec["markLine"] == [{"y": 2.8, "autoRange": True, "line": TARGET_LINE, "endSymbol": {"visible": False},
                                 "label": {"visible": True, "text": "Target", "position": "insideEndTop"}}]
    assert "markPoint" not in spec


def test_nothing_reached_yet_is_a_gap_of_the_whole_expected_amount_as_on_the_png() -> None:
    chart = ProgressChart("c", ("1", "2", "3"), (None, None, None), 900.0, "USD", expected_now=250.0, now_index=1)
    assert chart.actual_now == 0.0
    assert progress_spec(chart)["markPoint"][0]["itemContent"]["text"]["text"] == "-250 vs expected"
