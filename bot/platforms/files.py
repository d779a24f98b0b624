"""The files a card comes with (cards.model.File, an export), for the adapters that send them.

A file is uploaded BEFORE its card is sent, so the card can say what happened to it: "attached below", "too
big for this platform" (checked here against the platform's limit, no upload tried) or "could not be sent" (the
platform refused the upload, or every try failed). The File block becomes that Note, which every renderer
shows; the uploaded files are then sent, in order, right after the card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cards.i18n import t
from cards.model import Block, Card, File, Note

FEISHU_MAX_FILE_BYTES = 30 * 1024 * 1024      # im/v1/files: at most 30 MB, and never empty
DINGTALK_MAX_FILE_BYTES = 20 * 1024 * 1024    # oapi media/upload type=file: at most 20 MB


@dataclass(frozen=True, slots=True)
class Uploaded:
    """A file the platform took: `key` is its id there (Feishu file_key, DingTalk media_id)."""

    file: File
    key: str


def size_text(size: int) -> str:
    """A file size for people: 812 B, 14 KB, 3.4 MB (rounded up, so a file just over a limit reads as over it)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{-(-size // 1024)} KB"
    tenths = -(-size * 10 // (1024 * 1024))
    return f"{tenths // 10}.{tenths % 10} MB"


def upload_files(card: Card, platform: str, limit: int,
                 upload: Callable[[File], str | None]) -> tuple[Card, list[Uploaded]]:
    """The card with each File block turned into a Note saying what became of it, and the files uploaded
    (`upload` returns the platform's key, None when the platform did not take it). A card without files is
    returned as it is, with no upload."""
    if not any(isinstance(b, File) for b in card.blocks):
        return card, []
    where = t(card.lang, f"platform.{platform}")
    blocks: list[Block] = []
    sent: list[Uploaded] = []
    for block in card.blocks:
        if not isinstance(block, File):
            blocks.append(block)
            continue
        size = len(block.content)
        if size > limit:
            blocks.append(Note(t(card.lang, "file.too_big", name=block.name, size=size_text(size), platform=where,
                                 limit=size_text(limit))))
            continue
        key = upload(block)      # an empty file too: the platform refuses it, and the card says so
        if key is None:
            blocks.append(Note(t(card.lang, "file.not_sent", name=block.name)))
            continue
        sent.append(Uploaded(block, key))
        blocks.append(Note(t(card.lang, "file.attached", name=block.name, size=size_text(size))))
    return replace(card, blocks=tuple(blocks)), sent


def extension(name: str) -> str:
    """The file name's extension, lower case, without the dot ("xlsx"); "" when it has none."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem and ext else ""
