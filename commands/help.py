"""/help: the commands the caller may use, each with one line."""

from __future__ import annotations

from cards.i18n import t
from cards.model import Card, Note, Table, Tone
from commands.context import Request
from commands.spec import Command


def handle(req: Request) -> Card:
    from commands.registry import COMMANDS  # the registry imports this module

    lang = req.lang
    role = req.caller.member.role if req.caller.member else None
    rows = []
    for cmd in COMMANDS:
        if not cmd.permits(role, bool(req.caller.member and req.caller.member.finance)):
            continue
        if (cmd.needs_member and role is None) or not cmd.listed:
            continue
        rows.append((cmd.usage, _alias_column(cmd, lang), t(lang, cmd.help_key)))
    headers = (t(lang, "help.command"), t(lang, "help.alias"), t(lang, "help.what"))
    return Card(t(lang, "help.title"), (Table(headers, tuple(rows)), Note(t(lang, "help.footer"))), Tone.INFO, lang)


def _alias_column(cmd: Command, lang: str) -> str:
    """Indonesian readers see the Indonesian alias; the others the Chinese one, or the names README gives
    (/live's row: /开播, /下播; /mulaisiaran, /selesaisiaran to Indonesian readers)."""
    if lang == "id":
        if cmd.id_shown_aliases:
            return ", ".join(f"/{a}" for a in cmd.id_shown_aliases)
        return next((f"/{a}" for a in cmd.id_aliases), "")
    if cmd.shown_aliases:
        return ", ".join(f"/{a}" for a in cmd.shown_aliases)
    return next((f"/{a}" for a in cmd.aliases if not a.isascii()), "")


SPEC = Command("help", ("帮助", "h", "?"), "help.help", "/help", handle, needs_member=False,
               id_aliases=("bantuan",))
