"""/digest: today's digest of the caller's team at once (leads and above); the same card a subscribed group
chat gets daily (services.digests says what it holds)."""


from __future__ import annotations

from sqlmodel import Session

from cards.model import Card
from commands.context import Request
from commands.spec import Command
from commands.team import resolve_team
from scoring.roles import Role
from services.digests import build_digest

USAGE = "/digest"


def handle(req: Request) -> Card:
    with Session(req.services.engine) as session:
        team = resolve_team(session, req)
        return build_digest(session, req.services, team, req.lang, req.now)


SPEC = Command("digest", ("日报", "团队日报"), "help.digest", USAGE, handle, min_role=Role.LEAD, cacheable=True)
