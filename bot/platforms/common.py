"""What every chat adapter does the same way, whatever the platform.

- Ack first, work after: an SDK delivers events on its connection loop, which must never wait on the store
  or the network, so the adapter hands each event to a `WorkerPool` and acks at once. While shutting down
  the pool refuses new work, so the platform delivers the event again instead of it being lost.
- A redelivered event is answered once (`answer_once`): the worker claims the event's ids in the store before
  answering (storage.events.claim); the claim becomes "answered" once the platform accepted the reply, a reply
  that failed releases it, and a claim whose process died is taken over by a redelivery after its lease
  (storage.events.CLAIM_LEASE). Both adapters ack before they claim, so a platform delivers an event again
  only after a reconnect or an ack that came late: a reply whose retries ran out leaves the message unanswered
  unless that happens; it is logged as unsent and counted (kpibot_messages_failed, reason "unsent"). A card
  kept for its sender's same ask this minute goes first where a second sending makes no second message
  (Feishu's reply uuid, DingTalk's card outTrackId, both made from the message id), and the event is recorded
  answered after (`answer_kept`).
- A message not for the bot (group chatter without an @-mention, a picture, text that is not a command) is left
  alone before anything touches the store (Dispatcher.wants): it is neither claimed nor answered "busy".
- A store that cannot be reached within STORE_WAIT_S (refused, dropped, locked) never swallows a message: the
  sender gets "kpibot is busy, try again in a minute" at once, built from memory. Nothing is claimed then, so
  a redelivery once the store is back gets the real answer (one that comes while the store is still away gets
  the busy card again, or not even that where the platform dedupes the busy reply by its own key).
- A chart is uploaded once per platform: `ImageUploads` keeps the platform's key for each chart.
- A click on a card may be overtaken by a newer click on the same card: `ClickOrder` lets only the newest
  one update it.
- Outgoing calls retry what the platform says is worth retrying (`Retryable`: rate limits, server errors,
  transport failures) with exponential backoff and jitter (tenacity); the last failure is logged, not raised.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import uuid4

from sqlalchemy.engine import Engine
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from bot import metrics
from bot.dispatch import StoreBusy
from bot.logs import about_event
from cards.model import Card
from storage.engine import store_unreachable
from storage.events import claim, record_answered, settle

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E")


def idempotency_id(key: str, receiver: str) -> str:
    """The platform's idempotency id of a proactive send: its claim's key (services.messaging) and the receiver,
    hashed to 40 hex characters (Feishu's uuid takes at most 50; DingTalk's outTrackId is an opaque string).
    The same claim to the same receiver always gives the same id, whichever replica sends it."""
    return hashlib.sha256(f"{key}\n{receiver}".encode()).hexdigest()[:40]


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


class Outcome(enum.Enum):
    """What became of one chat message (`answer_once`, `answer_kept`; counted by `track`)."""
    ANSWERED = "answered"      # the platform took the reply
    IGNORED = "ignored"        # nothing to say (not for the bot): nothing claimed, nothing sent
    DUPLICATE = "duplicate"    # a redelivery of a message answered or in hand elsewhere
    BUSY = "busy"              # the store was away: the busy card went instead
    UNSENT = "unsent"          # the reply's retries ran out: unanswered unless the platform redelivers
    DEFERRED = "deferred"      # the reply waits for its slot; its outcome is counted when it is known


def count(platform: str, outcome: Outcome, seconds: float) -> None:
    """The metrics of one message's outcome: handled (answered, with its latency; ignored), failed by reason
    (unsent, busy), or a duplicate."""
    if outcome is Outcome.ANSWERED:
        metrics.message_handled(platform, seconds)
    elif outcome is Outcome.IGNORED:
        metrics.message_handled(platform, None)
    elif outcome is Outcome.DUPLICATE:
        metrics.message_duplicate(platform)
    elif outcome in (Outcome.BUSY, Outcome.UNSENT):
        metrics.message_failed(platform, outcome.value)


def track(platform: str, event_id: str | None, handle: Callable[..., Outcome], *args: Any) -> None:
    """Handle one chat message on a worker: every line logged meanwhile names the event, and the metrics count
    its outcome (`count`); an exception counts as failed (reason "error")."""
    started = time.monotonic()
    with about_event(event_id):
        try:
            outcome = handle(*args)
        except Exception:
            metrics.message_failed(platform, "error")
            raise
        count(platform, outcome, time.monotonic() - started)


class Watchdog:
    """Notices a connection that is open but deaf and reconnects it.

    `quiet()` says how long the server has been silent and how long a healthy connection may be (its ping
    interval, say); silent longer than that and than `seconds`, the connection is deaf: one line is logged and
    `reconnect()` runs (on the watchdog's thread). Checked a few times per `seconds`."""

    def __init__(self, platform: str, seconds: float, quiet: Callable[[], tuple[float, float]],
                 reconnect: Callable[[], None]) -> None:
        self.platform, self.seconds, self.quiet, self.reconnect = platform, seconds, quiet, reconnect
        self.reconnecting = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name=f"{self.platform}-watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait (at most `timeout`) for a reconnect in progress to end, so none outlives the
        adapter's stop."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _watch(self) -> None:
        while not self._stop.wait(min(max(self.seconds / 4, 0.2), 15.0)):
            silent, floor = self.quiet()
            limit = max(self.seconds, floor)
            if silent <= limit or self._stop.is_set():
                continue
            log.warning("%s: nothing heard from the server for %.0f s: the connection is deaf; reconnecting",
                        self.platform, silent)
            metrics.reconnected(self.platform)
            self.reconnecting = True
            try:
                self.reconnect()
            except Exception:
                log.exception("%s: the watchdog's reconnect failed; it tries again", self.platform)
            finally:
                self.reconnecting = False


# How long the in-memory maps keep an entry, and how many entries they keep at most (a safety net for floods).
# Neither platform gives a message image's key a lifetime (DingTalk's media files are kept with no time limit;
# Feishu's image upload documents none): a day is a cache policy. Charts are keyed by content and the data
# behind them changes with every refresh, so a day-old chart is rarely asked for again; one that is, is uploaded
# again. A click needs its card's entry only while it is in flight (numbered on arrival, answered by a worker
# within seconds, retries and a deferred minute included); Feishu takes a click's card update for at most
# 30 minutes after the click, so 30 minutes since a card's last click is well past that.
IMAGE_MAX_AGE_S = 24 * 3600.0
IMAGE_MAX_ENTRIES = 2048
CLICK_MAX_AGE_S = 30 * 60.0
CLICK_MAX_ENTRIES = 10_000


class ImageUploads:
    """The platform's key for each chart, uploaded once: two askers of one chart wait for one upload.

    Bounded: a key is kept IMAGE_MAX_AGE_S after its upload and at most `max_entries` keys are kept (the
    oldest go first); both are pruned when a key is added. A pruned chart is simply uploaded again."""

    def __init__(self, upload: Callable[[bytes, str], str | None], *, max_age_s: float = IMAGE_MAX_AGE_S,
                 max_entries: int = IMAGE_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self._upload = upload          # (png, chat the upload is for) -> the platform's key, None if it failed
        self._max_age, self._max_entries, self._clock = max_age_s, max_entries, clock
        self._keys: OrderedDict[str, tuple[str, float]] = OrderedDict()   # chart key -> (platform key, uploaded at)
        self._lock = threading.Lock()
        self._uploading: dict[str, Future[str | None]] = {}              # chart key -> the upload in progress

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    def keys_for(self, card: Card, chat_id: str, skip: Collection[str] = ()) -> dict[str, str]:
        """Neutral image key -> platform key for the card's charts; a failed upload is left out, and so are
        the charts in `skip` (drawn natively by the platform: not uploaded)."""
        keys: dict[str, str] = {}
        for image in card.images():
            if image.key in skip:
                continue
            known = self._key_for(image.key, lambda image=image: image.png, chat_id)   # drawn only to upload
            if known is not None:
                keys[image.key] = known
        return keys

    def _key_for(self, key: str, png: Callable[[], bytes], chat_id: str) -> str | None:
        while True:
            with self._lock:
                entry = self._keys.get(key)
                if entry is not None and self._clock() - entry[1] < self._max_age:
                    return entry[0]
                pending = self._uploading.get(key)
                mine = pending is None
                if pending is None:
                    pending = self._uploading[key] = Future()
            if not mine:
                if (waited := pending.result()) is not None:
                    return waited
                continue       # the other asker's upload failed: try it ourselves, as a first asker would
            known: str | None = None
            try:
                known = self._upload(png(), chat_id)
            finally:
                with self._lock:
                    del self._uploading[key]
                    if known is not None:
                        self._add(key, known)
                pending.set_result(known)
            return known

    def _add(self, key: str, platform_key: str) -> None:
        """Under the lock: keep the new key, then drop keys past their age and the oldest beyond the cap."""
        now = self._clock()
        self._keys.pop(key, None)
        self._keys[key] = (platform_key, now)
        _prune(self._keys, lambda entry: entry[1], now, self._max_age, self._max_entries)


RENDERED_MAX_ENTRIES = 256   # cards (and their renderings) kept: answers of the last minute or so


class Rendered:
    """What an adapter made of a card object (its platform content, fitted and with its charts chosen), kept while
    that same object is asked for again: the card cache (bot.card_cache) hands out one Card object per command,
    member and minute, so a repeated ask renders it once. Keyed by the object's identity and what else the
    rendering depends on (owner, chat, image keys); a hit requires the very object, so an id reused by another
    card never matches. Bounded: the least recently used entries go first."""

    def __init__(self, max_entries: int = RENDERED_MAX_ENTRIES) -> None:
        self._max = max_entries
        self._items: OrderedDict[tuple[int, Any], tuple[Card, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, card: Card, key: Any) -> Any | None:
        with self._lock:
            entry = self._items.get((id(card), key))
            if entry is None or entry[0] is not card:
                return None
            self._items.move_to_end((id(card), key))
            return entry[1]

    def put(self, card: Card, key: Any, value: Any) -> None:
        with self._lock:
            self._items[(id(card), key)] = (card, value)
            self._items.move_to_end((id(card), key))
            while len(self._items) > self._max:
                self._items.popitem(last=False)


NO_NEWEST = 0   # a card's newest click was withdrawn (ClickOrder.withdraw): any click may update it; never a number


class ClickOrder:
    """Only the newest click on a card updates it. Clicks are numbered where they arrive (the connection
    loop, in arrival order); the update of the newest runs under a per-card lock, so an older click that
    finishes later can never land on top of it.

    Bounded: a card's entry is kept CLICK_MAX_AGE_S after its last click and at most `max_entries` cards are
    kept (the least recently clicked go first); both are pruned when a click is numbered. Numbers come from one
    counter for all cards, so a card clicked again after its entry went never reuses a number, and a click whose
    card has no entry any more (nothing newer came) still updates it."""

    def __init__(self, *, max_age_s: float = CLICK_MAX_AGE_S, max_entries: int = CLICK_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age, self._max_entries, self._clock = max_age_s, max_entries, clock
        self._last = 0
        # card -> (its newest click's number, when it arrived, the lock its updates run under); least recent first
        self._cards: OrderedDict[str, tuple[int, float, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._cards)

    def next(self, card_id: str) -> int:
        with self._lock:
            now = self._clock()
            self._last += 1
            entry = self._cards.pop(card_id, None)
            self._cards[card_id] = (self._last, now, entry[2] if entry is not None else threading.Lock())
            _prune(self._cards, lambda e: e[1], now, self._max_age, self._max_entries)
            return self._last

    def withdraw(self, card_id: str, seq: int) -> None:
        """Click `seq` was refused after it was numbered: it must not count as the card's newest, or a refused
        click would drop an allowed one still running. If it is still the newest, the card has no newest any
        more, so an older click then updates it (as one whose card has no entry does); a newer click keeps its
        place. The card's lock stays, so updates already running still go one at a time."""
        with self._lock:
            entry = self._cards.get(card_id)
            if entry is not None and entry[0] == seq:
                self._cards[card_id] = (NO_NEWEST, entry[1], entry[2])

    def update_if_newest(self, card_id: str, seq: int, update: Callable[[], object]) -> bool:
        """Run `update` if click `seq` is still the newest on the card; False when a newer one came."""
        with self._lock:
            entry = self._cards.get(card_id)
            if entry is not None and entry[0] not in (seq, NO_NEWEST):
                return False
            card_lock = entry[2] if entry is not None else threading.Lock()
        with card_lock:
            with self._lock:
                entry = self._cards.get(card_id)
                if entry is not None and entry[0] not in (seq, NO_NEWEST):
                    return False
            update()
            return True



def _prune(entries: OrderedDict[str, E], added_at: Callable[[E], float], now: float, max_age: float,
           max_entries: int) -> None:
    """Drop the entries from the oldest while they are older than `max_age` or more than `max_entries`: each
    entry is dropped once, so the cost is amortised over the inserts."""
    while entries:
        oldest = next(iter(entries.values()))
        if len(entries) <= max_entries and now - added_at(oldest) < max_age:
            break
        entries.popitem(last=False)


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


# How long the answer path waits for the store (a lock, a statement) before it answers "busy" instead: long
# enough for a busy moment (a sync batch's commit holds SQLite's write lock well under a second), short enough
# that the sender hears back within seconds when the store is away, rather than after SQLite's 30 s or never.
STORE_WAIT_S = 3.0


ANSWERED_MAX_ENTRIES = 10_000   # ids of events this process took (two an event): a busy hour's and more


class AnsweredEvents:
    """The ids of the events this process is answering or answered lately (the newest `max_entries`): a kept
    answer, which skips the store's claim (`answer_kept`), is not sent again for a delivery this process took
    already."""

    def __init__(self, max_entries: int = ANSWERED_MAX_ENTRIES) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def take(self, ids: tuple[str | None, ...]) -> bool:
        """Note the event as this process's to answer; False (nothing noted) when it was already."""
        with self._lock:
            if any(i in self._ids for i in ids if i):
                return False
            for i in ids:
                if i:
                    self._ids[i] = None
            while len(self._ids) > self._max:
                self._ids.popitem(last=False)
            return True

    def release(self, ids: tuple[str | None, ...]) -> None:
        """The answer was not sent: a redelivery may be answered."""
        with self._lock:
            for i in ids:
                self._ids.pop(i or "", None)


def answer_kept(platform: str, engine: Engine, ids: tuple[str | None, ...], reply: Callable[[], bool],
                answered: AnsweredEvents) -> Outcome | None:
    """Reply first, then record the event's `ids` answered (storage.events.record_answered): for a card kept for
    its sender (Dispatcher.kept_answer) on a platform that sends one message per idempotency key however often the reply
    is sent (Feishu's uuid, the message id). The claim's transaction before the reply, most of a kept answer's
    time on PostgreSQL, is spared. A delivery this process answered already (`answered`) gets no reply; one that
    another replica answered at the same moment gets the same message back from the platform, not a second one.
    `reply()` is True when the platform took it; when it did not, None: the caller answers as ever (claimed first;
    its reply has the same idempotency key, so a kept reply the platform took after all is not doubled, unless that
    reply fails too and falls back to a message with no such key: DingTalk's markdown)."""
    label = "/".join(i for i in ids if i)
    if not answered.take(ids):
        log.info("%s: duplicate delivery %s ignored", platform, label)
        return Outcome.DUPLICATE
    try:
        sent = reply()
    except BaseException:
        answered.release(ids)
        raise
    if not sent:
        answered.release(ids)
        log.info("%s: the kept answer to %s did not go; answering it as ever", platform, label)
        return None
    try:
        record_answered(engine, platform, *ids, wait_s=STORE_WAIT_S)
    except Exception as exc:
        if not store_unreachable(exc):
            raise
        log.warning("%s: %s was answered but could not be recorded (%s); the platform's idempotency key keeps a "
                    "redelivery within its hour from a second message", platform, label, exc.__class__.__name__)
    return Outcome.ANSWERED


def answer_once(platform: str, engine: Engine, ids: tuple[str | None, ...],
                answer: Callable[[Callable[[bool], None]], None], busy: Callable[[], object],
                answered: AnsweredEvents | None = None) -> Outcome:
    """Claim the event's `ids`, then `answer(done)`; the answer calls `done(True)` once the platform accepted
    its reply (or there was nothing to say) and `done(False)` when the reply failed, which releases the claim.
    When the store cannot be reached, `busy()` sends the busy card instead. A duplicate delivery does nothing.
    `answered`: the events this process is answering or answered (answer_kept's); one of them is not answered
    again, and an answer that did not go is taken off it. Returns the outcome; DEFERRED when `done` was not called
    by the time `answer` returned (a reply waiting for its group's slot): `done` then counts the outcome itself
    when it comes."""
    token = uuid4().hex
    started = time.monotonic()
    lock = threading.Lock()
    state: dict[str, Any] = {"returned": False, "outcome": None, "said": False}
    label = "/".join(i for i in ids if i)
    try:
        if not claim(engine, platform, *ids, token=token, wait_s=STORE_WAIT_S):
            log.info("%s: duplicate delivery %s ignored", platform, label)
            return Outcome.DUPLICATE
    except Exception as exc:
        if not store_unreachable(exc):
            raise
        log.warning("%s: the store could not be reached to claim %s (%s); answered busy", platform, label,
                    exc.__class__.__name__)
        busy()
        return Outcome.BUSY
    if answered is not None and not answered.take(ids):
        # this process is answering it (a kept answer on its way) or answered it: no second reply. The claim goes
        # (not marked answered): should that answer fail, its answering as ever, or a redelivery, finds none
        log.info("%s: %s is this process's to answer already", platform, label)
        try:
            settle(engine, platform, ids, token, answered=False, wait_s=STORE_WAIT_S)
        except Exception as exc:
            if not store_unreachable(exc):
                raise
        return Outcome.DUPLICATE

    def done(sent: bool) -> None:
        with lock:   # the first word stands (an answer that raised after it said may be told again)
            if state["said"]:
                return
            state["said"] = True
        if not sent and answered is not None:
            answered.release(ids)
        try:
            settle(engine, platform, ids, token, answered=sent, wait_s=STORE_WAIT_S)
        except Exception as exc:
            if not store_unreachable(exc):
                raise
            log.warning("%s: the claim on %s could not be %s (%s); it holds until its lease ends", platform,
                        label, "marked answered" if sent else "released", exc.__class__.__name__)
        if not sent:
            _log_unsent(platform, label)
        with lock:
            late = state["returned"] and state["outcome"] is None
            if state["outcome"] is None:
                state["outcome"] = Outcome.ANSWERED if sent else Outcome.UNSENT
            outcome = state["outcome"]
        if late:
            count(platform, outcome, time.monotonic() - started)

    try:
        answer(done)
    except Exception as exc:
        if not (isinstance(exc, StoreBusy) or store_unreachable(exc)):
            done(False)
            raise
        log.warning("%s: the store went away while answering %s (%s); answered busy", platform, label,
                    exc.__class__.__name__)
        with lock:
            state["outcome"] = Outcome.BUSY
        busy()
        done(False)
    with lock:
        state["returned"] = True
        return state["outcome"] if state["outcome"] is not None else Outcome.DEFERRED


def _log_unsent(platform: str, label: str) -> None:
    log.warning("%s: the answer to %s was not sent (logged as unsent, counted in kpibot_messages_failed); "
                "it stays unanswered unless the platform delivers the message again", platform, label)
