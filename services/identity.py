"""Who a caller is: the member behind a message's ids (the dispatcher, once per message), a member's team and their
ids on every platform anyone is bound on. `/whoami` calls it (and the dispatcher's reply to unbound people, through
commands.whoami.unbound_card).

Platform-neutral like storage.identity: a platform is the name its adapter uses, whatever it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from scoring.periods import period_zone
from services.container import Services
from storage.identity import CONSOLE, identities, platforms_in_use
from storage.models import Member
from storage.queries import team_of


@dataclass(frozen=True)
class Binding:
    team: str | None               # the member's team's name; None without a team
    ids: dict[str, str]            # the member's primary id by platform
    platforms: list[str]           # every platform anyone is bound on, in the order the store first bound them
    period_zone: str = ""          # the zone the member's days are counted in (scoring.periods.period_zone)


def is_console(platform: str) -> bool:
    """The terminal, where a person's id is their member code and needs no binding."""
    return platform == CONSOLE




def binding(services: Services, member: Member) -> Binding:
    with Session(services.engine) as session:
        team = team_of(session, member)
        return Binding(team.name if team else None, identities(session, member.id), platforms_in_use(session),
                       period_zone(member.timezone, team.timezone if team else None))
