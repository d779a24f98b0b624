"""Answers of the costly read-only commands, kept for the rest of the minute they were computed in.

A /mykpi card reads tens of thousands of orders; a person tapping it twice, or a group asking at once,
should not pay that again. Cards show their "as of" time to the minute and shop data refreshes every
[schedule] refresh_minutes, so an answer from earlier in the same minute is the same answer. A command
that writes (Command.writes, e.g. /target set) clears the cache of its process; other replicas see the
change at the next minute.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from cards.model import Card

Key = tuple[str, tuple[str, ...], int, str, str]


class CardCache:
    def __init__(self, max_items: int = 2048) -> None:
        self._items: OrderedDict[Key, Card] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(command: str, args: tuple[str, ...], member_id: int, lang: str, now: datetime) -> Key:
        return command, args, member_id, lang, now.strftime("%Y-%m-%dT%H:%M")

    def get(self, key: Key) -> Card | None:
        with self._lock:
            card = self._items.get(key)
            if card is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return card

    def put(self, key: Key, card: Card) -> None:
        with self._lock:
            self._items[key] = card
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def through(self, key: Key, build: Callable[[], Card]) -> Card:
        """The card kept under `key`, else `build()`'s, kept."""
        card = self.get(key)
        if card is None:
            card = build()
            self.put(key, card)
        return card

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
