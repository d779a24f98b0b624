"""Tolerant reading of what people type: full-width slashes, @-mentions, Chinese aliases, odd spacing."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Feishu puts "@_user_1" placeholders in the text; DingTalk and people type "@kpibot" or "@机器人".
MENTION = re.compile(r"@\S+")
COMMAND_PREFIXES = ("/", "\\")


@dataclass(frozen=True)
class Parsed:
    name: str                  # lower-case, without the slash
    args: tuple[str, ...]
    had_slash: bool


def normalise(text: str) -> str:
    """NFKC folds full-width forms (／ｍｙｋｐｉ, full-width spaces) into ASCII; mentions are removed."""
    text = unicodedata.normalize("NFKC", text)
    text = MENTION.sub(" ", text)
    return " ".join(text.split())


def parse(text: str) -> Parsed | None:
    """The command in a message, or None when the message holds no words at all."""
    clean = normalise(text)
    if not clean:
        return None
    head, *rest = clean.split(" ")
    had_slash = head.startswith(COMMAND_PREFIXES)
    name = head.lstrip("/\\").lower()
    if not name and rest:  # "/ mykpi"
        name, rest = rest[0].lower(), rest[1:]
    return Parsed(name, tuple(rest), had_slash)
