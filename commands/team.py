"""/team [name]: each member's score and headline achievement this month, with who is behind pace.

Leads see their own team; managers and admins any team (by code or name).
"""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session

from cards.format import metric_value, percent
from cards.i18n import t
from cards.kpi_cards import TeamRow, team_card
from cards.model import Card
from commands.context import Request, UserError
from commands.permissions import at_least
from commands.scorecards import Inputs, MemberScore, headline_metric, month_key, team_scores
from commands.spec import Command
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, window_for
from scoring.roles import Role
from scoring.score import MetricResult, pace_status, score_metric, window_target
from storage.activity import load_team_activity
from storage.models import Team
from storage.queries import find_team, monthly_targets, team_of, teams

USAGE = "/team [team]"
LAG_GRADES = ("C", "D")   # behind: headline pace behind (see scoring.score.pace_status), or one of these


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


def row_for(score: MemberScore, lang: str, currency: str) -> TeamRow:
    card = score.scorecard
    name, role = score.member.name, score.member.role
    if card is None or score.template is None:
        return TeamRow(name, role, None, None, "—", False)
    head = card.result(headline_metric(score.template))
    key_metric = f"{head.metric.name(lang)} {percent(head.achievement)}"
    if head.pace is not None:
        key_metric += f" · {t(lang, 'mykpi.pace')} {percent(head.pace)}"
    lagging = pace_status(head.pace) == "behind" or card.grade in LAG_GRADES
    return TeamRow(name, role, card.score, card.grade, key_metric, lagging)


def total_text(result: MetricResult, currency: str, lang: str) -> str:
    """"actual / target (achievement)", or the actual alone without a target."""
    unit = result.metric.unit
    text = metric_value(result.actual, unit, currency, lang)
    if result.target and result.achievement is not None:
        text += f" / {metric_value(result.target, unit, currency, lang)} ({percent(result.achievement)})"
    return text


def handle(req: Request) -> Card:
    lang, currency = req.lang, req.app.rules.reporting_currency
    with Session(req.app.engine) as session:
        team = resolve_team(session, req)
        inputs = Inputs.load(session, req.app.rules, req.now)
        scores = team_scores(session, inputs, team, PeriodKind.MONTH)
        window = window_for(PeriodKind.MONTH, req.now, team.timezone)
        ctx = Context(window, req.now, req.app.rules, inputs.fx)
        summary = []
        targets = monthly_targets(session, f"team:{team.id}", [month_key(window.first_day)])
        activity = load_team_activity(session, team.id or 0, window.start, window.end, {"orders"})
        for key in ("net_gmv", "orders"):
            metric = CATALOG[key]
            result = score_metric(metric, Decimal(100), metric.compute(activity, ctx),
                                  window_target(metric, targets.get(key, {}), window.days()),
                                  window.elapsed_fraction(req.now), req.app.rules)
            summary.append((t(lang, "team.total", metric=metric.name(lang)), total_text(result, currency, lang)))
    rows = [row_for(s, lang, currency) for s in scores]
    return team_card(title=t(lang, "team.title", team=team.name, period=window.label), lang=lang, rows=rows,
                     summary=summary)


SPEC = Command("team", ("团队", "团队业绩"), "help.team", USAGE, handle, min_role=Role.LEAD, cacheable=True)
