"""/export [MONTHS]: the last months' scores as an XLSX workbook (services.export), sent with the card. Leads
get their own team, managers and admins every team; commission columns only for those who may see pay."""

from __future__ import annotations

from cards.i18n import t
from cards.model import Card, File, Note
from commands.context import Request
from commands.spec import Command
from scoring.roles import Role
from scoring.text import shown
from services.errors import UserError
from services.export import export

USAGE = "/export [MONTHS]"
DEFAULT_MONTHS = 12


def months_arg(args: tuple[str, ...]) -> int:
    if not args:
        return DEFAULT_MONTHS
    if len(args) > 1 or not args[0].isdigit():
        raise UserError("error.bad_args", problem=shown(" ".join(args)), usage=USAGE)
    return int(args[0])


def handle(req: Request) -> Card:
    lang = req.lang
    result = export(req.services, req.member, months_arg(req.args), req.now)
    newest, oldest = result.months[0], result.months[-1]
    scope = t(lang, "export.all") if len(result.teams) != 1 else result.teams[0]
    notes = [Note(t(lang, "export.summary", count=len(result.months), first=oldest, last=newest,
                    members=result.members))]
    if result.finance:
        notes.append(Note(t(lang, "export.finance")))
    name = f"kpibot-{oldest}-{newest}.xlsx" if oldest != newest else f"kpibot-{newest}.xlsx"
    return Card(t(lang, "export.title", scope=scope), (*notes, File(name, result.content)), lang=lang)


SPEC = Command("export", ("导出",), "help.export", USAGE, handle, min_role=Role.LEAD, id_aliases=("ekspor",))
