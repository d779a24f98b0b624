"""Reading the audit trail: who may read what, and /audit's arguments. Admins read every row; a member with
finance access reads the pay changes only (storage.audit_read.PAY_ACTIONS); nobody else reads it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from scoring.roles import Role, at_least
from services.container import Services
from services.errors import UserError
from storage.audit_read import AuditPage, AuditRow, read_audit
from storage.models import Member
from storage.queries import member_by_code

__all__ = ["AuditRow", "AuditView", "audit_view", "may_read", "parse_query", "start_of"]

CARD_ROWS = 20
USAGE = "/audit [MEMBER] [ACTION] [YYYY-MM-DD]"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class AuditQuery:
    who: str | None = None
    what: str | None = None
    since: date | None = None


@dataclass(frozen=True)
class AuditView:
    page: AuditPage
    query: AuditQuery
    pay_only: bool      # the reader is finance, not an admin: pay changes only


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
    return AuditView(page, query, pay)
