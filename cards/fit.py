"""Keep a card under a platform's size limit by summarising it, never by cutting it off mid-way.

In order, until the card fits:
1. every table keeps at most its first k rows (they are ranked, so the top stays), k as large as fits,
   and a note says how many rows are not shown;
2. the longest text is shortened, with an ellipsis;
3. trailing blocks are dropped, with a note that the card was shortened.
Each step finds the most it can keep by bisection, so a card is rendered O(log n) times per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cards.i18n import t
from cards.model import Block, Card, Note, Table, Text


def fit(card: Card, size: Callable[[Card], int], limit: int) -> Card:
    """The card itself when `size(card) <= limit`, else a shortened copy that fits."""
    if size(card) <= limit:
        return card
    most_rows = max((len(b.rows) for b in card.blocks if isinstance(b, Table)), default=0)
    if most_rows:
        def capped(k: int) -> Card:
            blocks: list[Block] = []
            hidden = 0
            for b in card.blocks:
                if isinstance(b, Table):
                    hidden += max(0, len(b.rows) - k)
                    if k == 0:
                        continue
                    b = Table(b.headers, b.rows[:k])
                blocks.append(b)
            note = (Note(t(card.lang, "card.rows_hidden", n=hidden)),) if hidden else ()
            return replace(card, blocks=(*blocks, *note))

        k = _most(lambda k: size(capped(k)) <= limit, most_rows)
        card = capped(max(k, 0))
        if k >= 0:
            return card
    texts = [(len(b.text), i) for i, b in enumerate(card.blocks) if isinstance(b, Text)]
    if texts:
        length, index = max(texts)
        longest = card.blocks[index]
        assert isinstance(longest, Text)

        def cut(n: int) -> Card:
            blocks = list(card.blocks)
            blocks[index] = Text(longest.text[:n] + "…", longest.strong)
            return replace(card, blocks=tuple(blocks))

        n = _most(lambda n: size(cut(n)) <= limit, length)
        if n >= 0:
            return cut(n)
    shortened = Note(t(card.lang, "card.shortened"))
    keep = _most(lambda n: size(replace(card, blocks=(*card.blocks[:n], shortened))) <= limit, len(card.blocks))
    return replace(card, blocks=(*card.blocks[:max(keep, 0)], shortened))


def _most(fits: Callable[[int], bool], high: int) -> int:
    """The largest n in 0..high with fits(n) (fits is monotone), or -1 when not even 0 fits."""
    if not fits(0):
        return -1
    lo, hi = 0, high
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
