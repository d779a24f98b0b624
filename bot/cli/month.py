"""kpibot month close YYYY-MM: close commission and freeze the month's final scores (services.month_close)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime

from bot.config import Config
from bot.usage import UsageError
from scoring.periods import parse_month
from services.commission import MonthNotOver
from services.container import Services
from services.month_close import CommissionNotClosed, MonthClosed, close
from storage.audit import cli_actor


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    try:
        year, month = parse_month(args.period)
    except ValueError as exc:
        raise UsageError(f"{args.period!r} is not a month (YYYY-MM): {exc}") from None
    try:
        result = close(services, year, month, clock(), cli_actor())
    except MonthNotOver as exc:
        raise UsageError(f"{exc}; a month is closed once it is over in every member's team's zone, "
                         "nothing closed") from None
    except CommissionNotClosed as exc:
        for code, why in exc.failed:
            print(f"{code:<12} commission not closed: {why}", file=sys.stderr)
        print(f"{result_period(year, month)} not closed: fix the above (e.g. kpibot fx set) and run it again",
              file=sys.stderr)
        return 1
    if result.already:
        print(f"{result.period} is closed already (on {result.closed_at:%Y-%m-%d %H:%M} UTC by {result.closed_by}); "
              "nothing changed")
    else:
        commission = ("no commission plan was in force, nothing paid" if result.no_plan
                      else f"{result.payouts} commission payouts recorded")
        print(f"{result.period} closed: {result.scores} final scores frozen, {commission}")
    _warn_open(services, result)
    return 0


def _warn_open(services: Services, result: MonthClosed) -> None:
    """The month's appeals still open: they may be decided within the appeal window, and an approval then
    recomputes the month's final scores and adds a commission correction (services.month_close.refinalise)."""
    if not result.open_appeals:
        return
    print(f"warning: {len(result.open_appeals)} open appeal(s) of {result.period} may still be decided; an "
          "approval recomputes the month's final scores and adds a commission correction:", file=sys.stderr)
    for a in result.open_appeals:
        print(f"  #{a.id} {a.member} {a.metric or '-'} (opened {a.opened:%Y-%m-%d})", file=sys.stderr)


def result_period(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"
