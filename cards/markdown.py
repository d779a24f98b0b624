"""Escaping plain text for the markdown both chat platforms render (Feishu card markdown, DingTalk markdown).

Everything users typed can end up in markdown, so every text is escaped: a name like "<at id=all></at>",
"**boss**" or "[pay](http://x)" shows as written instead of pinging everyone, turning bold or linking.
"""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_~\[\]()#+\-!|{}>=:])")   # ":" breaks emoji shortcodes
_ORDERED_LIST = re.compile(r"^(\d+)\.(?=\s|$)")


def escape(text: str) -> str:
    """Plain text -> markdown (CommonMark escapes) that shows exactly that text, on one line."""
    text = " ".join(text.splitlines())   # a newline could start a heading ("===") or a list
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    return _ORDERED_LIST.sub(r"\1\\.", text)
