"""/help: the commands the caller may use, each with one line."""

from __future__ import annotations

from cards.i18n import t
from cards.model import Card, Note, Table, Tone
from commands.context import Request
from commands.spec import Command
from scoring.roles import at_least


def handle(req: Request) -> Card:
    from commands.registry import COMMANDS  # the registry imports this module

    lang = req.lang
    role = req.caller.member.role if req.caller.member else None
    rows = []
    for cmd in COMMANDS:
        if cmd.min_role and (role is None or not at_least(role, cmd.min_role)):
            continue
        if (cmd.needs_member and role is None) or not cmd.listed:
            continue
        # Indonesian readers see the Indonesian alias; the others the Chinese one
        shown = cmd.id_aliases if lang == "id" else tuple(a for a in cmd.aliases if not a.isascii())
        alias = next(iter(shown), "")
        rows.append((cmd.usage, f"/{alias}" if alias else "", t(lang, cmd.help_key)))
    headers = (t(lang, "help.command"), t(lang, "help.alias"), t(lang, "help.what"))
    return Card(t(lang, "help.title"), (Table(headers, tuple(rows)), Note(t(lang, "help.footer"))), Tone.INFO, lang)


SPEC = Command("help", ("帮助", "h", "?"), "help.help", "/help", handle, needs_member=False,
               id_aliases=("bantuan",))
