"""/whoami: the caller's platform identity and the member it is bound to (also for unbound people).

A platform without labels of its own in cards.i18n (`platform.<name>`, `whoami.<name>`) is shown by the name its
adapter uses, so a new chat platform needs nothing here.
"""

from __future__ import annotations

from cards.i18n import MESSAGES, t
from cards.model import Card, Fields, Text, Tone
from commands.context import Request
from commands.spec import Command
from scoring.text import shown
from services.identity import binding, is_console


def platform_name(platform: str, lang: str) -> str:
    """The platform as people call it ("Feishu", "飞书"); the name as stored without a label."""
    key = f"platform.{platform}"
    return t(lang, key) if key in MESSAGES else platform


def id_label(platform: str, lang: str) -> str:
    """What the member's id on the platform is called ("Feishu open_id"); the platform's name without a label."""
    key = f"whoami.{platform}"
    return t(lang, key) if key in MESSAGES else platform_name(platform, lang)


# the longest id a member can be bound to (storage.models.MemberIdentity.platform_user_id): the card's bind command
# shows each of them whole, and nothing longer (`kpibot chat --as` takes any text)
ID_SHOWN = 64


def unbound_card(platform: str, user_id: str, lang: str) -> Card:
    """The reply to someone not bound to a member: their id (control characters dropped, at most ID_SHOWN
    characters) and how an admin binds it."""
    name, user_id = platform_name(platform, lang), shown(user_id, ID_SHOWN)
    return Card(t(lang, "unbound.title"), (
        Fields(((t(lang, "whoami.platform"), name), (t(lang, "whoami.user_id"), user_id))),
        Text(t(lang, "unbound.body", platform=name, user_id=user_id)),
        Text(t(lang, "unbound.how_console") if is_console(platform)
             else t(lang, "unbound.how", platform=platform, user_id=user_id)),
    ), Tone.WARN, lang)


def handle(req: Request) -> Card:
    lang, caller = req.lang, req.caller
    member = caller.member
    if member is None:
        return unbound_card(caller.platform, caller.user_id, lang)
    bound = binding(req.services, member)
    none = t(lang, "whoami.none")
    return Card(t(lang, "whoami.title"), (Fields((
        (t(lang, "whoami.platform"), platform_name(caller.platform, lang)),
        (t(lang, "whoami.user_id"), caller.user_id),
        (t(lang, "whoami.member"), f"{member.name} ({member.code})"),
        (t(lang, "whoami.role"), t(lang, f"role.{member.role}")),
        (t(lang, "whoami.team"), "—" if bound.team is None else bound.team),
        (t(lang, "whoami.timezone"), member.timezone),
        (t(lang, "whoami.days_in"), bound.period_zone),
        (t(lang, "whoami.language"), member.locale),
        *((id_label(platform, lang), bound.ids.get(platform) or none) for platform in bound.platforms),
    )),), Tone.INFO, lang)


SPEC = Command("whoami", ("我是谁",), "help.whoami", "/whoami", handle, needs_member=False,
               id_aliases=("siapasaya",))
