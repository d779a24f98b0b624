"""The digest job: every tick, each subscription whose local send time has come today gets its team's
digest (and on Mondays the weekly report), exactly once.

Exactly once: each (kind, subscription, local day) is claimed in the store before it is built and sent
(storage.schedule), so two scheduler processes, a restart, or a tick that runs late never send it twice; the
claim's key goes with the message as the platform's idempotency key, so a send taken over after a crash (its
claim stuck in "sending") is not doubled on a platform that already has it;
a send the platform did not accept is released and retried by the next tick. A digest missed while the
bot was down goes out at the first tick after it is back, if it is still the same day in the team's zone
(scoring.sendtime). Cards are built once per tick for each (team, language, finance, kind), however many
chats subscribe to them; each chat's copy carries its own subscription as its scope (services.digests).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session

from bot import metrics
from bot.logs import log_failure
from cards.i18n import lang_of
from cards.model import Card
from scoring.sendtime import due_day, parse_hhmm
from services.container import Services
from services.digests import shared_scope, subscription_digest
from services.messaging import Messenger
from services.scorecards import Inputs
from storage.models import DigestSubscription
from storage.schedule import claim_send, finish_send, send_key, sent_today

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    subscription_id: int
    kind: str            # digest | weekly
    day: date
    ok: bool


SEND_WORKERS = 16   # digests claimed and being sent at once: a platform waiting for its limits holds up no other
# digests due in a tick from which the charts its senders draw (DingTalk's pictures; Feishu draws its own) are drawn
# by a worker process (ChartCache.drawing_apart), started at the first: it takes about a second to start, in which
# this process draws some 15 charts itself
DRAW_APART_FROM = 16


def run_due_digests(services: Services, messengers: Mapping[str, Messenger], now: datetime,
                    instance: str) -> list[Sent]:
    """The tick: each due digest claimed, built (here, one after another) and handed to one of SEND_WORKERS
    senders, which records its outcome on the claim as soon as the platform answers. No more than SEND_WORKERS
    claims are open at a time, so a crash mid-tick leaves at most that many to be taken over later
    (storage.schedule.STALE_AFTER); the others are claimed by the next process as usual. A taken-over send that
    had reached the platform is not doubled where the platform has an idempotency key (Feishu's uuid, DingTalk's
    card outTrackId); a DingTalk digest sent as markdown (no card template) has none and may arrive twice. The
    results are in the order of the subscriptions. Digests sent earlier today are skipped before any claim; with
    DRAW_APART_FROM or more due, the charts the senders draw are drawn by a worker process
    (ChartCache.drawing_apart)."""
    with Session(services.engine) as session:
        subscriptions = list(session.execute(
            select(DigestSubscription).where(DigestSubscription.active)).scalars())  # type: ignore[arg-type]
    built: dict[tuple[int, str, bool, bool], Card] = {}
    inputs: Inputs | None = None    # one tick's cards share what they read (a team's scores, the rates)
    open_claims = threading.BoundedSemaphore(SEND_WORKERS)

    def send(sub: DigestSubscription, messenger: Messenger, kind: str, card: Card | None, day: date,
             error: str | None) -> Sent:
        """Send `card` (None: it could not be built, for `error`), then record the outcome on the claim."""
        subject = f"subscription:{sub.id}"
        try:
            if card is not None:
                try:
                    # the same card for every chat of the key, each scoped to its own subscription
                    if messenger.send_to_chat(sub.chat_id, card, send_key(kind, subject, day)):
                        metrics.digest_sent()
                    else:
                        error = f"{sub.platform} did not accept the message"
                except Exception as exc:
                    log_failure(log, "digest %s for subscription %s on %s failed", kind, sub.id, day)
                    error = f"{exc.__class__.__name__}: {exc}"
            try:
                finish_send(services.engine, kind, subject, day, instance, now, error)
            except Exception:   # the claim stays "sending": taken over after STALE_AFTER, as after a crash
                log_failure(log, "digest %s for subscription %s on %s: its outcome could not be recorded", kind,
                            sub.id, day)
        finally:
            open_claims.release()
        log.info("digest %s for subscription %s (%s %s) on %s: %s", kind, sub.id, sub.platform, sub.chat_id,
                 day, "sent" if error is None else error)
        return Sent(sub.id or 0, kind, day, error is None)

    due: list[tuple[DigestSubscription, Messenger, str, bool, date]] = []
    for sub in subscriptions:
        messenger = messengers.get(sub.platform)
        if messenger is None:
            continue        # that platform is not connected in this process
        day = due_day(now, parse_hhmm(sub.send_time), sub.timezone)
        if day is None:
            continue
        kinds = [("digest", False)] + ([("weekly", True)] if sub.weekly and day.weekday() == 0 else [])
        due.extend((sub, messenger, kind, weekly, day) for kind, weekly in kinds)
    # what went out earlier today is left alone without a claim: a tick after the send times claims nothing
    sent = {kind: sent_today(services.engine, kind, {f"subscription:{s.id}": d for s, _, k, _, d in due if k == kind})
            for kind in ("digest", "weekly")}
    due = [d for d in due if f"subscription:{d[0].id}" not in sent[d[2]]]
    sending: list[Future[Sent]] = []
    # the senders are done before the chart worker stops (the blocks end in reverse order)
    apart = len(due) >= DRAW_APART_FROM
    with services.charts.drawing_apart(apart), \
            ThreadPoolExecutor(SEND_WORKERS, thread_name_prefix="digest-send",
                               initializer=services.charts.draw_apart_here if apart else None) as pool:
        for sub, messenger, kind, weekly, day in due:
            open_claims.acquire()
            if not claim_send(services.engine, kind, f"subscription:{sub.id}", day, instance, now):
                open_claims.release()
                continue
            card, error = None, None
            try:
                key = (sub.team_id, lang_of(sub.locale), sub.finance, weekly)
                if key not in built:
                    with Session(services.engine) as session:
                        inputs = inputs or Inputs.load(session, services.rules, now, skip_missing_fx=True)
                        built[key] = subscription_digest(session, services, sub, now, weekly, inputs)
                card = replace(built[key], scope=shared_scope(sub, weekly))
            except Exception as exc:
                log_failure(log, "digest %s for subscription %s on %s failed", kind, sub.id, day)
                error = f"{exc.__class__.__name__}: {exc}"
            sending.append(pool.submit(send, sub, messenger, kind, card, day, error))
    return [future.result() for future in sending]
