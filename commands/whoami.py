"""/whoami: the caller's platform identity and the member it is bound to (also for unbound people)."""

from __future__ import annotations

from sqlmodel import Session

from cards.i18n import t
from cards.model import Card, Fields, Text, Tone
from commands.context import Request
from commands.spec import Command
from storage.identity import CONSOLE, identities, platforms_in_use
from storage.queries import team_of


def unbound_card(platform: str, user_id: str, lang: str) -> Card:
    platform_name = t(lang, f"platform.{platform}")
    return Card(t(lang, "unbound.title"), (
        Fields(((t(lang, "whoami.platform"), platform_name), (t(lang, "whoami.user_id"), user_id))),
        Text(t(lang, "unbound.body", platform=platform_name, user_id=user_id)),
        Text(t(lang, "unbound.how_console") if platform == CONSOLE
             else t(lang, "unbound.how", platform=platform, user_id=user_id)),
    ), Tone.WARN, lang)


def handle(req: Request) -> Card:
    lang, caller = req.lang, req.caller
    member = caller.member
    if member is None:
        return unbound_card(caller.platform, caller.user_id, lang)
    with Session(req.services.engine) as session:
        team = team_of(session, member)
        ids, platforms = identities(session, member.id), platforms_in_use(session)
    none = t(lang, "whoami.none")
    return Card(t(lang, "whoami.title"), (Fields((
        (t(lang, "whoami.platform"), t(lang, f"platform.{caller.platform}")),
        (t(lang, "whoami.user_id"), caller.user_id),
        (t(lang, "whoami.member"), f"{member.name} ({member.code})"),
        (t(lang, "whoami.role"), t(lang, f"role.{member.role}")),
        (t(lang, "whoami.team"), team.name if team else "—"),
        (t(lang, "whoami.timezone"), member.timezone),
        (t(lang, "whoami.language"), member.locale),
        *((t(lang, f"whoami.{platform}"), ids.get(platform) or none) for platform in platforms),
    )),), Tone.INFO, lang)


SPEC = Command("whoami", ("我是谁",), "help.whoami", "/whoami", handle, needs_member=False)
