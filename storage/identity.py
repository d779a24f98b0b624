"""Who a chat platform's user is: the one place that reads and writes member identities (MemberIdentity).

Platform-neutral: a platform is the name its adapter uses (feishu, dingtalk ...), and an id is whatever the
adapter says identifies the person there. A new platform needs nothing here. The console is the exception by
design: its user ids are member codes, so every member can use it without a binding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, select, update
from sqlmodel import Session

from storage.audit import audit
from storage.models import Member, MemberIdentity

PRIMARY = "primary"   # the id the bot sends to and shows
ALIAS = "alias"       # another id of the same person on that platform (Feishu's union_id)
CONSOLE = "console"   # the terminal: ids are member codes


MAX_PLATFORM, MAX_USER_ID = 32, 64   # the columns' sizes (storage.models.MemberIdentity)
PLATFORM_NAME = re.compile(r"[a-z][a-z0-9_]*")


class BadIdentity(ValueError):
    """An id that cannot name a person on a platform: the console's, an empty one, or one longer than the store
    keeps."""


def check_identity(platform: str, user_id: str) -> None:
    """Refuse what bind_identity must not store, the same on SQLite (which would keep a long id) and PostgreSQL."""
    if platform == CONSOLE:
        raise BadIdentity("the console needs no binding: its ids are member codes")
    if not PLATFORM_NAME.fullmatch(platform) or len(platform) > MAX_PLATFORM:
        raise BadIdentity(f"a platform is named in lower-case letters, digits and _ (at most {MAX_PLATFORM}), "
                          f"e.g. wecom; got {platform[:40]!r}")
    if not user_id or len(user_id) > MAX_USER_ID:
        raise BadIdentity(f"a {platform} id has 1 to {MAX_USER_ID} characters; got {len(user_id)}")


class IdentityTaken(ValueError):
    """The platform id is another member's already."""

    def __init__(self, platform: str, user_id: str, holder: str) -> None:
        super().__init__(f"{platform} id {user_id} is already bound to {holder}")
        self.platform, self.user_id, self.holder = platform, user_id, holder


def member_for(session: Session, platform: str, user_id: str) -> Member | None:
    """The active member behind a platform's user id (any kind of id), or None."""
    if platform == CONSOLE:
        query = select(Member).where(Member.code == user_id)
    else:
        query = select(Member).join(MemberIdentity, MemberIdentity.member_id == Member.id).where(  # type: ignore[arg-type]
            MemberIdentity.platform == platform, MemberIdentity.platform_user_id == user_id)
    return session.execute(query.where(Member.active)).scalars().first()  # type: ignore[arg-type]


def identity_holder(session: Session, org_id: int, platform: str, user_id: str) -> Member | None:
    """The member of the organisation holding the id, active or not."""
    return session.execute(select(Member).join(MemberIdentity, MemberIdentity.member_id == Member.id).where(  # type: ignore[arg-type]
        MemberIdentity.org_id == org_id, MemberIdentity.platform == platform,
        MemberIdentity.platform_user_id == user_id)).scalars().first()


def bind_identity(session: Session, member: Member, platform: str, user_id: str, kind: str = PRIMARY) -> None:
    """Make `user_id` the member's `kind` id on the platform, replacing the one they had. Raises IdentityTaken when
    another member holds it (an id names one person), BadIdentity for what check_identity refuses. Written at
    once, in the session's transaction."""
    assert member.id is not None, "flush a new member before binding it"
    check_identity(platform, user_id)
    holder = identity_holder(session, member.org_id, platform, user_id)
    if holder is not None and holder.id != member.id:
        raise IdentityTaken(platform, user_id, holder.code)
    mine = (MemberIdentity.member_id == member.id, MemberIdentity.platform == platform)
    if holder is not None:   # the member's own id already: of this kind (nothing to do) or it changes kind
        if session.execute(select(MemberIdentity.kind).where(
                *mine, MemberIdentity.platform_user_id == user_id)).scalar_one() == kind:
            return
        session.execute(delete(MemberIdentity).where(*mine, MemberIdentity.platform_user_id == user_id))
    before = session.execute(select(MemberIdentity.platform_user_id).where(*mine, MemberIdentity.kind == kind)
                             ).scalar_one_or_none()
    audit(session, None, "identity.bind", "member", member.code,
          {"platform": platform, "kind": kind, "before": before, "after": user_id})
    changed = session.execute(update(MemberIdentity).where(*mine, MemberIdentity.kind == kind)
                              .values(platform_user_id=user_id))
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        session.add(MemberIdentity(org_id=member.org_id, member_id=member.id, platform=platform, kind=kind,
                                   platform_user_id=user_id))
        session.flush()


def identities(session: Session, member_id: int | None, kind: str = PRIMARY) -> dict[str, str]:
    """The member's ids of that kind by platform, in the order they were first bound."""
    rows = session.execute(select(MemberIdentity.platform, MemberIdentity.platform_user_id).where(
        MemberIdentity.member_id == member_id, MemberIdentity.kind == kind).order_by(MemberIdentity.id)).all()
    return {platform: user_id for platform, user_id in rows}


def platforms_in_use(session: Session) -> list[str]:
    """The platforms anybody is bound on, in the order the store first bound them."""
    first = func.min(MemberIdentity.id)
    return list(session.execute(select(MemberIdentity.platform).group_by(MemberIdentity.platform)
                                .order_by(first)).scalars())


# member_for's query for several ids at once, built once: every chat message runs it, and building the statement
# cost as much as running it
_BOUND = (select(MemberIdentity.platform_user_id, Member)
          .join(MemberIdentity, MemberIdentity.member_id == Member.id)  # type: ignore[arg-type]
          .where(MemberIdentity.platform == bindparam("platform"),
                 MemberIdentity.platform_user_id.in_(bindparam("ids", expanding=True)),  # type: ignore[attr-defined]
                 Member.active))


def bound_member(session: Session, platform: str, ids: Sequence[str]) -> tuple[str, Member] | None:
    """The first of a person's `ids` (Feishu: open_id, then union_id) that an active member is bound by on
    `platform`, with that member (as member_for finds them, one query for all the ids); None when none is."""
    if not ids:
        return None
    if platform == CONSOLE:
        return next(((i, m) for i in ids if (m := member_for(session, platform, i)) is not None), None)
    found: dict[str, Member] = {}
    for user_id, member in session.execute(_BOUND, {"platform": platform, "ids": list(ids)}):
        found.setdefault(user_id, member)
    return next(((i, found[i]) for i in ids if i in found), None)
