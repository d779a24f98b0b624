"""The daily exchange-rate job: fetches the ECB's euro reference rates and stores them (services.fx), EUR-based
as published (source "ecb"); cards convert to the reporting currency through EUR cross rates (scoring.fx).

It runs at [fx] time (UTC) and once at start. When the store's newest ECB rate is more than a few days old (a
first start, or a bot that was down), it reads the 90-day history instead of the daily feed, so the gap is
filled. Storing is an upsert: replicas running it together, or a re-run, change nothing. A failed fetch is
logged and tried again at the next run; meanwhile scoring uses the latest earlier rate and the cards say so.

After each run, a currency the shops sell in that has no rate at all to the reporting currency (the ECB does not
publish every currency) is reported to the admins, once per currency ever (services.fx_notices); not after a
failed first fetch, when the store has no ECB rate yet and the next run will likely fill it. The shop refresh
looks too (bot.jobs.refresh), with the same claims, so a currency is also told when [fx] is off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.fx_feed import FeedError, fetch_ecb
from bot.logs import log_failure
from scoring.fx import FxRate
from services import fx
from services.container import Services
from services.fx_notices import tell_missing_rates
from services.messaging import Messenger
from storage.fx_rates import Stored
from storage.ingest.records import SourceError

log = logging.getLogger(__name__)
SOURCE = fx.ECB


@dataclass(frozen=True)
class FxRun:
    url: str
    rates: int
    stored: Stored | None      # None: the fetch failed (logged)
    told: tuple[str, ...] = ()   # "admin:currency" of the notices of currencies without a rate
    problem: str = ""          # why the fetch failed, for a caller that says it (kpibot fx update)


def missed_a_working_day(newest: date, today: date) -> bool:
    """Whether the ECB published on a day the store lacks before today (it publishes Monday to Friday): then only
    the history feed fills it; the daily feed has today alone."""
    return any((newest + timedelta(days=d)).weekday() < 5 for d in range(1, (today - newest).days))


def newest_ecb_day(services: Services) -> date | None:
    return fx.newest_day(services, SOURCE)


def run_fx_rates(services: Services, messengers: Mapping[str, Messenger], now: datetime, instance: str, *,
                 url: str, history_url: str,
                 fetch: Callable[[str], list[FxRate]] = fetch_ecb) -> FxRun:
    """One run as of `now` (a scheduler job's signature, bot.scheduler)."""
    newest = newest_ecb_day(services)
    source_url = url if newest is not None and not missed_a_working_day(newest, now.date()) else history_url
    try:
        rates = fetch(source_url)
    except (SourceError, FeedError) as exc:
        # a warning: the feed being down is retried at the next run and the cards say which rates are old
        log.warning("exchange rates not fetched from %s: %s; scoring uses the latest earlier rates", source_url, exc)
        return FxRun(source_url, 0, None, _tell(services, messengers, instance, now) if newest is not None else (),
                     problem=str(exc))
    stored = fx.store(services, rates, SOURCE)
    log.info("exchange rates from %s: %d read, %d new, %d changed, %d of closed months left as they were",
             source_url, len(rates), stored.added, stored.changed, stored.closed)
    return FxRun(source_url, len(rates), stored, _tell(services, messengers, instance, now))


def _tell(services: Services, messengers: Mapping[str, Messenger], instance: str, now: datetime) -> tuple[str, ...]:
    """services.fx_notices; a failure is logged and leaves the stored rates standing."""
    try:
        return tuple(tell_missing_rates(services, messengers, instance, now))
    except Exception:
        log_failure(log, "reporting currencies without an exchange rate failed; the next run tries again")
        return ()
