"""/team [name]: each member's score and headline achievement this month, with who is behind pace.

Leads see their own team; managers and admins any team (by code or name): services.team_view decides.
"""

from __future__ import annotations

from dataclasses import replace

from cards.fx_notes import fx_notes
from cards.i18n import t
from cards.kpi_cards import team_card
from cards.model import Card
from commands.context import Request
from commands.spec import Command
from scoring.roles import Role
from services.team_rows import row_for, total_text
from services.team_view import team_view

USAGE = "/team [team]"


def team_name(req: Request) -> str | None:
    """The team the arguments name (code or name, may hold spaces); None: the caller's own."""
    return " ".join(req.args) if req.args else None


def handle(req: Request) -> Card:
    lang, currency = req.lang, req.services.rules.reporting_currency
    view = team_view(req.services, req.member, team_name(req), req.now)
    summary = [(t(lang, "team.total", metric=r.metric.name(lang)), total_text(r, currency, lang)) for r in view.totals]
    rows = [row_for(s, lang, currency) for s in view.scores]
    card = team_card(title=t(lang, "team.title", team=view.name, period=view.window.label), lang=lang, rows=rows,
                     summary=summary)
    notes = fx_notes(view.fx_stale, view.fx_missing, lang)
    return replace(card, blocks=(*card.blocks, *notes)) if notes else card


SPEC = Command("team", ("团队", "团队业绩"), "help.team", USAGE, handle, min_role=Role.LEAD, cacheable=True,
               id_aliases=("tim",))
