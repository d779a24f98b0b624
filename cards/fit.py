"""Keep a card under a platform's size limit by summarising it, never by cutting it off mid-way.

The longest table loses rows from its end (they are ranked, so the top stays) and says how many are not
shown; only if tables alone cannot make it fit are trailing blocks dropped, again with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cards.i18n import t
from cards.model import Block, Card, Note, Table


def fit(card: Card, size: Callable[[Card], int], limit: int) -> Card:
    """The card itself when `size(card) <= limit`, else a shortened copy that fits."""
    if size(card) <= limit:
        return card
    blocks = list(card.blocks)
    hidden = 0
    while True:
        tables = [(len(b.rows), i) for i, b in enumerate(blocks) if isinstance(b, Table) and b.rows]
        if not tables:
            break
        _, index = max(tables)
        table = blocks[index]
        assert isinstance(table, Table)
        lo, hi = 0, len(table.rows)          # the most rows that still fit, by bisection
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if size(_with(card, blocks, index, table, mid, hidden + len(table.rows) - mid)) <= limit:
                lo = mid
            else:
                hi = mid - 1
        hidden += len(table.rows) - lo
        if lo:
            blocks[index] = Table(table.headers, table.rows[:lo])
        else:
            del blocks[index]
        candidate = replace(card, blocks=(*blocks, _note(card.lang, hidden)))
        if size(candidate) <= limit:
            return candidate
    dropped = list(blocks)
    while dropped:
        dropped.pop()
        candidate = replace(card, blocks=(*dropped, Note(t(card.lang, "card.shortened"))))
        if size(candidate) <= limit:
            return candidate
    return replace(card, blocks=(Note(t(card.lang, "card.shortened")),))


def _with(card: Card, blocks: list[Block], index: int, table: Table, keep: int, hidden: int) -> Card:
    trial = [*blocks]
    trial[index] = Table(table.headers, table.rows[:keep])
    return replace(card, blocks=(*trial, _note(card.lang, hidden)))


def _note(lang: str, hidden: int) -> Note:
    return Note(t(lang, "card.rows_hidden", n=hidden))
