"""/creators [YYYY-MM]: creators ranked by the net GMV credited to them (services.creators.ranking; storage.creators
has the definitions), with orders, refund rate, commission and self-referred orders flagged."""

from __future__ import annotations

from cards.format import money, percent
from cards.i18n import t
from cards.model import Card, Note, Table, Text, Tone
from commands.context import Request
from commands.periods import month_arg
from commands.spec import Command
from scoring.periods import local_today, month_window
from scoring.roles import Role
from services.creators import ranking
from services.errors import UserError

USAGE = "/creators [YYYY-MM]"


def handle(req: Request) -> Card:
    if len(req.args) > 1:
        raise UserError("error.bad_args", problem=" ".join(req.args), usage=USAGE)
    tz = req.services.org_timezone   # the organisation's creators, on its calendar: one total whoever asks
    if req.args:
        given = month_arg(req.args[0])      # "2026-13" is said to be no month
        if given is None:
            raise UserError("error.bad_args", problem=req.args[0], usage=USAGE)
        year, month = given
    else:
        today = local_today(req.now, tz)
        year, month = today.year, today.month
    window = month_window(year, month, tz)
    currency, lang = req.services.rules.reporting_currency, req.lang
    rows = ranking(req.services, window, req.now)
    title = t(lang, "creators.title", month=window.label)
    if not rows:
        return Card(title, (Text(t(lang, "creators.none")),), Tone.INFO, lang)
    table = Table((t(lang, "creators.creator"), t(lang, "creators.net"), t(lang, "creators.orders"),
                   t(lang, "creators.refund_rate"), t(lang, "creators.commission"), t(lang, "creators.flagged")),
                  tuple((r.name, money(r.net, currency), str(r.orders), percent(r.refund_rate, 1),
                         money(r.commission, currency), str(r.flagged) if r.flagged else "")
                        for r in rows))
    return Card(title, (table, Note(t(lang, "creators.note"))), Tone.INFO, lang)


SPEC = Command("creators", ("达人", "达人榜"), "help.creators", USAGE, handle, min_role=Role.LEAD, cacheable=True,
               id_aliases=("kreator",))
