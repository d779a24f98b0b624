"""The lag-alert job: a member behind pace (scoring.alerts) gets a private nudge at the alert time in their
own zone, at most once a day, never in the quiet hours (the member's own zone is when kpibot talks to them;
their score and its days are their period's, services.scorecards.member_window); each of their team's leads
gets one summary a day of who was behind. Each send is claimed in the store first (storage.schedule), like the
digests, so two schedulers or a restart never send one twice.

The lead's summary of day D (scoring.alerts.summary_moment) covers every member of the team, each judged as at
their own alert time on their own local day D, so a member in a later zone is in it with their day D, not left
out or taken from the day before. It goes out once the last member's alert time on D has passed (and not before
the lead's own), at the end of the lead's quiet hours if that moment falls inside them: a lead in Shanghai
with a member in Los Angeles gets the summary of the 21st at 10:00 on the 22nd (18:00 on the 21st in Los
Angeles). It is claimed per lead and day D ("member:<lead id>", kind lag_summary); a day with nobody behind is
closed without a message.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards.alert_cards import lead_summary_card, nudge_card
from cards.i18n import lang_of, t
from scoring.alerts import days_left, in_quiet_hours, is_lagging, summary_due_day
from scoring.periods import PeriodKind, window_for
from scoring.roles import Role
from scoring.score import MetricResult
from scoring.sendtime import due_day, send_moment
from services.container import Services
from services.messaging import Messenger, send_private
from services.scorecards import Inputs, member_window, pace_metric, score_current, score_members
from services.team_rows import team_scoped, team_total
from storage.models import Member, Team
from storage.queries import team_members, teams
from storage.schedule import claim_send, finish_send, send_key, sent_today

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
            pending = [m for m in members if f"member:{m.id}" in due and f"member:{m.id}" not in done]
            if not pending:
                continue
            inputs = inputs or Inputs.load(session, services.rules, now)
            scores = score_members(session, inputs, team,   # the team's members read together, not one by one
                                   [(m, member_window(PeriodKind.MONTH, now, m, team)) for m in pending])
            for member, score in zip(pending, scores, strict=True):
                day = due[f"member:{member.id}"]
                if score.scorecard is None or score.template is None or team_scoped(score):
                    continue   # a team-scoped role's figure is the team's: its lead hears of it, once
                head = score.scorecard.result(pace_metric(score.template))
                period_day = score.window.local_day(now)   # the member's day in their period zone (the team's)
                if not is_lagging(head.pace_shown, period_day, rules):
                    continue
                subject = f"member:{member.id}"
                if not claim_send(services.engine, "lag_alert", subject, day, instance, now):
                    continue
                card = nudge_card(lang=lang_of(member.locale), name=member.name, result=head,
                                  days_left=days_left(period_day, score.window.last_day), currency=currency)
                ok = send_private(services.engine, messengers, member, card, send_key("lag_alert", subject, day))
                finish_send(services.engine, "lag_alert", subject, day, instance, now,
                            None if ok else "no connected platform took it")
                results.append(Alerted("lag_alert", member.code, day, bool(ok)))
        results += lead_summaries(services, messengers, session, now, instance)
    log.info("lag alerts at %s: %d sent", now.isoformat(), sum(r.ok for r in results))
    return results


def lead_summaries(services: Services, messengers: Mapping[str, Messenger], session: Session, now: datetime,
                   instance: str) -> list[Alerted]:
    rules = services.alerts
    results: list[Alerted] = []
    for team in teams(session):
        members = team_members(session, team.id or 0)
        zones = {m.timezone for m in members}
        due = {f"member:{lead.id}": d for lead in members if lead.role == Role.LEAD
               and (d := summary_due_day(now, lead.timezone, zones, rules)) is not None}
        done = sent_today(services.engine, "lag_summary", due)
        # summaries sent before they were claimed per lead were claimed per team ("team:<id>", the same day D):
        # a day the team's summary went out under that key is not sent again
        done |= {subject for subject, d in due.items()
                 if sent_today(services.engine, "lag_summary", {f"team:{team.id}": d})}
        for lead in members:
            subject = f"member:{lead.id}"
            day = due.get(subject)
            if day is None or subject in done:
                continue
            if not claim_send(services.engine, "lag_summary", subject, day, instance, now):
                continue
            rows = behind_on(services, session, team, members, day, lang_of(lead.locale))
            ok = True
            if rows:
                card = lead_summary_card(lang=lang_of(lead.locale), team=team.name, day=day,
                                         at=rules.at.strftime("%H:%M"), rows=rows)
                ok = bool(send_private(services.engine, messengers, lead, card,
                                       send_key("lag_summary", subject, day)))
                results.append(Alerted("lag_summary", lead.code, day, ok))
            finish_send(services.engine, "lag_summary", subject, day, instance, now,
                        None if ok else "no connected platform took it")
    return results


def behind_on(services: Services, session: Session, team: Team, members: list[Member], day: date,
              lang: str) -> list[tuple[str, MetricResult]]:
    """Who was behind pace on `day`, as /team shows it: the team's own figure ("Team (shared)", first), judged at
    the alert time on the team's calendar, when a team-scoped role is measured on it; then each member measured
    on their own figures, on their own local `day`, scored as at their own alert time that day."""
    rows = []
    moments = {m.id: send_moment(day, services.alerts.at, m.timezone) for m in members}
    team_moment = send_moment(day, services.alerts.at, team.timezone)
    # templates and rates loaded once, up to the latest moment, and seen at each member's (as score_snapshots does)
    base = Inputs.load(session, services.rules, max([team_moment, *moments.values()]))

    def inputs_at(moment: datetime) -> Inputs:
        return dataclasses.replace(base, now=moment)

    shared = False
    for member in members:
        moment = moments[member.id]
        score = score_current(session, inputs_at(moment), member, team, PeriodKind.MONTH)
        if score.scorecard is None or score.template is None:
            continue
        if team_scoped(score):
            shared = True
            continue
        head = score.scorecard.result(pace_metric(score.template))
        if is_lagging(head.pace_shown, score.window.local_day(moment), services.alerts):
            rows.append((member.name, head))
    if shared:
        window = window_for(PeriodKind.MONTH, team_moment, team.timezone)
        total = team_total(session, inputs_at(team_moment), team, window)
        if is_lagging(total.pace_shown, window.local_day(team_moment), services.alerts):
            rows.insert(0, (t(lang, "digest.team_line"), total))
    return rows
