"""Plain-text rendering of a card for the console (and for logs and tests)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from decimal import Decimal

from cards.model import Buttons, Card, Fields, File, Image, Note, Progress, Table, Text

BAR_WIDTH = 20


def width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def bar(ratio: Decimal | None) -> str:
    if ratio is None:
        return "[" + "·" * BAR_WIDTH + "]"
    filled = max(0, min(BAR_WIDTH, int(ratio * BAR_WIDTH)))
    return "[" + "█" * filled + "░" * (BAR_WIDTH - filled) + "]"


def render_text(card: Card, image_paths: Mapping[str, str] | None = None,
                file_paths: Mapping[str, str] | None = None) -> str:
    """`image_paths` maps an image key to where the console wrote the PNG, `file_paths` a file's name to where
    it wrote the file."""
    paths = image_paths or {}
    files = file_paths or {}
    lines = [card.title, "=" * width(card.title)]
    for block in card.blocks:
        match block:
            case Text(text=text, strong=strong):
                lines.append(text.upper() if strong and text.isascii() else text)
            case Fields(items=items):
                label_w = max((width(k) for k, _ in items), default=0)
                lines.extend(f"{pad(k, label_w)}  {v}" for k, v in items)
            case Progress(label=label, ratio=ratio, detail=detail):
                lines.append(f"{label}")
                lines.append(f"  {bar(ratio)} {detail}")
            case Table(headers=headers, rows=rows):
                cols = [max(width(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
                lines.append("  ".join(pad(h, w) for h, w in zip(headers, cols, strict=True)).rstrip())
                lines.append("  ".join("-" * w for w in cols))
                lines.extend("  ".join(pad(c, w) for c, w in zip(r, cols, strict=True)).rstrip() for r in rows)
            case Image(key=key, alt=alt):
                where = paths.get(key)
                lines.append(f"[chart] {alt}" + (f" -> {where}" if where else ""))
            case Buttons(buttons=buttons):
                lines.append("  ".join(f"[{b.label}: {b.as_text}]" for b in buttons))
            case Note(text=text):
                lines.append(f"· {text}")
            case File(name=name):
                where = files.get(name)
                lines.append(f"[file] {name}" + (f" -> {where}" if where else ""))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
