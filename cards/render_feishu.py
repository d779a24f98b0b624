"""Feishu (Lark) card JSON 2.0 from a neutral card.

Every text is escaped (cards.markdown). Buttons carry (command, args) and the open_id of the person the
card was made for, so a click can be checked against its owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cards.markdown import escape
from cards.model import Block, Buttons, Card, Fields, Image, Note, Progress, Table, Text, Tone
from cards.render_text import bar

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


def _buttons(b: Buttons, owner: str | None, lang: str | None) -> dict[str, Any]:
    def button(label: str, command: str, args: tuple[str, ...], primary: bool) -> dict[str, Any]:
        value: dict[str, Any] = {"command": command, "args": list(args)}
        if owner:
            value["owner"] = owner
        if lang:
            value["lang"] = lang   # the click's toast speaks it without a lookup
        return {"tag": "button", "text": {"tag": "plain_text", "content": label},
                "type": "primary" if primary else "default", "size": "small",
                "behaviors": [{"type": "callback", "value": value}]}

    return {"tag": "column_set", "flex_mode": "flow", "horizontal_spacing": "small", "columns": [
        {"tag": "column", "width": "auto", "elements": [button(x.label, x.command, x.args, x.primary)]}
        for x in b.buttons]}


def _element(block: Block, image_keys: Mapping[str, str], owner: str | None,
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
        case Image(key=key, alt=alt):
            image_key = image_keys.get(key)
            if image_key is None:
                return None  # not uploaded: the card still goes out, without the chart
            return {"tag": "img", "img_key": image_key, "alt": {"tag": "plain_text", "content": alt},
                    "scale_type": "fit_horizontal", "preview": True}
        case Buttons():
            return _buttons(block, owner, lang)
        case Note(text=text):
            return _markdown(escape(text), size="notation")
    return None


def render_feishu(card: Card, image_keys: Mapping[str, str], owner: str | None = None,
                  lang: str | None = None) -> dict[str, Any]:
    """The card as Feishu JSON 2.0. `image_keys` maps neutral image keys to uploaded Feishu image_keys;
    buttons carry the `owner`'s open_id and the `lang` of the card."""
    elements = [e for b in card.blocks if (e := _element(b, image_keys, owner, lang)) is not None]
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "width_mode": "fill", "locales": ["zh_cn", "en_us"]},
        "header": {"title": {"tag": "plain_text", "content": card.title}, "template": TEMPLATES[card.tone]},
        "body": {"elements": elements},
    }


def card_content(card: Card, image_keys: Mapping[str, str], owner: str | None = None,
                 lang: str | None = None) -> str:
    """The `content` string of an interactive message."""
    return json.dumps(render_feishu(card, image_keys, owner, lang), ensure_ascii=False, separators=(",", ":"))
