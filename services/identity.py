"""Who a caller is: the member behind a message's ids (the dispatcher, once per message), a member's team and their
ids on every platform anyone is bound on. `/whoami` calls it (and the dispatcher's reply to unbound people, through
commands.whoami.unbound_card).

Platform-neutral like storage.identity: a platform is the name its adapter uses, whatever it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlmodel import Session

from scoring.periods import period_zone
from services.container import Services
from storage.identity import CONSOLE, identities, member_for, platforms_in_use
from storage.models import Member, MemberIdentity
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


# storage.identity.member_for's query for several ids at once, built once: every chat message runs it, and
# building the statement cost as much as running it
_BOUND = (select(MemberIdentity.platform_user_id, Member)
          .join(MemberIdentity, MemberIdentity.member_id == Member.id)  # type: ignore[arg-type]
          .where(MemberIdentity.platform == bindparam("platform"),
                 MemberIdentity.platform_user_id.in_(bindparam("ids", expanding=True)),  # type: ignore[attr-defined]
                 Member.active))


def bound_member(session: Session, platform: str, ids: Sequence[str]) -> tuple[str, Member] | None:
    """The first of `ids` that an active member is bound by on `platform`, with that member (as member_for finds
    them, one query for all the ids); None when none is."""
    if not ids:
        return None
    if is_console(platform):
        return next(((i, m) for i in ids if (m := member_for(session, platform, i)) is not None), None)
    found: dict[str, Member] = {}
    for user_id, member in session.execute(_BOUND, {"platform": platform, "ids": list(ids)}):
        found.setdefault(user_id, member)
    return next(((i, found[i]) for i in ids if i in found), None)


def binding(services: Services, member: Member) -> Binding:
    with Session(services.engine) as session:
        team = team_of(session, member)
        return Binding(team.name if team else None, identities(session, member.id), platforms_in_use(session),
                       period_zone(member.timezone, team.timezone if team else None))
