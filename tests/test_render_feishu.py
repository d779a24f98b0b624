"""The neutral card as Feishu card JSON 2.0."""

from __future__ import annotations

import json
from decimal import Decimal

from cards.markdown import escape
from cards.model import Card, Table, Text
from cards.render_feishu import card_content, render_feishu
from tests.conftest import SAMPLE_CARD

CARD = SAMPLE_CARD


def test_structure_of_a_kpi_card() -> None:
    out = render_feishu(CARD, {"chartkey": "img_v3_abc"}, owner="ou_host1", lang="en")
    assert out["schema"] == "2.0"
    assert out["config"]["update_multi"] is True
    assert out["header"] == {"title": {"tag": "plain_text", "content": "Lin Xiaoyu 林小雨 · This month KPI"},
                             "template": "green"}
    tags = [e["tag"] for e in out["body"]["elements"]]
    assert tags == ["markdown", "markdown", "table", "img", "markdown", "column_set"]
    assert out["body"]["elements"][0]["content"] == "**Score**　113.0\n**Grade**　A"
    assert out["body"]["elements"][1]["content"] == \
        "**Net GMV \\(40%\\)**\n`[██████████░░░░░░░░░░]`  100.00 USD / 200.00 USD"
    assert out["body"]["elements"][2]["rows"] == [{"c0": "Sun Li 孙丽", "c1": "77.2"}]
    assert out["body"]["elements"][3]["img_key"] == "img_v3_abc"
    buttons = [c["elements"][0] for c in out["body"]["elements"][5]["columns"]]
    def callback(*args: str) -> list[dict]:
        return [{"type": "callback", "value": {"command": "mykpi", "args": list(args), "owner": "ou_host1",
                                               "lang": "en"}}]

    assert [(b["text"]["content"], b["type"], b["behaviors"]) for b in buttons] == [
        ("Week", "primary", callback("week")), ("Refresh", "default", callback("month"))]


def test_an_image_that_was_not_uploaded_is_left_out() -> None:
    tags = [e["tag"] for e in render_feishu(CARD, {})["body"]["elements"]]
    assert "img" not in tags


def test_user_text_cannot_inject_markup() -> None:
    assert escape("<at id=all></at>") == "&lt;at id\\=all&gt;&lt;/at&gt;"
    assert escape("Anne\n===") == "Anne \\=\\=\\="               # no heading
    assert escape("2026. best host") == "2026\\. best host"      # no ordered list
    assert escape(":OK:") == "\\:OK\\:"                          # no emoji shortcode
    assert escape("**boss** [x](http://e)") == "\\*\\*boss\\*\\* \\[x\\]\\(http\\://e\\)"
    card = Card("t", (Text("<at id=all></at> **hi**"),))
    content = json.loads(card_content(card, {}))
    assert content["body"]["elements"][0]["content"] == "&lt;at id\\=all&gt;&lt;/at&gt; \\*\\*hi\\*\\*"


def test_a_long_ranking_keeps_the_top_and_the_callers_row() -> None:
    from cards.kpi_cards import rank_card

    rows = [(f"Member {i:02d}", "Team", Decimal(100 - i), "A") for i in range(30)]
    card = rank_card(title="Ranking", lang="en", rows=rows, highlight="Member 25")
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert [r[0] for r in table.rows] == [str(i) for i in range(1, 21)] + ["26"]
    assert table.rows[-1][1] == "Member 25 ◀"
    assert len(card_content(card, {}).encode()) < 30 * 1024
