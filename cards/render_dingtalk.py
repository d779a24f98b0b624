"""DingTalk renderings of a neutral card.

Two shapes, both from the same blocks:
- markdown (title, text) for replies through a message's sessionWebhook and for the robot message APIs
  (msgKey "sampleMarkdown"). DingTalk markdown has no tables and no buttons: a table becomes one line per
  row, a button becomes the command to type, and a chart is an image by its uploaded media_id.
- the parameters of kpibot's interactive card template (`cardParamMap`, where every value is a string):
  `title`, `tone` (header colour), `body` (markdown of every block but the chart and the buttons),
  `chart` (media_id, "" when the card has none), `chart_alt`, `buttons` (a JSON array of
  {text, type, params}) and `lang`. A button's click carries `params` back:
  cards.clicks.button_value, {command, args, owner, chat, scope, lang}.

Every text users could have typed is escaped (cards.markdown). DingTalk refuses bodies over 20,000 bytes,
and robot messages whose msgParam is over 15,000 bytes, so `fit_markdown` and `fit_card_params` shorten a
long card (cards.fit) rather than lose it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cards.clicks import button_value
from cards.fit import fit
from cards.markdown import escape
from cards.model import Block, Buttons, Card, Fields, Image, Note, Progress, Table, Text, Tone
from cards.render_text import bar

MAX_BODY_BYTES = 20_000       # DingTalk's limit for a request body
MAX_MARKDOWN_BYTES = 15_000   # a robot message's msgParam; markdown keeps to it whichever way it is sent
MAX_CARD_PARAMS_BYTES = MAX_BODY_BYTES - 1_000   # the create request wraps the parameters (ids, options)
TONE_COLOURS: dict[Tone, str] = {
    Tone.GOOD: "green", Tone.INFO: "blue", Tone.WARN: "orange", Tone.BAD: "red", Tone.NEUTRAL: "grey",
}
BREAK = "  \n"   # a line break inside a paragraph in DingTalk markdown
_PLACEHOLDER_MEDIA_ID = "@" + "x" * 40   # a media_id's size, to measure a card before its chart is uploaded


def _block(block: Block, media_ids: Mapping[str, str]) -> str | None:
    match block:
        case Text(text=text, strong=strong):
            return f"**{escape(text)}**" if strong else escape(text)
        case Fields(items=items):
            return BREAK.join(f"**{escape(k)}**：{escape(v)}" for k, v in items)
        case Progress(label=label, ratio=ratio, detail=detail):
            return f"**{escape(label)}**{BREAK}{bar(ratio)} {escape(detail)}"
        case Table(headers=headers, rows=rows):
            head = "**" + " · ".join(escape(h) for h in headers if h) + "**"
            return BREAK.join([head, *(" · ".join(escape(c) for c in row) for row in rows)])
        case Image(key=key, alt=alt):
            media_id = media_ids.get(key)
            return f"![{escape(alt)}]({media_id})" if media_id else None
        case Buttons(buttons=buttons):
            return " ｜ ".join(f"{escape(b.label)}：{escape(b.as_text)}" for b in buttons)
        case Note(text=text):
            return f"> {escape(text)}"
    return None


def render_markdown(card: Card, media_ids: Mapping[str, str]) -> tuple[str, str]:
    """(title, text) of a markdown message; the title is what the chat list shows, so it stays plain."""
    parts = [f"#### {escape(card.title)}"]
    parts.extend(p for b in card.blocks if (p := _block(b, media_ids)) is not None)
    return card.title, "\n\n".join(parts)


def render_card_params(card: Card, media_ids: Mapping[str, str], owner: str | None = None,
                       lang: str | None = None, chat: str | None = None) -> dict[str, str]:
    """The `cardParamMap` of kpibot's card template (see the module docstring for the variables)."""
    body = [p for b in card.blocks if not isinstance(b, Image | Buttons) and (p := _block(b, media_ids)) is not None]
    images = [b for b in card.blocks if isinstance(b, Image) and b.key in media_ids]
    buttons = []
    for block in card.blocks:
        if isinstance(block, Buttons):
            for b in block.buttons:
                params = button_value(b.command, b.args, owner=owner, chat=chat, scope=card.scope,
                                      lang=lang or card.lang)
                buttons.append({"text": b.label, "type": "primary" if b.primary else "default", "params": params})
    return {
        "title": card.title,
        "tone": TONE_COLOURS[card.tone],
        "body": "\n\n".join(body),
        "chart": media_ids[images[0].key] if images else "",
        "chart_alt": images[0].alt if images else "",
        "buttons": json.dumps(buttons, ensure_ascii=False, separators=(",", ":")),
        "lang": lang or card.lang,
    }


def _placeholders(card: Card) -> dict[str, str]:
    return {image.key: _PLACEHOLDER_MEDIA_ID for image in card.images()}


def _size(payload: object) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def fit_markdown(card: Card, limit: int = MAX_MARKDOWN_BYTES) -> Card:
    """The card, shortened if needed so its markdown message stays under DingTalk's body limit."""
    def size(c: Card) -> int:
        title, text = render_markdown(c, _placeholders(c))
        return _size({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
    return fit(card, size, limit)


def fit_card_params(card: Card, limit: int = MAX_CARD_PARAMS_BYTES) -> Card:
    """The card, shortened if needed so its card parameters stay under DingTalk's body limit."""
    return fit(card, lambda c: _size(render_card_params(c, _placeholders(c), owner="x" * 40, chat="x" * 64)), limit)
