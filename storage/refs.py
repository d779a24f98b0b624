"""The platforms' own ids of the facts a score reads (storage.activity loads them by the store's ids), and who set
a member's targets (or which file imported them): what "why" (services.why) names them by."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlmodel import Session

from storage.models import AuditLog, LiveSession, Member, Order, Shop, Target


def order_refs(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Order id -> the platform's order id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Order.id, Order.platform_order_id).where(Order.id.in_(wanted)))  # type: ignore[union-attr]
    return {oid: ref for oid, ref in rows}


def live_refs(session: Session, member: Member, starts: Iterable[datetime]) -> dict[datetime, str]:
    """Start time -> the platform's session id, among the member's own sessions and their team's shops' (the
    first stored on a tie)."""
    wanted = sorted(set(starts))
    if not wanted:
        return {}
    team_shops = select(Shop.id).where(Shop.team_id == member.team_id) if member.team_id else None
    who = LiveSession.host_member_id == member.id
    if team_shops is not None:
        who = or_(who, LiveSession.shop_id.in_(team_shops))  # type: ignore[attr-defined]
    rows = session.execute(select(LiveSession.started_at, LiveSession.platform_session_id)
                           .where(who, LiveSession.started_at.in_(wanted))  # type: ignore[attr-defined]
                           .order_by(LiveSession.id.desc()))  # type: ignore[union-attr]
    return {at: ref for at, ref in rows}


def target_setters(session: Session, member_id: int, period: str) -> dict[str, str]:
    """Metric key -> the code of the member who set the member's target for `period`, where recorded."""
    rows = session.execute(select(Target.metric_key, Member.code).join(Member, Member.id == Target.set_by_member_id)
                           .where(Target.subject == f"member:{member_id}", Target.period == period))
    return {key: code for key, code in rows}


_TARGET_WRITES = ("target.set", "target.force", "baseline.set", "baseline.force")


def target_imports(session: Session, member_id: int, period: str) -> dict[str, tuple[str, datetime]]:
    """Metric key -> (file name, when) for the member's targets of `period` whose latest write came from
    `kpibot targets import`: its target.set row is followed, with only other target and baseline writes between
    (one transaction), by the import.targets row naming the file; the date is that row's."""
    sets = session.execute(select(AuditLog).where(AuditLog.action.in_(("target.set", "target.force")),  # type: ignore[attr-defined]
                                                  AuditLog.entity_id == f"member:{member_id}")
                           .order_by(AuditLog.id)).scalars().all()  # type: ignore[arg-type]
    latest: dict[str, AuditLog] = {}
    for row in sets:
        if row.details.get("period") == period and isinstance(row.details.get("metric"), str):
            latest[row.details["metric"]] = row
    out: dict[str, tuple[str, datetime]] = {}
    for key, row in latest.items():
        following = session.execute(select(AuditLog).where(AuditLog.id > row.id,  # type: ignore[arg-type,operator]
                                                           AuditLog.action.not_in(_TARGET_WRITES))  # type: ignore[attr-defined]
                                    .order_by(AuditLog.id).limit(1)).scalars().first()  # type: ignore[arg-type]
        if following is not None and following.action == "import.targets" and following.entity_id:
            out[key] = (following.entity_id, following.at)
    return out
