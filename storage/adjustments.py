"""The store's side of what approved appeals changed (storage.models.AppealAdjustment; the use case:
services.appeal_adjustments). The reads every score goes through:

- `excluded_orders`: the orders an appeal took out of a member's numbers (their GMV and their refunds) in the
  appeal's month.
- `month_overrides`: a member's metric values an appeal set for a month (the latest per metric wins).

Orders an appeal credited carry credit_rule APPEAL_RULE (host) or attribution_rule APPEAL_RULE (creator), which
crediting (storage.crediting.credit_batch) and attribution (storage.attribution.attribute_batch) never touch
again; sessions an appeal added have a platform_session_id starting with APPEAL_SESSION_PREFIX, which host
matching (storage.crediting.match_hosts) leaves alone and no shop sync ever names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from storage.models import Appeal, AppealAdjustment, LiveSession, Member, Order, Shop

APPEAL_RULE = "appeal"
APPEAL_SESSION_PREFIX = "appeal:"


def excluded_orders(session: Session, member_id: int, start: datetime, end: datetime) -> frozenset[int]:
    """Ids of the orders appeals took out of the member's numbers, of the appeals whose month [start, end) (the
    range facts are loaded for) holds whole (a month's score, its commission, a year), lies within (a day or week
    of it) or covers part of beyond any zone's offset (a week across two months): an exclusion applies to its
    appeal's month, never to another month the order might count in (the organisation switching to count at
    shipment)."""
    return excluded_orders_of(session, [member_id], start, end)[member_id]


def excluded_orders_of(session: Session, member_ids: list[int], start: datetime,
                       end: datetime) -> dict[int, frozenset[int]]:
    """excluded_orders of each of `member_ids` for [start, end), in one query."""
    out: dict[int, set[int]] = {m: set() for m in member_ids}
    for member_id, order_id, period in session.execute(
            select(AppealAdjustment.member_id, AppealAdjustment.order_id, AppealAdjustment.period).where(
                AppealAdjustment.member_id.in_(member_ids), AppealAdjustment.kind == "exclude_order",  # type: ignore[attr-defined,arg-type]
                AppealAdjustment.order_id.is_not(None))):  # type: ignore[union-attr]
        if _holds(start, end, period):
            out[member_id].add(order_id)
    return {m: frozenset(ids) for m, ids in out.items()}


ZONE_SLACK = timedelta(hours=14)   # the furthest a zone's midnight is from UTC's


def _holds(start: datetime, end: datetime, period: str) -> bool:
    """[start, end) holds the month `period` whole or lies within it, in some zone: the month's UTC bounds give
    or take ZONE_SLACK."""
    year, month = int(period[:4]), int(period[5:7])
    first = datetime(year, month, 1, tzinfo=UTC)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    whole = start <= first + ZONE_SLACK and end >= following - ZONE_SLACK
    within = start >= first - ZONE_SLACK and end <= following + ZONE_SLACK
    # a week across two months is loaded with its anchor month: it covers part of the month beyond any zone's
    # offset, so the exclusion holds in it (it was counted again there); a neighbouring month never does
    overlaps = start < following - ZONE_SLACK and end > first + ZONE_SLACK
    return whole or within or overlaps


def month_overrides(session: Session, member_id: int | None, periods: Iterable[str]) -> dict[tuple[str, str], Decimal]:
    """(metric key, "YYYY-MM") -> the value appeals set for the member; a later adjustment wins."""
    return {} if member_id is None else month_overrides_of(session, [member_id], periods).get(member_id, {})


def month_overrides_of(session: Session, member_ids: list[int],
                       periods: Iterable[str]) -> dict[int, dict[tuple[str, str], Decimal]]:
    """month_overrides of several members in one query."""
    periods = list(periods)
    out: dict[int, dict[tuple[str, str], Decimal]] = {}
    if not member_ids or not periods:
        return out
    for member_id, key, period, value in session.execute(
            select(AppealAdjustment.member_id, AppealAdjustment.metric_key, AppealAdjustment.period,
                   AppealAdjustment.value)
            .where(AppealAdjustment.member_id.in_(member_ids), AppealAdjustment.kind == "override",  # type: ignore[attr-defined,arg-type]
                   AppealAdjustment.period.in_(periods), AppealAdjustment.value.is_not(None))  # type: ignore[attr-defined,union-attr]
            .order_by(AppealAdjustment.id)):  # type: ignore[arg-type]
        if key is not None:
            out.setdefault(member_id, {})[key, period] = value
    return out


@dataclass(frozen=True)
class MonthAdjustment:
    """One appeal adjustment of a member's month, as the why trail names it."""

    id: int
    appeal_id: int
    kind: str
    metric_key: str | None
    value: Decimal | None
    order_ref: str            # credit_order / exclude_order: the order's platform id
    session: tuple[str, datetime, datetime] | None   # add_session: (shop code, start, end)


