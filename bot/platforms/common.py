"""What every chat adapter does the same way, whatever the platform.

- Ack first, work after: an SDK delivers events on its connection loop, which must never wait on the store
  or the network, so the adapter hands each event to a `WorkerPool` and acks at once. While shutting down
  the pool refuses new work, so the platform delivers the event again instead of it being lost.
- A redelivered event is answered once: the worker claims the event's ids in the store before answering
  (storage.events.claim).
- A chart is uploaded once per platform: `ImageUploads` keeps the platform's key for each chart.
- A click on a card may be overtaken by a newer click on the same card: `ClickOrder` lets only the newest
  one update it.
- Outgoing calls retry what the platform says is worth retrying (`Retryable`: rate limits, server errors,
  transport failures) with exponential backoff and jitter (tenacity); the last failure is logged, not raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from cards.model import Card

log = logging.getLogger(__name__)
T = TypeVar("T")


class Retryable(Exception):
    """A platform answer worth trying again (rate limit, server error, transport failure)."""


class ShuttingDown(Exception):
    """Raised to an SDK while the adapter closes: the SDK acks with an error and the platform redelivers."""


class WorkerPool:
    """Threads that do the slow part of handling an event, so the connection loop only acks.

    The queue is bounded: beyond `max_pending` events the pool refuses (the SDK then acks with an error and
    the platform delivers again later) instead of acking work it may not finish before a restart. Work can
    also be deferred (`submit_later`, for a group that has used its messages for the minute) without holding
    a thread while it waits. `drain` finishes queued and deferred work within a deadline and logs what it
    could not finish.
    """

    def __init__(self, platform: str, workers: int, max_pending: int = 500) -> None:
        self.platform = platform
        self.closing = False
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=platform)
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()
        self._timers: set[threading.Timer] = set()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.closing:
            raise ShuttingDown(f"kpibot is shutting down; {self.platform} will deliver this again")
        with self._lock:
            if len(self._pending) >= self.max_pending:
                raise ShuttingDown(f"{self.platform}: {len(self._pending)} events are waiting; this one is "
                                   "refused so that it is delivered again later")
        self._run(fn, *args)

    def submit_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn` on a worker after `delay_s` seconds; accepted work, so it runs even while closing."""
        def fire() -> None:
            self._run(fn, *args)   # pending before the timer is forgotten: never neither (drain, idle)
            with self._lock:
                self._timers.discard(timer)

        timer = threading.Timer(delay_s, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        future = self._pool.submit(self._guarded, fn, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: handling failed in %s", self.platform, getattr(fn, "__name__", fn))

    def idle(self) -> bool:
        """True when no work is queued, running or deferred: whatever the events handed over so far lead to
        (an answer, a card update) has been sent."""
        with self._lock:
            return not self._pending and not self._timers

    def close(self) -> None:
        """Refuse new work (call before closing the connection)."""
        self.closing = True

    def drain(self, deadline_s: float = 70.0) -> None:
        """Finish the work in hand, deferred work included, for at most `deadline_s` seconds."""
        self.closing = True
        deadline = time.monotonic() + deadline_s
        while True:
            with self._lock:
                timers, pending = list(self._timers), list(self._pending)
            if not timers and not pending:
                break
            if time.monotonic() >= deadline:
                log.error("%s: stopped with %d answers unsent (%d deferred); they were acknowledged and are lost",
                          self.platform, len(pending), len(timers))
                for timer in timers:
                    timer.cancel()
                break
            time.sleep(0.02)
        self._pool.shutdown(wait=False, cancel_futures=True)


class ImageUploads:
    """The platform's key for each chart, uploaded once: two askers of one chart wait for one upload."""

    def __init__(self, upload: Callable[[bytes, str], str | None]) -> None:
        self._upload = upload          # (png, chat the upload is for) -> the platform's key, None if it failed
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()
        self._per_image: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def keys_for(self, card: Card, chat_id: str) -> dict[str, str]:
        """Neutral image key -> platform key for the card's charts; a failed upload is left out."""
        keys: dict[str, str] = {}
        for image in card.images():
            with self._lock:
                per_image = self._per_image[image.key]
            with per_image:
                with self._lock:
                    known = self._keys.get(image.key)
                if known is None:
                    known = self._upload(image.png, chat_id)
                    if known is None:
                        continue
                    with self._lock:
                        self._keys[image.key] = known
            keys[image.key] = known
        return keys


class ClickOrder:
    """Only the newest click on a card updates it. Clicks are numbered where they arrive (the connection
    loop, in arrival order); the update of the newest runs under a per-card lock, so an older click that
    finishes later can never land on top of it."""

    def __init__(self) -> None:
        self._seq: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._lock = threading.Lock()

    def next(self, card_id: str) -> int:
        with self._lock:
            seq = self._seq.get(card_id, 0) + 1
            self._seq[card_id] = seq
            return seq

    def update_if_newest(self, card_id: str, seq: int, update: Callable[[], object]) -> bool:
        """Run `update` if click `seq` is still the newest on the card; False when a newer one came."""
        with self._lock:
            card_lock = self._locks[card_id]
        with card_lock:
            with self._lock:
                if self._seq.get(card_id) != seq:
                    return False
            update()
            return True


def with_retries(platform: str, what: str, attempt: Callable[[], T], attempts: int, backoff_s: float) -> T | None:
    """Run `attempt` until it returns; it raises `Retryable` to be tried again. None after the last try."""
    try:
        backoff = wait_exponential_jitter(multiplier=backoff_s, max=5.0, jitter=backoff_s)
        for tried in Retrying(retry=retry_if_exception_type(Retryable), stop=stop_after_attempt(attempts),
                              wait=backoff, reraise=False):
            with tried:
                return attempt()
    except RetryError as exc:
        log.error("%s: %s failed after %d tries: %s", platform, what, attempts, exc.last_attempt.exception())
    return None
