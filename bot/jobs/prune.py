"""The daily maintenance job: deletes the store's bookkeeping rows nothing reads any more, so the long-running
bot's tables stop growing. Several replicas may run it: deleting is idempotent.

- processed_event (storage.events): a row only has to outlive the platform's redeliveries of its event, which come
  seconds to minutes after a late ack or a reconnect (docs: Feishu, DingTalk). Kept EVENT_RETENTION (7 days).
  Rows are stamped with the wall clock (`received_at`), so the cutoff is taken from the earlier of the job's clock
  and the wall clock: a clock pinned in the future never deletes events received just now.
- scheduled_send (storage.schedule): kept SEND_RETENTION (60 days) after their local day. Safe because:
  digests, weekly reports and lag alerts read only the claim of the current local day, lead summaries that of the
  day they summarise, at most three days back (the claim's unique key, `sent_today`), and a claim left "sending"
  is taken over after 15 minutes; the daily score snapshots
  read each member's newest sent claim to make up missed days, back at most CATCH_UP_DAYS (35) days, so no claim
  of those days is deleted, and a member's newest one is kept whatever its age (a bot down for longer still makes
  up the 35 days, as before); an unhealthy-shop notice is keyed by the streak's first day and read as long as the
  streak lasts, so the notices of a shop still unhealthy are kept; the admins' notices sent once ever (a handle
  matching no member, a currency without rates: storage.schedule.ONCE_EVER) are never deleted, or they would be
  sent again (one row per admin and handle or currency: few).
- audit_log is never deleted: it is kept forever, and the store refuses to delete or change its rows
  (storage.audit_guard).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.container import Services
from services.messaging import Messenger
from storage import events, schedule

log = logging.getLogger(__name__)

EVENT_RETENTION = timedelta(days=7)
SEND_RETENTION = timedelta(days=60)   # > CATCH_UP_DAYS + a day of time zones (tests/test_prune.py)
BATCH = 1000


@dataclass(frozen=True)
class Pruned:
    events: int
    sends: int


def run_prune(services: Services, messengers: Mapping[str, Messenger], now: datetime, instance: str, *,
              wall: Callable[[], datetime] = lambda: datetime.now(UTC), batch: int = BATCH) -> Pruned:
    """One maintenance run as of `now` (the scheduler's clock); the rows deleted."""
    del messengers, instance   # a scheduler job's signature (bot.scheduler): this job sends and claims nothing
    engine = services.engine
    deleted_events = events.prune(engine, min(now, wall()) - EVENT_RETENTION, batch)
    before = (now.astimezone(UTC) - SEND_RETENTION).date()
    sends = schedule.prune(engine, before, keep_newest={schedule.SCORE_SNAPSHOT},
                           spare={schedule.SHOP_UNHEALTHY, *schedule.ONCE_EVER}, batch=batch)
    ongoing = schedule.ongoing_streaks(engine)
    sends += schedule.prune_kind(engine, schedule.SHOP_UNHEALTHY, before,
                                 keep=lambda subject: subject[:subject.rfind(":") + 1] in ongoing, batch=batch)
    log.info("maintenance at %s: %d processed events and %d scheduled-send claims deleted", now.isoformat(),
             deleted_events, sends)
    return Pruned(deleted_events, sends)
