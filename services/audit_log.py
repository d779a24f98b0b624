"""Reading the audit trail: who may read what, and /audit's arguments. Admins read every row; a member with
finance access reads the pay changes only (storage.audit_read.PAY_ACTIONS); nobody else reads it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from scoring.roles import Role, at_least
from services.container import Services
from services.errors import UserError
from storage.audit_read import AuditPage, AuditRow, read_audit
from storage.models import Member, Shop, Team
from storage.queries import member_by_code

__all__ = ["AuditNames", "AuditRow", "AuditView", "audit_names", "audit_view", "may_read", "parse_query", "start_of"]

CARD_ROWS = 20
USAGE = "/audit [MEMBER] [ACTION] [YYYY-MM-DD]"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class AuditQuery:
    who: str | None = None
    what: str | None = None
    since: date | None = None


@dataclass(frozen=True)
class AuditNames:
    """The codes of the members, teams and shops a page of rows names by id (rows keep ids: codes can change)."""

    members: dict[int, str] = field(default_factory=dict)
    teams: dict[int, str] = field(default_factory=dict)
    shops: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditView:
    page: AuditPage
    query: AuditQuery
    pay_only: bool      # the reader is finance, not an admin: pay changes only
    names: AuditNames = field(default_factory=AuditNames)


def may_read(member: Member) -> bool:
    return at_least(member.role, Role.ADMIN) or bool(member.finance)


def parse_query(session: Session, args: tuple[str, ...]) -> AuditQuery:
    """Who, what and since in any order: a day is YYYY-MM-DD, a member's code (or an actor such as cli:ana or
    job:refresh) is who, any other word is what. Each at most once."""
    who = what = None
    since: date | None = None
    for arg in args:
        if _DAY.fullmatch(arg):
            if since is not None:
                raise UserError("error.bad_args", problem=arg, usage=USAGE)
            try:
                since = date.fromisoformat(arg)
            except ValueError:
                raise UserError("error.bad_args", problem=arg, usage=USAGE) from None
        elif ":" in arg or member_by_code(session, arg) is not None:
            if who is not None:
                raise UserError("error.bad_args", problem=arg, usage=USAGE)
            who = arg
        else:
            if what is not None:
                raise UserError("error.bad_args", problem=arg, usage=USAGE)
            what = arg
    return AuditQuery(who, what, since)


def start_of(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(zone))


def audit_view(services: Services, reader: Member, args: tuple[str, ...]) -> AuditView:
    """The newest CARD_ROWS rows `reader` may see that match `args`; UserError for a reader without the right."""
    if not may_read(reader):
        raise UserError("audit.forbidden")
    pay = not at_least(reader.role, Role.ADMIN)
    with Session(services.engine) as session:
        query = parse_query(session, args)
        since = start_of(query.since, reader.timezone or services.org_timezone) if query.since else None
        page = read_audit(session, who=query.who, what=query.what, since=since, pay=pay, limit=CARD_ROWS)
        names = audit_names(session, page.rows)
    return AuditView(page, query, pay, names)


def _id(value: Any) -> int | None:
    """An id the details hold as a JSON number (a code such as "1001" is a string: not an id)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ids(rows: Iterable[AuditRow]) -> tuple[set[int], set[int], set[int]]:
    """The member, team and shop ids `rows` name: a target's subject (member:ID, team:ID), an appeal's member and
    approver, an adjustment's member, a member's team before and after, a sync's shop."""
    members: set[int] = set()
    teams: set[int] = set()
    shops: set[int] = set()
    for row in rows:
        kind, _, number = (row.entity_id or "").partition(":")
        if kind == "member" and number.isdigit():
            members.add(int(number))
        elif kind == "team" and number.isdigit():
            teams.add(int(number))
        elif row.entity == "shop" and (row.entity_id or "").isdigit():
            shops.add(int(row.entity_id or 0))
        if (n := _id(row.details.get("member"))) is not None:
            members.add(n)
        for state in [row.details] + [s for k in ("before", "after") if isinstance(s := row.details.get(k), dict)]:
            for key, into in (("member_id", members), ("approver_member_id", members), ("team_id", teams)):
                if (n := _id(state.get(key))) is not None:
                    into.add(n)
    return members, teams, shops


def audit_names(session: Session, rows: Iterable[AuditRow]) -> AuditNames:
    """The codes for the ids `rows` name, read in a query per kind; an id no longer stored is left out."""
    members, teams, shops = _ids(rows)
    names = AuditNames()
    for ids, model, into in ((members, Member, names.members), (teams, Team, names.teams),
                             (shops, Shop, names.shops)):
        if ids:
            query = select(model.id, model.code).where(model.id.in_(ids))  # type: ignore[attr-defined]
            into.update({row_id: code for row_id, code in session.execute(query)})
    return names
