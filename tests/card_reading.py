"""Reading a neutral card in tests: its fields and its table, as a person reads them."""

from __future__ import annotations

from cards.model import Card, Fields, Table


def fields(card: Card) -> dict[str, str]:
    """Every label and value of the card's field blocks."""
    return {k: v for b in card.blocks if isinstance(b, Fields) for k, v in b.items}


def table(card: Card) -> tuple[tuple[str, ...], ...]:
    """The rows of the card's first table; none when it has no table."""
    return next((b.rows for b in card.blocks if isinstance(b, Table)), ())
