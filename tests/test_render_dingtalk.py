"""The neutral card as DingTalk markdown and as kpibot's card-template parameters; shortening to fit."""

from __future__ import annotations

import json

from cards.fit import fit
from cards.model import Button, Buttons, Card, Image, Note, Table, Text, Tone
from cards.render_dingtalk import (
    MAX_BODY_BYTES,
    MAX_MARKDOWN_BYTES,
    fit_card_params,
    fit_markdown,
    render_card_params,
    render_markdown,
)
from tests.conftest import SAMPLE_CARD

CARD = SAMPLE_CARD   # the same card the Feishu renderer is tested with


def test_markdown_has_every_block_with_the_chart_as_media_and_buttons_as_commands() -> None:
    title, text = render_markdown(CARD, {"chartkey": "@lADPmedia"})
    assert title == "Lin Xiaoyu 林小雨 · This month KPI"
    assert text.split("\n\n") == [
        "#### Lin Xiaoyu 林小雨 · This month KPI",
        "**Score**：113.0  \n**Grade**：A",
        "**Net GMV \\(40%\\)**  \n[██████████░░░░░░░░░░] 100.00 USD / 200.00 USD",
        "**Member · Score**  \nSun Li 孙丽 · 77.2",
        "![chart alt](@lADPmedia)",
        "> As of 2026\\-11\\-22",
        "Week：/mykpi week ｜ Refresh：/mykpi month",
    ]


def test_card_params_are_all_strings_and_buttons_carry_command_owner_and_language() -> None:
    params = render_card_params(CARD, {"chartkey": "@lADPmedia"}, owner="host1", lang="zh")
    assert all(isinstance(v, str) for v in params.values())
    assert params["title"] == "Lin Xiaoyu 林小雨 · This month KPI"
    assert params["tone"] == "green"
    assert params["chart"] == "@lADPmedia" and params["chart_alt"] == "chart alt"
    assert params["lang"] == "zh"
    assert "![" not in params["body"] and "/mykpi" not in params["body"]   # chart and buttons have their own slots
    assert params["body"].startswith("**Score**：113.0")
    assert json.loads(params["buttons"]) == [
        {"text": "Week", "type": "primary", "params": {"command": "mykpi", "args": ["week"], "owner": "host1",
                                                       "lang": "zh"}},
        {"text": "Refresh", "type": "default", "params": {"command": "mykpi", "args": ["month"], "owner": "host1",
                                                          "lang": "zh"}},
    ]


def test_a_chart_that_was_not_uploaded_is_left_out() -> None:
    assert render_card_params(CARD, {})["chart"] == ""
    assert "![" not in render_markdown(CARD, {})[1]


def test_user_text_cannot_inject_dingtalk_markup() -> None:
    card = Card("t", (Text("[pay](http://evil) ![x](http://track) # big <font color=red>"),))
    text = render_markdown(card, {})[1]
    assert text.split("\n\n")[1] == ("\\[pay\\]\\(http\\://evil\\) \\!\\[x\\]\\(http\\://track\\) \\# big "
                                     "&lt;font color\\=red&gt;")


def _ranking(rows: int) -> Card:
    table = Table(("#", "Member", "Score"), tuple((str(i), f"成员 member {i:04d}", "99.9") for i in range(1, rows + 1)))
    return Card("Ranking", (Text("Top"), table, Note("as of today")), Tone.INFO, "en")


def test_a_long_card_is_summarised_under_the_limit_keeping_the_top_rows() -> None:
    card = _ranking(2000)
    size = len(json.dumps({"msgtype": "markdown", "markdown": dict(zip(("title", "text"),
                                                                        render_markdown(card, {}), strict=True))},
                          ensure_ascii=False).encode())
    assert size > MAX_BODY_BYTES
    short = fit_markdown(card)
    table = next(b for b in short.blocks if isinstance(b, Table))
    kept = len(table.rows)
    assert table.rows[0][0] == "1" and table.rows[-1][0] == str(kept)       # the top of the ranking stays
    assert short.blocks[-1] == Note(f"{2000 - kept} more rows are not shown (message size limit).")
    _, text = render_markdown(short, {})
    assert len(json.dumps({"msgtype": "markdown", "markdown": {"title": "Ranking", "text": text}},
                          ensure_ascii=False).encode()) <= MAX_MARKDOWN_BYTES
    one_more = Card("Ranking", (Text("Top"), Table(table.headers, card.blocks[1].rows[:kept + 1]),  # type: ignore[union-attr]
                                Note(f"{2000 - kept - 1} more rows are not shown (message size limit).")))
    assert len(json.dumps({"msgtype": "markdown", "markdown": {"title": "Ranking",
                                                               "text": render_markdown(one_more, {})[1]}},
                          ensure_ascii=False).encode()) > MAX_MARKDOWN_BYTES   # the most rows that fit are kept
    assert fit_card_params(card).blocks[-1].text.endswith("more rows are not shown (message size limit).")  # type: ignore[union-attr]


def test_fit_keeps_exactly_as_many_rows_as_fit() -> None:
    card = _ranking(50)
    def size(c: Card) -> int:                     # each row costs 10, the rest 100
        return 100 + 10 * sum(len(b.rows) for b in c.blocks if isinstance(b, Table))
    short = fit(card, size, 100 + 10 * 17)
    assert len(next(b for b in short.blocks if isinstance(b, Table)).rows) == 17
    assert short.blocks[-1] == Note("33 more rows are not shown (message size limit).")
    assert fit(card, size, 100 + 10 * 50) is card


def test_every_table_keeps_its_top_rows_when_two_long_tables_share_a_card() -> None:
    ranking = Table(("#", "Member"), tuple((str(i), f"member {i:04d}") for i in range(1, 5001)))
    wide = Table(("SKU", "Title", "Units", "GMV"), tuple((f"SKU-{i}", "长标题 long product title " * 3, "9", "99.00")
                                                         for i in range(1, 301)))
    card = Card("Digest", (ranking, wide), Tone.INFO, "en")
    short = fit_markdown(card)
    kept = [len(b.rows) for b in short.blocks if isinstance(b, Table)]
    assert len(kept) == 2 and kept[0] == kept[1] > 0                 # the same cap for both: neither vanishes
    assert short.blocks[-1] == Note(f"{5000 + 300 - 2 * kept[0]} more rows are not shown (message size limit).")


def test_one_huge_text_is_shortened_and_the_chart_and_buttons_stay() -> None:
    card = Card("Note", (Text("长" * 20_000), Image(b"png", "k", "chart"),
                         Buttons((Button("Week", "mykpi", ("week",)),))), Tone.INFO, "en")
    short = fit_card_params(card)
    text = short.blocks[0]
    assert isinstance(text, Text) and text.text.endswith("…") and 1000 < len(text.text) < 20_000
    assert short.blocks[1:] == card.blocks[1:]
    params = render_card_params(short, {"k": "@" + "m" * 40}, owner="x" * 40)
    assert len(json.dumps(params, ensure_ascii=False).encode()) <= MAX_BODY_BYTES - 1_000
