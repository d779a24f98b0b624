"""Answers of the costly read-only commands, kept for the rest of the minute they were computed in.

A /mykpi card reads tens of thousands of orders; a person tapping it twice, or a group asking at once,
should not pay that again. Cards show their "as of" time to the minute and shop data refreshes every
[schedule] refresh_minutes, so an answer from earlier in the same minute is the same answer. A command
that writes (Command.writes, e.g. /target set) clears the cache of its process; other replicas see the
change at the next minute.

The same card is also kept by who asked (`keep_asked`): the platform ids of the sender and the command as typed,
with the id they are bound by. A second ask in the minute is then answered without reading who the sender is
(Dispatcher.answer). Who is who can change elsewhere (a binding, a role, a deactivation by the CLI or another
replica): the dispatcher looks at the store's counter of such changes (storage.identity_version) at most once a
second and drops these with `forget_asked` when it moved; an answer whose sender was read before a drop is not
kept after it (`generation`). So a change reaches them within about a second.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from cards.model import Card

Key = tuple[str, tuple[str, ...], int, str, str]
AskedKey = tuple[str, tuple[str, ...], str, tuple[str, ...], str]   # platform, sender's ids, command, args, minute


class CardCache:
    def __init__(self, max_items: int = 2048) -> None:
        self._items: OrderedDict[Key, Card] = OrderedDict()
        self._asked: OrderedDict[AskedKey, tuple[str, Card]] = OrderedDict()
        self._generation = 0   # moved by every drop of the kept answers: one read before it is not kept after
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

    def holds(self, key: Key, card: Card) -> bool:
        """Whether `card` is the one kept under `key` (no hit or miss counted)."""
        with self._lock:
            return self._items.get(key) is card

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

    @staticmethod
    def asked_key(platform: str, ids: tuple[str, ...], command: str, args: tuple[str, ...],
                  now: datetime) -> AskedKey:
        return platform, ids, command, args, now.strftime("%Y-%m-%dT%H:%M")

    def kept_asked(self, key: AskedKey) -> tuple[str, Card] | None:
        """(the id the sender is bound by, the card) kept for this ask; None when there is none."""
        with self._lock:
            got = self._asked.get(key)
            if got is not None:
                self._asked.move_to_end(key)
            return got

    @property
    def generation(self) -> int:
        """Read before the sender is read: `keep_asked` keeps nothing read before a drop since."""
        with self._lock:
            return self._generation

    def keep_asked(self, key: AskedKey, user_id: str, card: Card, generation: int) -> bool:
        """Keep the card for this ask, unless the kept answers were dropped since `generation` was read (the
        sender was read before a change that dropped them). Whether it was kept."""
        with self._lock:
            if generation != self._generation:
                return False
            self._asked[key] = user_id, card
            while len(self._asked) > self._max:
                self._asked.popitem(last=False)
            return True

    def forget_asked(self) -> None:
        """Drop the cards kept by who asked (not the cards themselves)."""
        with self._lock:
            self._asked.clear()
            self._generation += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._asked.clear()
            self._generation += 1
