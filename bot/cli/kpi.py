"""kpibot kpi: a member's metrics, score and grade for a month (text or JSON); a closed month (kpibot month close)
as of its close, as its final score was frozen, and said so."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.cli.common import member_named
from bot.config import Config
from cards.counting import counting_text
from cards.fx_notes import fx_notes
from cards.kpi_report import kpi_report, kpi_text
from scoring.periods import local_today, month_window, parse_month
from services.container import Services
from services.scorecards import Inputs, score_member
from storage.month_close import closed
from storage.queries import member_zone, team_of


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _kpi(services, args, clock)


def _kpi(services: Services, args: argparse.Namespace, clock: Any) -> int:
    now = clock()
    with Session(services.engine) as session:
        member = member_named(session, args.member)
        zone = member_zone(session, member)   # the member's period zone, as every view (scoring.periods)
        if args.period:
            year, month = parse_month(args.period)
        else:
            today = local_today(now, zone)
            year, month = today.year, today.month
        window = month_window(year, month, zone)
        done = closed(session, window.label)   # a closed month as final_score froze it: as of its close
        # as /mykpi: an amount with no exchange rate is left out and said so, so both show the same number
        inputs = Inputs.load(session, services.rules, now if done is None else done.closed_at, skip_missing_fx=True)
        score = score_member(session, inputs, member, team_of(session, member), window)
    report = kpi_report(member, score.scorecard, window.label, services.rules.reporting_currency, score.template)
    closed_on = None if done is None else done.closed_at.astimezone(ZoneInfo(window.tz)).date().isoformat()
    if closed_on is not None:
        report["closed"] = closed_on
    stale, missing = inputs.fx.stale, inputs.fx.missing
    if stale or missing:
        report["fx"] = {"stale": {f"{b}->{q}": d.isoformat() for (b, q), d in sorted(stale.items())},
                        "missing": [f"{b}->{q}" for b, q in sorted(missing)]}
    # the counting rules, as the footer of the card says them (cards.counting)
    rules = services.rules
    report["counting"] = {"orders_at": str(rules.count_orders_at), "refunds_netted": rules.net_refunds}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        if closed_on is not None:
            print(f"closed on {closed_on}: final (as frozen by kpibot month close; only an approved appeal changes it)")
        print(kpi_text(report))
        for note in fx_notes(stale, missing, "en"):
            print(note.text)
        print(counting_text(rules, "en"))
    return 0
