"""/team [name]: each member's score and headline achievement this month, with who is behind pace.

Leads see their own team; managers and admins any team (by code or name).
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session

from cards.i18n import t
from cards.kpi_cards import team_card
from cards.model import Card
from commands.context import Request
from commands.permissions import at_least
from commands.spec import Command
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, window_for
from scoring.roles import Role
from scoring.score import score_metric, window_target
from services.errors import UserError
from services.scorecards import Inputs, month_key, team_scores
from services.teams import row_for, total_text
from storage.activity import load_team_activity
from storage.models import Team
from storage.queries import find_team, monthly_targets, team_of, teams

USAGE = "/team [team]"


def resolve_team(session: Session, req: Request) -> Team:
    member = req.member
    own = team_of(session, member)
    if not req.args:
        if own is None:
            raise UserError("error.which_team", teams=", ".join(x.code for x in teams(session)))
        return own
    wanted = find_team(session, " ".join(req.args))
    if wanted is None:
        raise UserError("error.no_team", name=" ".join(req.args), teams=", ".join(x.code for x in teams(session)))
    if not at_least(member.role, Role.MANAGER) and (own is None or wanted.id != own.id):
        raise UserError("error.other_team")
    return wanted


def handle(req: Request) -> Card:
    lang, currency = req.lang, req.services.rules.reporting_currency
    with Session(req.services.engine) as session:
        team = resolve_team(session, req)
        inputs = Inputs.load(session, req.services.rules, req.now)
        scores = team_scores(session, inputs, team, PeriodKind.MONTH)
        window = window_for(PeriodKind.MONTH, req.now, team.timezone)
        ctx = Context(window, req.now, req.services.rules, inputs.fx)
        summary = []
        targets = monthly_targets(session, f"team:{team.id}", [month_key(window.first_day)])
        activity = load_team_activity(session, team.id or 0, window.start, window.end, {"orders"})
        for key in ("net_gmv", "orders"):
            metric = CATALOG[key]
            result = score_metric(metric, Decimal(100), metric.compute(activity, ctx),
                                  window_target(metric, targets.get(key, {}), window.days()),
                                  window.elapsed_fraction(req.now), req.services.rules)
            summary.append((t(lang, "team.total", metric=metric.name(lang)), total_text(result, currency, lang)))
    rows = [row_for(s, lang, currency) for s in scores]
    return team_card(title=t(lang, "team.title", team=team.name, period=window.label), lang=lang, rows=rows,
                     summary=summary)


SPEC = Command("team", ("团队", "团队业绩"), "help.team", USAGE, handle, min_role=Role.LEAD, cacheable=True)
