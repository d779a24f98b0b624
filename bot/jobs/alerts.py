"""The lag-alert job: a member behind pace (scoring.alerts) gets a private nudge at the alert time in their
own zone, at most once a day, never in the quiet hours; their team's leads get one summary a day of who was
nudged. Each send is claimed in the store first (storage.schedule), like the digests, so two schedulers or
a restart never send one twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards.alert_cards import lead_summary_card, nudge_card
from cards.i18n import lang_of
from scoring.alerts import days_left, in_quiet_hours, is_lagging
from scoring.periods import PeriodKind
from scoring.roles import Role
from scoring.score import MetricResult
from scoring.sendtime import due_day
from services.container import Services
from services.messaging import Messenger, send_private
from services.scorecards import Inputs, headline_metric, score_current
from storage.models import Member
from storage.queries import team_members, teams
from storage.schedule import claim_send, finish_send, sent_today

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alerted:
    kind: str            # lag_alert | lag_summary
    who: str             # member code
    day: date
    ok: bool


def run_lag_alerts(services: Services, messengers: Mapping[str, Messenger], now: datetime,
                   instance: str) -> list[Alerted]:
    rules = services.alerts
    if not rules.enabled:
        return []
    results: list[Alerted] = []
    currency = services.rules.reporting_currency
    with Session(services.engine) as session:
        inputs: Inputs | None = None    # loaded once somebody is due
        for team in teams(session):
            members = team_members(session, team.id or 0)
            due = {f"member:{m.id}": d for m in members
                   if (d := due_day(now, rules.at, m.timezone)) is not None
                   and not in_quiet_hours(now.astimezone(ZoneInfo(m.timezone)).time(), rules)}
            done = sent_today(services.engine, "lag_alert", due)   # nudged already: not scored again every minute
            lagging: list[tuple[Member, MetricResult]] = []
            for member in members:
                day = due.get(f"member:{member.id}")
                if day is None or f"member:{member.id}" in done:
                    continue
                inputs = inputs or Inputs.load(session, services.rules, now)
                score = score_current(session, inputs, member, team, PeriodKind.MONTH)
                if score.scorecard is None or score.template is None:
                    continue
                head = score.scorecard.result(headline_metric(score.template))
                if not is_lagging(head.pace, day, rules):
                    continue
                lagging.append((member, head))
                subject = f"member:{member.id}"
                if not claim_send(services.engine, "lag_alert", subject, day, instance, now):
                    continue
                card = nudge_card(lang=lang_of(member.locale), name=member.name, result=head,
                                  days_left=days_left(day, score.window.last_day), currency=currency)
                ok = send_private(services.engine, messengers, member, card)
                finish_send(services.engine, "lag_alert", subject, day, instance, now,
                            None if ok else "no connected platform took it")
                results.append(Alerted("lag_alert", member.code, day, bool(ok)))
            if not lagging:
                continue
            team_day = now.astimezone(ZoneInfo(team.timezone)).date()
            subject = f"team:{team.id}"
            if not claim_send(services.engine, "lag_summary", subject, team_day, instance, now):
                continue
            reached = []
            for lead in (m for m in members if m.role == Role.LEAD):
                card = lead_summary_card(lang=lang_of(lead.locale), team=team.name,
                                         rows=[(m.name, r) for m, r in lagging])
                ok = bool(send_private(services.engine, messengers, lead, card))
                reached.append(ok)
                results.append(Alerted("lag_summary", lead.code, team_day, ok))
            finish_send(services.engine, "lag_summary", subject, team_day, instance, now,
                        None if any(reached) else "no lead could be reached")
    log.info("lag alerts at %s: %d sent", now.isoformat(), sum(r.ok for r in results))
    return results
