"""Feishu (Lark) card JSON 2.0 from a neutral card.

Every text is escaped (cards.markdown). Buttons carry (command, args) and the scope the card was made for
(cards.clicks: the open_id of its owner, its chat, a shared card's subscription), so a click can be checked
against it.

A chart is sent as Feishu's native `chart` component (a VChart spec, cards.vchart) when the card with it
stays within Feishu's limits (native_charts); otherwise, and for a picture without chart data, as the
uploaded PNG. Clients older than 7.20 show an upgrade notice in place of a native chart.

Feishu refuses a card message whose request BODY is over 30 KB (error 230025). The body is not the content:
the content travels as a JSON string inside it, its quotes and backslashes escaped (a fitted /team of 30,710
bytes of content was a 38,193-byte body), so sizes are measured as the body (`body_bytes`). `fit_feishu` shortens
a long card (cards.fit, as DingTalk's renderer does) before its charts are chosen: a /team of hundreds of members
still gets a card, with a note saying how many rows are not shown.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from cards.charts import ProgressChart
from cards.clicks import button_value
from cards.digest_chart import DigestChart
from cards.fit import fit
from cards.markdown import escape
from cards.model import Block, Buttons, Card, Fields, Image, Note, Progress, Table, Text, Tone
from cards.render_text import bar
from cards.vchart import bars_height_px, digest_specs, progress_spec

MAX_CARD_BYTES = 30 * 1024   # Feishu's limit on an interactive message's request body (create, reply, patch)
MAX_CHARTS = 5               # chart components a card should hold at most (Feishu's chart component docs)
# Stands in for an image_key while a card's size is estimated: longer than Feishu's keys ("img_v3_02..._<uuid>")
_KEY_STAND_IN = "img_v3_" + "0" * 57

# The rest of a message request's body, at its longest: a create's receive_id (an open_id or chat_id is 35
# characters; 64 leaves room for an email), a reply's reply_in_thread, the uuid (at most 50).
_BODY_WRAPPER: dict[str, Any] = {"receive_id": "x" * 64, "msg_type": "interactive", "reply_in_thread": False,
                                 "uuid": "x" * 50}

TEMPLATES: dict[Tone, str] = {
    Tone.GOOD: "green", Tone.INFO: "blue", Tone.WARN: "orange", Tone.BAD: "red", Tone.NEUTRAL: "grey",
}
def _markdown(content: str, size: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"tag": "markdown", "content": content}
    if size:
        element["text_size"] = size
    return element


def _progress(p: Progress) -> str:
    return f"**{escape(p.label)}**\n`{bar(p.ratio)}`  {escape(p.detail)}"


def _table(t: Table) -> dict[str, Any]:
    columns = [{"name": f"c{i}", "display_name": h or " ", "data_type": "text", "width": "auto"}
               for i, h in enumerate(t.headers)]
    rows = [{f"c{i}": cell for i, cell in enumerate(row)} for row in t.rows]
    return {"tag": "table", "page_size": 10, "row_height": "low", "freeze_first_column": True,
            "header_style": {"bold": True, "background_style": "grey"}, "columns": columns, "rows": rows}


def _buttons(b: Buttons, owner: str | None, chat: str | None, scope: str | None,
             lang: str | None) -> dict[str, Any]:
    def button(label: str, command: str, args: tuple[str, ...], primary: bool) -> dict[str, Any]:
        # the lang lets the click's toast speak it without a lookup
        value = button_value(command, args, owner=owner, chat=chat, scope=scope, lang=lang)
        return {"tag": "button", "text": {"tag": "plain_text", "content": label},
                "type": "primary" if primary else "default", "size": "small",
                "behaviors": [{"type": "callback", "value": value}]}

    return {"tag": "column_set", "flex_mode": "flow", "horizontal_spacing": "small", "columns": [
        {"tag": "column", "width": "auto", "elements": [button(x.label, x.command, x.args, x.primary)]}
        for x in b.buttons]}


def _chart(spec: dict[str, Any], aspect_ratio: str | None = None, height_px: int | None = None) -> dict[str, Any]:
    """The chart component; `preview` lets a phone open it full screen. A fixed height overrides the ratio."""
    element: dict[str, Any] = {"tag": "chart", "chart_spec": spec, "preview": True}
    if aspect_ratio is not None:
        element["aspect_ratio"] = aspect_ratio
    if height_px is not None:
        element["height"] = f"{height_px}px"
    return element


def chart_elements(chart: ProgressChart | DigestChart) -> list[dict[str, Any]]:
    """The native chart components for one chart: one for a progress chart, two for a digest."""
    if isinstance(chart, ProgressChart):
        return [_chart(progress_spec(chart), aspect_ratio="4:3")]
    team, bars = digest_specs(chart)
    return [_chart(team, aspect_ratio="4:3"), _chart(bars, height_px=bars_height_px(chart))]


def _image(image: Image, image_keys: Mapping[str, str], native: Collection[str]) -> list[dict[str, Any]]:
    if image.chart is not None and image.key in native:
        return chart_elements(image.chart)
    image_key = image_keys.get(image.key)
    if image_key is None:
        return []  # not uploaded: the card still goes out, without the chart
    return [{"tag": "img", "img_key": image_key, "alt": {"tag": "plain_text", "content": image.alt},
             "scale_type": "fit_horizontal", "preview": True}]


def _element(block: Block, owner: str | None, chat: str | None, scope: str | None,
             lang: str | None) -> dict[str, Any] | None:
    match block:
        case Text(text=text, strong=strong):
            return _markdown(f"**{escape(text)}**" if strong else escape(text))
        case Fields(items=items):
            return _markdown("\n".join(f"**{escape(k)}**　{escape(v)}" for k, v in items))
        case Progress():
            return _markdown(_progress(block))
        case Table():
            return _table(block)
        case Buttons():
            return _buttons(block, owner, chat, scope, lang)
        case Note(text=text):
            return _markdown(escape(text), size="notation")
    return None


def render_feishu(card: Card, image_keys: Mapping[str, str], owner: str | None = None,
                  lang: str | None = None, native: Collection[str] = frozenset(),
                  chat: str | None = None) -> dict[str, Any]:
    """The card as Feishu JSON 2.0. `image_keys` maps neutral image keys to uploaded Feishu image_keys;
    images whose key is in `native` (see native_charts) are drawn as native charts instead; buttons carry
    the `owner`'s open_id, the `chat` it is sent to, the card's scope and the `lang` of the card."""
    elements: list[dict[str, Any]] = []
    for block in card.blocks:
        if isinstance(block, Image):
            elements.extend(_image(block, image_keys, native))
        elif (element := _element(block, owner, chat, card.scope, lang)) is not None:
            elements.append(element)
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "width_mode": "fill", "locales": ["zh_cn", "en_us"]},
        "header": {"title": {"tag": "plain_text", "content": card.title}, "template": TEMPLATES[card.tone]},
        "body": {"elements": elements},
    }


def card_content(card: Card, image_keys: Mapping[str, str], owner: str | None = None,
                 lang: str | None = None, native: Collection[str] = frozenset(), chat: str | None = None) -> str:
    """The `content` string of an interactive message."""
    return json.dumps(render_feishu(card, image_keys, owner, lang, native, chat), ensure_ascii=False,
                      separators=(",", ":"))


def body_bytes(content: str) -> int:
    """Bytes of the request body that carries `content`, as lark-oapi sends it (lark_oapi.core.json.JSON.marshal:
    json.dumps with ensure_ascii=False and default separators), with the longest wrapper of create and reply."""
    return len(json.dumps({**_BODY_WRAPPER, "content": content}, ensure_ascii=False).encode("utf-8"))


def fit_feishu(card: Card, owner: str | None = None, lang: str | None = None, chat: str | None = None,
               limit: int = MAX_CARD_BYTES) -> Card:
    """The card, shortened if needed (cards.fit) so its request body (`body_bytes`) stays within `limit` with every
    image sent as an uploaded PNG (a stand-in key as long as a real one), the smallest way to send it;
    native_charts then draws natively only the charts that still fit."""
    stand_ins = {image.key: _KEY_STAND_IN for image in card.images()}
    return fit(card, lambda c: body_bytes(card_content(c, stand_ins, owner, lang, chat=chat)), limit)


def native_charts(card: Card, owner: str | None = None, lang: str | None = None,
                  chat: str | None = None) -> frozenset[str]:
    """Keys of the card's charts to send as native chart components; the rest go as uploaded PNGs.

    The first charts, in card order, up to MAX_CHARTS components, and only as many as keep the card within
    MAX_CARD_BYTES as a request body (every other image counted with a stand-in key as long as a real one): a card
    too big for its native charts falls back to PNGs rather than being refused."""
    chosen: list[str] = []
    components = 0
    for image in card.images():
        if image.chart is None or image.key in chosen:
            continue
        components += len(chart_elements(image.chart))
        if components > MAX_CHARTS:
            break
        chosen.append(image.key)
    stand_ins = {image.key: _KEY_STAND_IN for image in card.images()}
    for count in range(len(chosen), 0, -1):
        native = frozenset(chosen[:count])
        if body_bytes(card_content(card, stand_ins, owner, lang, native, chat)) <= MAX_CARD_BYTES:
            return native
    return frozenset()
