"""/sop [role]: a role's daily playbook and its metrics' typical values by business stage for the region the
caller's team sells in (the SOP library, scoring.sop), in the caller's language. Without a role: the caller's
own."""

from __future__ import annotations

from cards.i18n import MESSAGES, t
from cards.model import Card
from cards.sop_card import sop_card
from commands.context import Request
from commands.spec import Command
from scoring.roles import Role, UnknownRole
from scoring.sop import LIBRARY
from services.errors import UserError
from services.scorecards import team_region

USAGE = "/sop [role]"


def handle(req: Request) -> Card:
    lang = req.lang
    roles = ", ".join(f"{r.value} ({t(lang, f'role.{r.value}')})" for r in LIBRARY)
    if req.args:
        role = _role_named(" ".join(req.args))
        if role is None or role not in LIBRARY:
            raise UserError("sop.no_role", name=" ".join(req.args)[:40], roles=roles)
    else:
        try:
            role = Role.parse(req.member.role)
        except UnknownRole:
            role = None
        if role is None or role not in LIBRARY:
            raise UserError("sop.which_role", roles=roles)
    region = team_region(req.services, req.member)
    return sop_card(role, LIBRARY[role], region, lang, req.services.rules.reporting_currency)


def _role_named(text: str) -> Role | None:
    """A role by its stored name ("ad_buyer") or its label in any language ("ad buyer", "投手")."""
    wanted = text.strip().casefold().replace("-", " ").replace("_", " ")
    for role in Role:
        labels = {role.value.replace("_", " "), *(v.casefold() for v in MESSAGES[f"role.{role.value}"].values())}
        if wanted in labels:
            return role
    return None


SPEC = Command("sop", ("岗位手册", "手册"), "help.sop", USAGE, handle, id_aliases=("panduan",))