def month_adjustments(session: Session, member_id: int, period: str) -> list[MonthAdjustment]:
    """The appeal adjustments of the member's month `period`, oldest first."""
    rows = session.execute(select(AppealAdjustment, Order.platform_order_id, Shop.code, LiveSession)
                           .outerjoin(Order, Order.id == AppealAdjustment.order_id)  # type: ignore[arg-type]
                           .outerjoin(LiveSession, LiveSession.id == AppealAdjustment.live_session_id)  # type: ignore[arg-type]
                           .outerjoin(Shop, Shop.id == LiveSession.shop_id)  # type: ignore[arg-type]
                           .where(AppealAdjustment.member_id == member_id,  # type: ignore[arg-type]
                                  AppealAdjustment.period == period)
                           .order_by(AppealAdjustment.id)).all()  # type: ignore[arg-type]
    out = []
    for adj, order_ref, shop_code, live in rows:
        when = (shop_code or "", live.started_at, live.ended_at) if live is not None and live.ended_at else None
        out.append(MonthAdjustment(adj.id or 0, adj.appeal_id, adj.kind, adj.metric_key, adj.value, order_ref or "",
                                   when))
    return out


@dataclass(frozen=True)
class LostOrder:
    """An order an approved appeal credited away from a member (AppealAdjustment.from_member_id) in a month."""

    appeal_id: int
    order: Order
    to_code: str              # the member it was credited to
    from_member_id: int = 0   # the member it was credited away from
    metric_key: str | None = None   # the metric the appeal was about


def lost_orders(session: Session, member_id: int, period: str) -> list[LostOrder]:
    """The orders appeals of month `period` credited away from the member, oldest first (detached-safe: loaded)."""
    return _lost(session, AppealAdjustment.from_member_id == member_id, AppealAdjustment.period == period)


def lost_by_appeal(session: Session, appeal_id: int) -> list[LostOrder]:
    """The orders one appeal credited away from other members, oldest first (detached-safe: loaded)."""
    return _lost(session, AppealAdjustment.appeal_id == appeal_id,  # type: ignore[arg-type]
                 AppealAdjustment.from_member_id.is_not(None))  # type: ignore[union-attr]


def _lost(session: Session, *where: Any) -> list[LostOrder]:
    rows = session.execute(select(AppealAdjustment.appeal_id, Order, Member.code, AppealAdjustment.from_member_id,
                                  Appeal.metric_key)
                           .join(Order, Order.id == AppealAdjustment.order_id)  # type: ignore[arg-type]
                           .join(Member, Member.id == AppealAdjustment.to_member_id)  # type: ignore[arg-type]
                           .outerjoin(Appeal, Appeal.id == AppealAdjustment.appeal_id)  # type: ignore[arg-type]
                           .where(AppealAdjustment.kind == "credit_order", *where)  # type: ignore[arg-type]
                           .order_by(AppealAdjustment.id)).all()  # type: ignore[arg-type]
    return [LostOrder(appeal_id, order, code, lost_by or 0, metric)
            for appeal_id, order, code, lost_by, metric in rows]


def losers_of(made: Iterable[AppealAdjustment]) -> list[int]:
    """The ids of the members adjustments took an order from (credited away), sorted, each once."""
    return sorted({a.from_member_id for a in made if a.from_member_id is not None})
