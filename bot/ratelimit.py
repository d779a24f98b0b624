"""A blocking sliding-window rate limiter, one window per key (the app, a chat)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, per: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit, self.per, self.clock, self.sleep = limit, per, clock, sleep
        self._stamps: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._calls = 0

    def keys(self) -> int:
        return len(self._stamps)

    def acquire(self, key: str = "") -> float:
        """Wait until a call under `key` is allowed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                self._calls += 1
                if self._calls % 1024 == 0:  # forget keys (chats) that have been quiet for a window
                    for idle in [k for k, v in self._stamps.items() if not v or v[-1] <= now - self.per]:
                        del self._stamps[idle]
                stamps = self._stamps[key]
                while stamps and stamps[0] <= now - self.per:
                    stamps.popleft()
                if len(stamps) < self.limit:
                    stamps.append(now)
                    return waited
                pause = stamps[0] + self.per - now
            self.sleep(pause)
            waited += pause
