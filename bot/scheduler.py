"""The scheduler of the long-running process: APScheduler runs the jobs in bot/jobs on a background thread, all
from an in-memory job store (nothing is pickled, no APScheduler table in the store).

Digests, lag alerts, appeals (bot/jobs/appeals.py: delivery, copies, reminders, escalation) and the daily score
snapshots (bot/jobs/score_snapshots.py, at [schedule] score_time) run
every minute: they work out themselves what is due, so nothing is lost when the process restarts. Each never
overlaps itself (max_instances=1) and runs once for ticks missed while the process was busy or asleep
(coalesce). Sending exactly once does not depend on this process being the only scheduler: every job claims what
it sends in the store, so several replicas may run it.

The shop refresh (bot/jobs/refresh.py) runs every [schedule] refresh_minutes; its job function is the process's
RefreshContext. Its first run after a start is due an interval after the last run of any replica, read from the
refresh lease in the store (at once when that has passed: runs missed while the bot was down become one). The
lease also makes sure only one replica refreshes at a time and that a run is not repeated by another replica
firing the same slot.

The maintenance job (bot/jobs/prune.py) runs at start and then daily: it deletes old processed events and
scheduled-send claims.

The exchange-rate job (bot/jobs/fx_rates.py), with an [fx] section enabled, runs at start and then daily at
[fx] time (UTC): it stores the ECB's euro reference rates (an upsert, so replicas may all run it).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from functools import partial

from apscheduler.events import (
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import metrics
from bot.card_cache import CardCache
from bot.config import FxConfig, PlatformsConfig
from bot.heap import release_free_memory
from bot.jobs.alerts import run_lag_alerts
from bot.jobs.appeals import run_appeals
from bot.jobs.digests import run_due_digests
from bot.jobs.fx_rates import run_fx_rates
from bot.jobs.prune import run_prune
from bot.jobs.refresh import RefreshContext, first_run_at
from bot.jobs.score_snapshots import run_due_score_snapshots
from bot.logs import log_failure
from bot.shop_sources import build_source
from services.container import Services
from services.messaging import Messenger
from storage.audit import acting_as, job_actor
from storage.ingest.records import Source
from storage.models import Shop

log = logging.getLogger(__name__)
# seconds between the ticks of the every-minute jobs; KPIBOT_TICK_S shortens it for scenario tests whose clock runs
# fast (KPIBOT_CLOCK_SPEED, bot.app.clock_from_env)
TICK_S = float(os.environ.get("KPIBOT_TICK_S") or 60)
REFRESH_JOB = "shop-refresh"
PRUNE_JOB = "prune"
PRUNE_EVERY = timedelta(days=1)
FX_JOB = "fx-rates"


def instance_id() -> str:
    """Names this process in the claims it makes (host, pid and a random part)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def start_scheduler(services: Services, messengers: Mapping[str, Messenger], clock: Callable[[], datetime],
                    tick_s: float = TICK_S, *, refresh_every: timedelta | None = None,
                    platforms: PlatformsConfig | None = None, cache: CardCache | None = None,
                    source_for: Callable[[Shop], Source] | None = None,
                    score_time: time | None = None, fx: FxConfig | None = None) -> BackgroundScheduler:
    """Start the jobs; with `refresh_every` also the shop refresh (sources built from `platforms`, or by
    `source_for`; `cache` is the dispatcher's card cache, cleared after a refresh changed data); with
    `score_time` also the daily score snapshots; with `fx` (enabled) the daily exchange rates."""
    instance = instance_id()

    def job(name: str, run: Callable[..., object]) -> Callable[[], None]:
        def tick() -> None:
            try:
                with acting_as(job_actor(name), clock):
                    run(services, messengers, clock(), instance)
            except Exception:
                log_failure(log, "the %s job failed; it runs again at the next tick", name)
            finally:
                release_free_memory()   # what the job freed, back to the OS: idle RSS is not its busiest minute's
        return tick

    scheduler = BackgroundScheduler(timezone=UTC, jobstores={"default": MemoryJobStore()})
    ticking: list[tuple[str, Callable[..., object]]] = [("digests", run_due_digests), ("lag-alerts", run_lag_alerts),
                                                        ("appeals", run_appeals)]
    if score_time is not None:
        ticking.append(("score-snapshots", partial(run_due_score_snapshots, at=score_time)))
    options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    started = datetime.now(UTC)
    for name, run in ticking:
        scheduler.add_job(job(name, run), "interval", seconds=tick_s, id=name, next_run_time=started, **options)
    scheduler.add_job(job("maintenance", run_prune), IntervalTrigger(seconds=int(PRUNE_EVERY.total_seconds()),
                                                                      timezone=UTC),
                      id=PRUNE_JOB, name="maintenance", next_run_time=started, **options)
    if fx is not None and fx.enabled:
        scheduler.add_job(job("fx-rates", partial(run_fx_rates, url=fx.url, history_url=fx.history_url)),
                          CronTrigger(hour=fx.at.hour, minute=fx.at.minute, timezone=UTC), id=FX_JOB,
                          name="exchange rates", next_run_time=started, **options)
    if refresh_every is not None:
        engine, configured = services.engine, platforms or PlatformsConfig()
        ctx = RefreshContext(services=services,
                             source_for=source_for or (lambda shop: build_source(engine, shop, configured)),
                             messengers=messengers, clock=clock, instance=instance, interval=refresh_every,
                             cache=cache, fx_feed=fx is not None and fx.enabled)
        first = first_run_at(engine, refresh_every, started, clock())
        scheduler.add_job(ctx.scheduled, IntervalTrigger(seconds=int(refresh_every.total_seconds()), timezone=UTC),
                          id=REFRESH_JOB, name="shop refresh", next_run_time=first, **options)
        log.info("shop refresh every %s, first at %s", refresh_every, first.isoformat())
    scheduler.add_listener(_record_lag, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED)
    scheduler.start()
    return scheduler


def _record_lag(event: JobSubmissionEvent | JobExecutionEvent, now: Callable[[], datetime] | None = None) -> None:
    """Job lag (bot.metrics): how long after its due time a job's run started (handed to the executor; its run
    time is not lag), from the earliest due time the run stands for (runs coalesced after a pause); a missed run
    counts until it was given up. A busy or asleep process shows as a growing lag."""
    due = event.scheduled_run_times[0] if isinstance(event, JobSubmissionEvent) else event.scheduled_run_time
    metrics.job_lag(event.job_id, ((now or (lambda: datetime.now(UTC)))() - due).total_seconds())


def stop_scheduler(scheduler: BackgroundScheduler, wait: bool = True) -> None:
    """Stop the jobs; a refresh in progress stops after the page it is writing (the next run resumes there),
    a digest being sent finishes first."""
    refresh_job = scheduler.get_job(REFRESH_JOB)
    ctx = getattr(refresh_job.func, "__self__", None) if refresh_job is not None else None
    if isinstance(ctx, RefreshContext):
        ctx.stopping.set()
    # APScheduler 3.11 processes due jobs once more after shutdown() has stopped the executors: paused first,
    # nothing is processed from then on.
    scheduler.pause()
    scheduler.shutdown(wait=wait)
