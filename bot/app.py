"""Builds the long-lived services from the configuration."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from time import monotonic, sleep
from time import time as unix_time
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.config import Config
from cards.chart_cache import ChartCache
from services.commission import MonthNotOver, close_month
from services.container import Services
from services.organisation import OrgSettings, effective_settings
from services.scorecards import Inputs
from storage.demo import has_demo, seed_demo
from storage.engine import make_engine
from storage.migrate import ensure_schema
from storage.queries import has_organisation

log = logging.getLogger(__name__)


def clock_from_env() -> Callable[[], datetime]:
    """The real clock, or a fixed instant from KPIBOT_NOW (ISO 8601 with offset) for reproducible demos.

    With KPIBOT_CLOCK_SPEED as well (a positive number), the clock starts at KPIBOT_NOW and runs, that many
    times faster than real time: scenario tests let a process live through minutes in seconds (a claim left
    "sending" by a killed replica goes stale after 15 minutes of this clock, storage.schedule). It starts when
    the process does, or, with KPIBOT_CLOCK_FROM (a Unix time), at that real instant: replicas started one after
    the other, and a process restarted after a kill, then share one clock instead of each starting over."""
    fixed = os.environ.get("KPIBOT_NOW")
    if not fixed:
        return lambda: datetime.now(UTC)
    moment = datetime.fromisoformat(fixed)
    if moment.tzinfo is None:
        raise ValueError("KPIBOT_NOW needs a UTC offset, e.g. 2026-11-22T12:00:00+00:00")
    speed_text = os.environ.get("KPIBOT_CLOCK_SPEED")
    if not speed_text:
        return lambda: moment
    speed = float(speed_text)
    if not speed > 0:
        raise ValueError(f"KPIBOT_CLOCK_SPEED must be a positive number, not {speed_text!r}")
    origin = os.environ.get("KPIBOT_CLOCK_FROM")
    if origin:
        shared = float(origin)
        return lambda: moment + timedelta(seconds=(unix_time() - shared) * speed)
    started = monotonic()
    return lambda: moment + timedelta(seconds=(monotonic() - started) * speed)


def config_org(config: Config) -> OrgSettings:
    """The config's [org] values: `org init`'s defaults, and what a store without settings of its own goes by."""
    return OrgSettings(config.org.name, config.org.reporting_currency, config.org.timezone, config.org.locale,
                       config.org.count_orders_at, config.org.net_refunds)


def build_services(config: Config) -> Services:
    engine = make_engine(config.store.url.get_secret_value())
    ensure_schema(engine)
    # the store's organisation, once `kpibot org init` made it, says these; the config fills what it does not
    org = effective_settings(engine, config_org(config))
    rules = replace(config.rules, reporting_currency=org.reporting_currency, count_orders_at=org.count_orders_at,
                    net_refunds=org.net_refunds)
    return Services(engine=engine, rules=rules, org_timezone=org.timezone,
                    org_locale=org.locale, charts=ChartCache(), alerts=config.alerts.rules,
                    buyer_key=config.store.buyer_key.get_secret_value().encode() if config.store.buyer_key else None,
                    live_tail=timedelta(minutes=config.attribution.live_tail_minutes),
                    max_shift=timedelta(hours=config.attribution.max_shift_hours),
                    appeals=config.appeals.rules)


STORE_BACKOFF_MAX_S = 30.0


def shown_store(url: str) -> str:
    """The store's URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "the configured URL"


class StartStopped(Exception):
    """A stop (SIGTERM, Ctrl-C) came while `kpibot run` waited for its store."""


def build_services_waiting(config: Config, attempts: int, backoff_s: float,
                           stop: threading.Event | None = None) -> Services:
    """build_services, tried up to `attempts` times while the store cannot be reached (a database that starts
    after the bot, a network that is not up yet), waiting `backoff_s` doubled after each try (at most 30 s).
    Each failed try is one warning line naming the store without its password; the last failure is raised.
    `stop` set (by a signal handler, which only sets it) ends the wait between tries with StartStopped: a try
    in progress (a migration, say) is never cut short."""
    url = config.store.url.get_secret_value()
    shown, secret = shown_store(url), store_password(url)

    def told(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        if secret:
            first = first.replace(secret, "***")
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("the store at %s cannot be reached (try %d of %d: %s: %s); trying again in %.1f s",
                    shown, state.attempt_number, attempts, type(exc).__name__, first, wait)

    def stopped(_: RetryCallState) -> None:
        if stop is not None and stop.is_set():
            raise StartStopped

    retrying = Retrying(retry=retry_if_exception_type((OperationalError, InterfaceError)),
                        stop=stop_after_attempt(attempts),
                        wait=wait_exponential(multiplier=backoff_s, min=backoff_s, max=STORE_BACKOFF_MAX_S),
                        before=stopped, before_sleep=told, reraise=True,
                        sleep=stop.wait if stop is not None else sleep)
    return retrying(build_services, config)


def store_password(url: str) -> str | None:
    try:
        return make_url(url).password  # type: ignore[return-value]
    except SQLAlchemyError:
        return None


def seed_demo_if_empty(services: Services, now: datetime) -> bool:
    """Seed the demo organisation into a store that has no organisation yet; True when it did. The demo's
    "today" is the organisation's local date."""
    with Session(services.engine) as session:
        if has_organisation(session) or has_demo(session):
            return False
        today = now.astimezone(ZoneInfo(services.org_timezone)).date()
        summary = seed_demo(session, today)
        session.commit()
        # last month's commission paid on the 2nd (the month is over in every zone by then), so refunds
        # that came later show as this month's clawbacks; seeded in the first hours of a month, before last month
        # is over in every team's zone, the month before it is the one paid
        payday = min(now, datetime.combine(today.replace(day=2), time(10), ZoneInfo(services.org_timezone)))
        last = today.replace(day=1) - timedelta(days=1)
        for month in (last, last.replace(day=1) - timedelta(days=1)):
            try:
                close_month(session, Inputs.load(session, services.rules, payday), month.year, month.month)
                session.commit()
                break
            except MonthNotOver:
                session.rollback()
    log.info("seeded the demo organisation: %s", summary)
    return True
