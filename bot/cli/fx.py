"""kpibot fx: store exchange rates by hand (services.fx, as the daily ECB job does).

`kpibot fx set DAY BASE QUOTE RATE` stores 1 BASE = RATE QUOTE on DAY; `kpibot fx import FILE` a CSV with the
header day,base,quote,rate, all lines or none. A bad value is refused with exit 2, naming the line. `kpibot fx update`
runs the daily ECB job once now (bot.jobs.fx_rates), so an organisation has rates before, or without, `kpibot run`;
a rate of a day in a closed month (kpibot month close) is refused by set and import (exit 2, naming the month) and
left as it was by update; a failed fetch is one line on stderr (the job's own warning is held back) and exit 1.
`kpibot fx list` shows the stored rates of the last days (newest first, each as stored, with its source), then the
currencies the shops and their orders use with the day of the rate each converts to the reporting currency with
today (services.fx_notices, the cards' own lookup: scoring.fx), or "no rate"."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from bot.config import Config
from bot.usage import UsageError
from scoring.money import UnknownCurrency, exponent
from scoring.periods import local_today
from services.container import Services
from services.fx import FxInputError, import_file, set_rate, stored_rates
from storage.tabular import read_note


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.action == "update":
        return _update(services, config, clock)
    if args.action == "list":
        return _list(services, args, clock)
    try:
        if args.action == "set":
            rate, stored = set_rate(services, args.day, args.base, args.quote, args.rate)
            what = "stored" if stored.added else "changed" if stored.changed else "unchanged"
            print(f"{what}: on {rate.day.isoformat()} 1 {rate.base} = {rate.rate} {rate.quote}")
            return 0
        count, stored = import_file(services, Path(args.file), args.encoding)
    except FxInputError as exc:
        raise UsageError(f"nothing stored: {exc}") from None
    print(f"imported {args.file}: {count} rates ({stored.added} new, {stored.changed} changed, "
          f"{stored.unchanged} unchanged)" + read_note(Path(args.file), args.encoding))
    return 0


def _update(services: Services, config: Config, clock: Callable[[], datetime]) -> int:
    from bot.jobs.fx_rates import run_fx_rates

    job_log = logging.getLogger(run_fx_rates.__module__)
    level = job_log.level
    if not job_log.isEnabledFor(logging.DEBUG):   # without -v the line below says it; the job's warning would repeat it
        job_log.setLevel(logging.ERROR)
    try:
        done = run_fx_rates(services, {}, clock(), "cli", url=config.fx.url, history_url=config.fx.history_url)
    finally:
        job_log.setLevel(level)
    if done.stored is None:
        print(f"kpibot: exchange rates not fetched from {done.url}: {done.problem}; cards keep the latest earlier "
              "rates", file=sys.stderr)
        return 1
    shut = f", {done.stored.closed} of closed months left as they were" if done.stored.closed else ""
    print(f"exchange rates from {done.url}: {done.rates} read ({done.stored.added} new, {done.stored.changed} "
          f"changed, {done.stored.unchanged} unchanged{shut})")
    return 0


def _list(services: Services, args: argparse.Namespace, clock: Callable[[], datetime]) -> int:
    from services.fx_notices import currencies_in_use  # the admin notices' module: loaded only for this

    if args.days < 1:
        raise UsageError(f"--days must be at least 1, got {args.days}")
    for code in (args.base, args.quote):
        try:
            if code is not None:
                exponent(code.strip().upper())
        except UnknownCurrency:
            raise UsageError(f"unknown currency {code[:40]!r}") from None
    today = local_today(clock(), services.org_timezone)
    since = today - timedelta(days=args.days - 1)
    rates = stored_rates(services, since, args.base, args.quote)
    if rates:
        print(f"{'day':<11} {'base':<5} {'quote':<5} {'rate':<20} source")
        for r in rates:
            print(f"{r.day.isoformat():<11} {r.base:<5} {r.quote:<5} {r.rate!s:<20} {r.source}")
    else:
        print(f"no rates stored from {since.isoformat()} to {today.isoformat()}")
    reporting = services.rules.reporting_currency
    with Session(services.engine) as session:
        used = currencies_in_use(session, reporting, today)
    if not used:
        print(f"no shop or order uses a currency yet (reporting currency {reporting})")
        return 0
    print(f"\ncurrencies in use, converted to {reporting} on {today.isoformat()} with the rate of:")
    for c in used:
        day = "reporting currency" if c.currency == reporting else c.rate_day.isoformat() if c.rate_day else "no rate"
        print(f"{c.currency:<5} {day:<18} {', '.join(c.shops)}")
    return 0
