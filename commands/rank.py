"""/rank [day|week|month]: the ranking in the caller's team; members without a team see every team."""

from __future__ import annotations

from sqlmodel import Session

from cards.i18n import t
from cards.kpi_cards import rank_card
from cards.model import Card
from commands.context import Request
from commands.periods import parse_period
from commands.spec import Command
from scoring.periods import window_for
from services.scorecards import Inputs, score_current
from storage.queries import team_members, team_of, teams

USAGE = "/rank [day|week|month]"


def handle(req: Request) -> Card:
    kind = parse_period(req.args, USAGE)
    lang = req.lang
    with Session(req.services.engine) as session:
        inputs = Inputs.load(session, req.services.rules, req.now)
        own = team_of(session, req.member)
        scope = [own] if own else teams(session)
        tz = own.timezone if own else req.services.org_timezone   # one window for everyone compared
        rows = []
        for team in scope:
            for m in team_members(session, team.id or 0):
                s = score_current(session, inputs, m, team, kind, tz)
                if s.scorecard is not None:
                    rows.append((m.name, team.name, s.scorecard.score, s.scorecard.grade))
    label = window_for(kind, req.now, tz).label
    title = t(lang, "rank.title", scope=own.name if own else t(lang, "rank.all"), period=label)
    return rank_card(title=title, lang=lang, rows=rows, highlight=req.member.name)


SPEC = Command("rank", ("排名", "排行", "排行榜"), "help.rank", USAGE, handle, cacheable=True)
