"""The neutral card every command returns; each platform has a renderer for it.

Text in a card is plain text as the user should read it. Renderers escape it for their markup, so a name
or a reason someone typed can never break or inject card markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cards.charts import ProgressChart
    from cards.digest_chart import DigestChart


class Tone(StrEnum):
    """Header colour: Feishu and DingTalk map it to their own palettes."""

    NEUTRAL = "neutral"
    GOOD = "good"
    WARN = "warn"
    BAD = "bad"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    strong: bool = False


@dataclass(frozen=True, slots=True)
class Fields:
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Progress:
    label: str
    ratio: Decimal | None       # 1 = 100 %; None = no target
    detail: str


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Image:
    """A picture: the PNG, or how to draw it. A chart is drawn only when a platform first needs the picture
    (DingTalk, the console, Feishu's fallback), not for Feishu's native chart; cards compare by key."""

    source: bytes | Callable[[], bytes] = field(compare=False)
    key: str                    # content hash: an unchanged chart keeps its key (and its uploaded image)
    alt: str
    # The data the PNG was drawn from: Feishu draws it natively (cards.vchart); None for a plain picture (QR)
    chart: ProgressChart | DigestChart | None = None

    @property
    def png(self) -> bytes:
        return self.source() if callable(self.source) else self.source


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    command: str
    args: tuple[str, ...] = ()
    primary: bool = False

    @property
    def as_text(self) -> str:
        return " ".join(("/" + self.command, *self.args))


@dataclass(frozen=True, slots=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True)
class Note:
    text: str


@dataclass(frozen=True, slots=True)
class File:
    """A file the card comes with (an export): sent as the platform's file message right after the card. A
    platform that cannot send files says so in the card instead (the console writes it to disk)."""

    name: str                   # the file name the receiver sees: kpibot-2026-11.xlsx
    content: bytes = field(repr=False)
    mime: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


Block = Text | Fields | Progress | Table | Image | Buttons | Note | File


@dataclass(frozen=True, slots=True)
class Card:
    title: str
    blocks: tuple[Block, ...] = field(default=())
    tone: Tone = Tone.NEUTRAL
    lang: str = "en"
    # A card shared by a chat rather than made for one person (a subscribed group's digest): what it was made
    # for ("subscription:<id>", services.digests.shared_scope). Its buttons carry it, so a click rebuilds this
    # card within that scope, whoever clicks, and never the clicker's own view.
    scope: str | None = None

    def images(self) -> list[Image]:
        return [b for b in self.blocks if isinstance(b, Image)]
