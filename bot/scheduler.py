"""The scheduler of the long-running process: APScheduler runs the jobs in bot/jobs on a background thread.

Digests, lag alerts and the daily score snapshots (bot/jobs/score_snapshots.py, at [schedule] score_time) run
every minute from an in-memory job store: they work out themselves what is due, so
nothing is lost when the process restarts. Each never overlaps itself (max_instances=1) and runs once for ticks
missed while the process was busy or asleep (coalesce). Sending exactly once does not depend on this process
being the only scheduler: every job claims what it sends in the store, so several replicas may run it.

The shop refresh (bot/jobs/refresh.py) runs every [schedule] refresh_minutes from a persistent job store in the
same database (APScheduler's SQLAlchemyJobStore, table `apscheduler_jobs`), so its next run time survives a
restart: runs missed while the bot was down are coalesced into one, run as soon as it is back (no misfire
grace limit). Replicas sharing the database share the job; the refresh lease in the store makes sure only one
of them refreshes at a time, and that a run is not repeated by another replica firing the same slot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from functools import partial

from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.card_cache import CardCache
from bot.config import PlatformsConfig
from bot.jobs import refresh
from bot.jobs.alerts import run_lag_alerts
from bot.jobs.digests import run_due_digests
from bot.jobs.score_snapshots import run_due_score_snapshots
from bot.shop_sources import build_source
from services.container import Services
from services.messaging import Messenger
from storage.ingest.records import Source
from storage.models import Shop

log = logging.getLogger(__name__)
TICK_S = 60
SHARED = "shared"              # the persistent job store's alias
REFRESH_JOB = "shop-refresh"
JOBS_TABLE = "apscheduler_jobs"


def instance_id() -> str:
    """Names this process in the claims it makes (host, pid and a random part)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def start_scheduler(services: Services, messengers: Mapping[str, Messenger], clock: Callable[[], datetime],
                    tick_s: float = TICK_S, *, refresh_every: timedelta | None = None,
                    platforms: PlatformsConfig | None = None, cache: CardCache | None = None,
                    source_for: Callable[[Shop], Source] | None = None,
                    score_time: time | None = None) -> BackgroundScheduler:
    """Start the jobs; with `refresh_every` also the shop refresh (sources built from `platforms`, or by
    `source_for`; `cache` is the dispatcher's card cache, cleared after a refresh changed data); with
    `score_time` also the daily score snapshots."""
    instance = instance_id()

    def job(name: str, run: Callable[..., object]) -> Callable[[], None]:
        def tick() -> None:
            try:
                run(services, messengers, clock(), instance)
            except Exception:
                log.exception("the %s job failed; it runs again at the next tick", name)
        return tick

    stores = {"default": MemoryJobStore()}
    if refresh_every is not None:
        stores[SHARED] = SQLAlchemyJobStore(engine=services.engine, tablename=JOBS_TABLE)
    scheduler = BackgroundScheduler(timezone=UTC, jobstores=stores)
    ticking: list[tuple[str, Callable[..., object]]] = [("digests", run_due_digests), ("lag-alerts", run_lag_alerts)]
    if score_time is not None:
        ticking.append(("score-snapshots", partial(run_due_score_snapshots, at=score_time)))
    for name, run in ticking:
        scheduler.add_job(job(name, run), "interval", seconds=tick_s, id=name, coalesce=True, max_instances=1,
                          next_run_time=datetime.now(UTC), misfire_grace_time=None)
    if refresh_every is None:
        scheduler.start()
        return scheduler
    engine, configured = services.engine, platforms or PlatformsConfig()
    refresh.register(refresh.RefreshContext(
        services=services, source_for=source_for or (lambda shop: build_source(engine, shop, configured)),
        messengers=messengers, clock=clock, instance=instance, interval=refresh_every, cache=cache))
    scheduler.start(paused=True)     # the job store is open: look at the stored job before anything runs
    ensure_refresh_job(scheduler, refresh_every)
    scheduler.resume()
    return scheduler


def ensure_refresh_job(scheduler: BackgroundScheduler, every: timedelta) -> None:
    """Add the refresh job to the persistent store, or keep the stored one: its next run time is what makes a
    run missed during downtime happen (once) at start. A changed interval is applied without losing it."""
    trigger = IntervalTrigger(seconds=int(every.total_seconds()), timezone=UTC)
    options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    now = datetime.now(UTC)
    stored = scheduler.get_job(REFRESH_JOB, jobstore=SHARED)
    if stored is None:
        try:
            scheduler.add_job(refresh.scheduled_refresh, trigger, id=REFRESH_JOB, jobstore=SHARED,
                              name="shop refresh", next_run_time=now, **options)
        except ConflictingIdError:
            log.info("another replica added the shop refresh job just now")
        return
    interval = getattr(stored.trigger, "interval", None)
    if (interval == every and stored.func is refresh.scheduled_refresh and stored.coalesce
            and stored.max_instances == 1 and stored.misfire_grace_time is None):
        return
    upcoming = min(stored.next_run_time, now + every) if stored.next_run_time else now + every
    scheduler.modify_job(REFRESH_JOB, jobstore=SHARED, func=refresh.scheduled_refresh, trigger=trigger,
                         next_run_time=upcoming, **options)
    log.info("shop refresh job now every %s, next at %s", every, upcoming.isoformat())


def stop_scheduler(scheduler: BackgroundScheduler, wait: bool = True) -> None:
    """Stop the jobs; a refresh in progress stops after the page it is writing (the next run resumes there),
    a digest being sent finishes first."""
    refresh.unregister()
    # APScheduler 3.11 processes due jobs once more after shutdown() has stopped the executors, and moves their
    # next run time on although they could not run: a refresh due at that moment would be lost. So the shared
    # store is detached first (its jobs stay in the database) and nothing is processed from then on.
    scheduler.pause()
    with contextlib.suppress(KeyError):
        scheduler.remove_jobstore(SHARED)
    scheduler.shutdown(wait=wait)
