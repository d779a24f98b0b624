"""/rank [day|week|month]: the ranking in the caller's team; members without a team see every team."""

from __future__ import annotations

from dataclasses import replace

from cards.counting import counting_note
from cards.fx_notes import fx_notes
from cards.i18n import t
from cards.kpi_cards import rank_card
from cards.model import Card
from commands.context import Request
from commands.periods import parse_period
from commands.spec import Command
from services.ranking import ranking
from services.team_rows import shown_name

USAGE = "/rank [day|week|month]"


def handle(req: Request) -> Card:
    kind = parse_period(req.args, USAGE)
    lang = req.lang
    result = ranking(req.services, req.member, kind, req.now)
    scope = result.team if result.team is not None else t(lang, "rank.all")
    title = t(lang, "rank.title", scope=scope, period=result.period_label)
    def shown(name: str, team: str) -> str:   # by name and team: a namesake in another team is not marked
        return shown_name(name, (name, team) in result.trial, lang)

    rows = [(shown(name, team), team, score, grade) for name, team, score, grade in result.rows]
    own_team = next((team for name, team, _, _ in result.rows if name == req.member.name), "")
    card = rank_card(title=title, lang=lang, rows=rows, highlight=shown(req.member.name, own_team))
    # the exchange-rate notes, then the counting rules as the card's last line (cards.counting)
    notes = (*fx_notes(result.fx_stale, result.fx_missing, lang), counting_note(req.services.rules, lang))
    return replace(card, blocks=(*card.blocks, *notes))


SPEC = Command("rank", ("排名", "排行", "排行榜"), "help.rank", USAGE, handle, cacheable=True,
               id_aliases=("peringkat",))
