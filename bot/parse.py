"""Tolerant reading of what people type: full-width slashes and punctuation, platform @-mentions, a bot's name
typed by hand, Chinese aliases, brackets, zero-width characters, odd spacing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

COMMAND_PREFIXES = ("/", "\\")

# Read as a space: what a Chinese keyboard puts between or around words (，、。 and the brackets of 【/mykpi】).
# The full-width comma is taken before NFKC folds it to ",", which may be part of an amount (1,000).
_BEFORE_NFKC = str.maketrans(dict.fromkeys("，", " "))
_AFTER_NFKC = str.maketrans(dict.fromkeys("、。【】〖〗〔〕「」『』", " "))
# Dropped from the end of a word: sentence punctuation (/mykpi? /mykpi week.), unless nothing would be left (/?).
_TRAILING = ".,!?;"


@dataclass(frozen=True)
class Parsed:
    name: str                  # lower-case, without the slash
    args: tuple[str, ...]
    had_slash: bool


def _invisible(ch: str) -> bool:
    """A control (BEL, ESC) or format character (zero-width space U+200B, BOM U+FEFF, bidi marks): not typed to
    be read. Whitespace controls (tab, newline) stay whitespace."""
    return unicodedata.category(ch) in ("Cc", "Cf") and not ch.isspace()


def normalise(text: str, mentions: Iterable[str] = ()) -> str:
    """The text without the given mentions and invisible characters, NFKC-folded (／ｍｙｋｐｉ, full-width spaces ->
    ASCII), Chinese separators and brackets read as spaces, spaces collapsed.

    `mentions` are the exact strings the platform marks as @-mentions in this text (Feishu's "@_user_1"
    keys); only those are removed. Any other "@" is what the person typed, such as a creator's handle or
    a URL like https://www.tiktok.com/@lily/video/1, and is kept.
    """
    wanted = sorted({m for m in mentions if m}, key=len, reverse=True)
    if wanted:  # Feishu numbers its keys: "@_user_1" is not the start of "@_user_10"
        keys = "|".join(map(re.escape, wanted))
        text = re.sub(rf"(?:{keys})(?!\d)", " ", text)
    text = "".join(ch for ch in text if not _invisible(ch)).translate(_BEFORE_NFKC)
    text = unicodedata.normalize("NFKC", text).translate(_AFTER_NFKC)
    return " ".join(text.split())


def _unpunctuated(word: str) -> str:
    return word.rstrip(_TRAILING) or word


def parse(text: str, mentions: Iterable[str] = ()) -> Parsed | None:
    """The command in a message, or None when the message holds no words at all (see `normalise`).

    A message that starts with an "@" the platform did not mark (a bot's name typed by hand, "@KPI Bot /mykpi",
    or pasted) is read from its first word with a slash: the words before it are the name. Sentence punctuation
    at the end of a word is dropped (/mykpi? /mykpi week.), and a word of nothing else ("/mykpi ?"), but a name
    of nothing else stays (/? is /help).
    """
    clean = normalise(text, mentions)
    if not clean:
        return None
    words = clean.split(" ")
    if words[0].startswith("@"):
        first = next((i for i, w in enumerate(words) if w.startswith(COMMAND_PREFIXES)), None)
        if first is not None:
            words = words[first:]
    head, *rest = words
    had_slash = head.startswith(COMMAND_PREFIXES)
    name = head.lstrip("/\\").lower()
    if not name and rest:  # "/ mykpi"
        name, rest = rest[0].lower(), rest[1:]
    args = tuple(_unpunctuated(w) for w in rest if w.strip(_TRAILING))
    return Parsed(_unpunctuated(name), args, had_slash)
