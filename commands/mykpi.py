"""/mykpi [day|week|month]: the caller's numbers against target, pace, score, grade, rank and a chart."""

from __future__ import annotations

from sqlmodel import Session

from cards.i18n import t
from cards.kpi_cards import Headline, mykpi_card
from cards.model import Card, Text, Tone
from commands.context import Request
from commands.periods import parse_period
from commands.spec import Command
from scoring.periods import window_for
from scoring.roles import Role, Scope
from services.errors import UserError
from services.scorecards import Inputs, month_series, rank_in, score_current, team_scores
from storage.queries import team_of

USAGE = "/mykpi [day|week|month]"


def handle(req: Request) -> Card:
    kind = parse_period(req.args, USAGE)
    member = req.member
    lang = req.lang
    with Session(req.services.engine) as session:
        inputs = Inputs.load(session, req.services.rules, req.now)
        team = team_of(session, member)
        if team is None and Role.parse(member.role).scope is Scope.TEAM:
            raise UserError("error.not_in_team")  # their numbers are their team's shops'
        peers = team_scores(session, inputs, team, kind) if team else []
        own_window = window_for(kind, inputs.now, member.timezone)
        mine = next((p for p in peers if p.member.id == member.id and p.window == own_window), None) \
            or score_current(session, inputs, member, team, kind)
        if mine.scorecard is None:
            role = t(lang, f"role.{member.role}")
            return Card(t(lang, "mykpi.title", name=member.name, period=t(lang, f"period.{kind}")),
                        (Text(t(lang, "mykpi.no_template", role=role)),), Tone.NEUTRAL, lang)
        series = month_series(mine, inputs)
    assert series is not None
    headline = Headline(
        key=series.key, month_label=series.window.label,
        day_labels=tuple(str(d.day) for d in series.window.days()), cumulative=series.cumulative,
        target=series.target, today=series.today, today_target=series.today_target,
    )
    return mykpi_card(
        name=member.name, lang=lang, period=str(kind), period_name=t(lang, f"period.{kind}"),
        card=mine.scorecard, headline=headline, rank=rank_in(peers or [mine], member),
        currency=req.services.rules.reporting_currency, trial_until=member.trial_until,
        as_of=req.now.astimezone(mine.window.zone), tz=member.timezone, charts=req.services.charts,
    )


SPEC = Command("mykpi", ("我的KPI", "我的业绩", "kpi"), "help.mykpi", USAGE, handle, cacheable=True)
