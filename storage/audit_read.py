"""Reading the audit log (/audit and `kpibot audit`): newest first, filtered by who, what and since.

- who: a member code (or a CLI/job actor): rows that person did (actor), and rows about them (entity_id CODE,
  CODE:... such as a payout, member:<their id> for their targets, or their code in the details' MEMBERS list: the
  appeal, adjustment, correction and refinalise rows name everyone they concern there);
- what: an action ("target.set"), a word of an action ("target": target.set, target.force ...; "refinalise":
  final_score.refinalise) or an entity ("commission_plan");
- since: rows at or after a moment (the caller turns a day into its start in the reader's zone).
PAY_ACTIONS / PAY_ENTITIES are the pay changes, all a finance member may read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from storage.audit import AUDIT
from storage.models import Member

# what changes pay: commission plans, closes and payouts, a month's close, appeal decisions and their adjustments;
# an action matches one of PAY_ACTIONS exactly or as "<it>.<anything>" when it ends with "."
PAY_ACTIONS = ("commission_plan.", "commission.", "commission_payout.", "commission_correction.", "payout.",
               "month.close",
               "appeal.approve", "appeal.partly", "appeal.reject")   # services.appeals.decide's actions
PAY_ENTITIES = ("commission_plan", "commission_payout", "commission_correction", "appeal_adjustment")
MEMBERS = "members"   # the details' key listing the codes of the members a row concerns (writers: storage.audit)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "action": self.action,
                "entity": self.entity, "entity_id": self.entity_id, "details": self.details}


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]   # newest first
    total: int             # rows matching, shown or not


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(prefix: str) -> str:
    return _escaped(prefix) + "%"


def pay_only() -> ColumnElement[bool]:
    c = AUDIT.c
    return or_(c.entity.in_(PAY_ENTITIES),
               *(c.action.like(_like(a), escape="\\") if a.endswith(".") else c.action == a for a in PAY_ACTIONS))


def named_in_members(dialect: str, who: str) -> ColumnElement[bool]:
    """The row's details list `who` under MEMBERS, element for element (no partial codes, no other key): JSON
    functions, as a LIKE on the serialized text cannot tell a list's end apart portably (PostgreSQL's jsonb text
    orders keys its own way)."""
    c = AUDIT.c
    if dialect == "postgresql":
        return cast(c.details, JSONB)[MEMBERS].op("@>")(cast(literal(json.dumps([who])), JSONB))
    listed = func.json_each(c.details, f"$.{MEMBERS}").table_valued("value").alias("listed")
    return and_(func.json_type(c.details, f"$.{MEMBERS}") == "array",   # json_each walks a lone string too
                exists(select(1).select_from(listed).where(listed.c.value == who)))


def _filters(dialect: str, who: str | None, who_id: int | None, what: str | None, since: datetime | None,
             pay: bool) -> list[ColumnElement[bool]]:
    c = AUDIT.c
    out: list[ColumnElement[bool]] = []
    if who:
        about = [c.actor == who, c.entity_id == who, c.entity_id.like(_like(f"{who}:"), escape="\\"),
                 named_in_members(dialect, who)]
        if who_id is not None:   # a target's subject names the member by id (storage.targets.Subject.key)
            about.append(c.entity_id == f"member:{who_id}")
        out.append(or_(*about))
    if what:   # the action, or one of its dot-separated words
        out.append(or_(c.action == what, c.action.like(_like(f"{what}."), escape="\\"),
                       c.action.like(f"%{_escaped(f'.{what}.')}%", escape="\\"),
                       c.action.like(f"%{_escaped(f'.{what}')}", escape="\\"),
                       c.entity == what))
    if since is not None:
        out.append(c.at >= since)
    if pay:
        out.append(pay_only())
    return out


def read_audit(session: Session, *, who: str | None = None, what: str | None = None, since: datetime | None = None,
               pay: bool = False, limit: int | None = None) -> AuditPage:
    """The matching rows, newest first (at most `limit`), and how many match; `pay`: only pay changes."""
    who_id = session.execute(select(Member.id).where(Member.code == who)).scalar_one_or_none() if who else None
    dialect = session.get_bind().dialect.name
    where = and_(*_filters(dialect, who, who_id, what, since, pay)) if (who or what or since or pay) else and_(True)
    total = session.execute(select(func.count()).select_from(AUDIT).where(where)).scalar_one()
    query = select(AUDIT).where(where).order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = [AuditRow(r.id, r.at, r.actor, r.action, r.entity, r.entity_id, r.details or {})
            for r in session.execute(query)]
    return AuditPage(rows, total)
