"""The scheduler of the long-running process: APScheduler runs the jobs in bot/jobs on a background thread.

Each job runs every minute, never overlaps itself (max_instances=1), and runs once for ticks missed while
the process was busy or asleep (coalesce). Sending exactly once does not depend on this process being the
only scheduler: every job claims what it sends in the store, so several replicas may run it side by side.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.jobs.alerts import run_lag_alerts
from bot.jobs.digests import run_due_digests
from bot.platforms.common import Messenger
from commands.context import App

log = logging.getLogger(__name__)
TICK_S = 60


def instance_id() -> str:
    """Names this process in the claims it makes (host, pid and a random part)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def start_scheduler(app: App, messengers: Mapping[str, Messenger], clock: Callable[[], datetime],
                    tick_s: float = TICK_S) -> BackgroundScheduler:
    instance = instance_id()

    def job(name: str, run: Callable[..., object]) -> Callable[[], None]:
        def tick() -> None:
            try:
                run(app, messengers, clock(), instance)
            except Exception:
                log.exception("the %s job failed; it runs again at the next tick", name)
        return tick

    scheduler = BackgroundScheduler(timezone=UTC)
    for name, run in (("digests", run_due_digests), ("lag-alerts", run_lag_alerts)):
        scheduler.add_job(job(name, run), "interval", seconds=tick_s, id=name, coalesce=True, max_instances=1,
                          next_run_time=datetime.now(UTC), misfire_grace_time=None)
    scheduler.start()
    return scheduler
