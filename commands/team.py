"""/team [name]: each member's score and headline achievement this month, with who is behind pace; the
team-scoped roles share one "Team (shared)" row, as in the digest (services.team_rows). The counting rules are
the card's last line (cards.counting).

Leads see their own team; managers and admins any team (by code or name): services.team_view decides.
"""

from __future__ import annotations

from dataclasses import replace

from cards.counting import counting_note
from cards.fx_notes import fx_notes
from cards.i18n import t
from cards.kpi_cards import team_card
from cards.model import Card
from commands.context import Request
from commands.spec import Command
from scoring.roles import Role
from services.team_rows import TEAM_FIGURE, team_rows, total_text
from services.team_view import team_view

USAGE = "/team [team]"


def team_name(req: Request) -> str | None:
    """The team the arguments name (code or name, may hold spaces); None: the caller's own."""
    return " ".join(req.args) if req.args else None


def handle(req: Request) -> Card:
    lang, currency = req.lang, req.services.rules.reporting_currency
    view = team_view(req.services, req.member, team_name(req), req.now)
    summary = [(t(lang, "team.total", metric=r.metric.name(lang)), total_text(r, currency, lang)) for r in view.totals]
    team_total = next(r for r in view.totals if r.metric.key == TEAM_FIGURE)
    rows = team_rows(view.scores, team_total, lang, currency)
    card = team_card(title=t(lang, "team.title", team=view.name, period=view.window.label), lang=lang,
                     rows=[r for _, r in rows.members], summary=summary, shared=rows.shared)
    notes = (*fx_notes(view.fx_stale, view.fx_missing, lang), counting_note(req.services.rules, lang))
    return replace(card, blocks=(*card.blocks, *notes))


SPEC = Command("team", ("团队", "团队业绩"), "help.team", USAGE, handle, min_role=Role.LEAD, cacheable=True,
               id_aliases=("tim",))
