"""/digest [team]: today's digest of the caller's team at once (leads and above; managers and admins may name
any team, as with /team); the same card a subscribed group chat gets daily (services.digests says what it
holds)."""


from __future__ import annotations

from cards.model import Card
from commands.context import Request
from commands.spec import Command
from commands.team import team_name
from scoring.roles import Role
from services.team_view import team_digest

USAGE = "/digest"


def handle(req: Request) -> Card:
    return team_digest(req.services, req.member, team_name(req), req.lang, req.now)


SPEC = Command("digest", ("日报", "团队日报"), "help.digest", USAGE, handle, min_role=Role.LEAD, cacheable=True,
               id_aliases=("ringkasan",))
