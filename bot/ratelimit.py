"""A sliding-window rate limiter, one window per key (the app, an API, a chat).

Slots are booked: `reserve` takes the next free slot and says how long until it (0 = now), so a caller
that must not hold a thread while it waits can schedule the call for then; `acquire` books and sleeps.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, per: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit, self.per, self.clock, self.sleep = limit, per, clock, sleep
        self._stamps: dict[str, deque[float]] = defaultdict(deque)   # booked times, in order
        self._lock = threading.Lock()
        self._calls = 0

    def keys(self) -> int:
        return len(self._stamps)

    def reserve(self, key: str = "") -> float:
        """Book the next slot under `key`; returns the seconds until it. The slot is taken: make the call
        then, and do not book again for it."""
        with self._lock:
            now = self.clock()
            self._calls += 1
            if self._calls % 1024 == 0:  # forget keys (chats) that have been quiet for a window
                for idle in [k for k, v in self._stamps.items() if not v or v[-1] <= now - self.per]:
                    del self._stamps[idle]
            stamps = self._stamps[key]
            while stamps and stamps[0] <= now - self.per:
                stamps.popleft()
            at = now if not stamps else max(now, stamps[-1])          # never ahead of earlier bookings
            if len(stamps) >= self.limit:
                at = max(at, stamps[-self.limit] + self.per)         # the window holds `limit` calls at most
            stamps.append(at)
            return at - now

    def acquire(self, key: str = "") -> float:
        """Wait until a call under `key` is allowed; returns the seconds waited."""
        wait = self.reserve(key)
        if wait > 0:
            self.sleep(wait)
        return wait
