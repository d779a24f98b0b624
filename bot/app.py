"""Builds the long-lived services from the configuration."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

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
    """The real clock, or a fixed instant from KPIBOT_NOW (ISO 8601 with offset) for reproducible demos."""
    fixed = os.environ.get("KPIBOT_NOW")
    if not fixed:
        return lambda: datetime.now(UTC)
    moment = datetime.fromisoformat(fixed)
    if moment.tzinfo is None:
        raise ValueError("KPIBOT_NOW needs a UTC offset, e.g. 2026-11-22T12:00:00+00:00")
    return lambda: moment


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
                    max_shift=timedelta(hours=config.attribution.max_shift_hours))


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
