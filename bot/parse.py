"""Tolerant reading of what people type: full-width slashes, platform @-mentions, Chinese aliases, odd spacing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

COMMAND_PREFIXES = ("/", "\\")


@dataclass(frozen=True)
class Parsed:
    name: str                  # lower-case, without the slash
    args: tuple[str, ...]
    had_slash: bool


def normalise(text: str, mentions: Iterable[str] = ()) -> str:
    """The text without the given mentions, NFKC-folded (／ｍｙｋｐｉ, full-width spaces -> ASCII), spaces collapsed.

    `mentions` are the exact strings the platform marks as @-mentions in this text (Feishu's "@_user_1"
    keys); only those are removed. Any other "@" is what the person typed, such as a creator's handle or
    a URL like https://www.tiktok.com/@lily/video/1, and is kept.
    """
    wanted = sorted({m for m in mentions if m}, key=len, reverse=True)
    if wanted:  # Feishu numbers its keys: "@_user_1" is not the start of "@_user_10"
        keys = "|".join(map(re.escape, wanted))
        text = re.sub(rf"(?:{keys})(?!\d)", " ", text)
    text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def parse(text: str, mentions: Iterable[str] = ()) -> Parsed | None:
    """The command in a message, or None when the message holds no words at all (see `normalise`)."""
    clean = normalise(text, mentions)
    if not clean:
        return None
    head, *rest = clean.split(" ")
    had_slash = head.startswith(COMMAND_PREFIXES)
    name = head.lstrip("/\\").lower()
    if not name and rest:  # "/ mykpi"
        name, rest = rest[0].lower(), rest[1:]
    return Parsed(name, tuple(rest), had_slash)
