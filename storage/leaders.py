"""A team's best sellers and best creators over a time range, for the digest.

Orders count at payment or at shipment ([org] count_orders_at) and cancelled orders are left out, as in the
GMV metrics (scoring.metrics), up to `now`: an order counted later, a cancellation or a refund after `now` is
not seen. Both rank by net GMV as docs/metrics.md defines it: merchandise less the refunds completed by `now`
(capped at the order's merchandise) when [org] net_refunds is true. Creators rank by the net merchandise of the
orders attributed to them; products by their order lines' amounts, each order's refunds shared among its lines
in proportion to their amounts (a refund names no line). Amounts convert into the reporting currency at the
rate of the order's UTC counting day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlmodel import Session

from scoring.fx import FxTable
from scoring.money import exponent, round_money
from scoring.rules import CountOrdersAt, Rules
from storage.models import Creator, Order, OrderLine, Product, Refund, Shop


@dataclass(frozen=True)
class Leader:
    name: str
    orders: int
    units: int
    net: Decimal          # in the reporting currency


def _counted_at(rules: Rules) -> Any:
    return Order.shipped_at if rules.count_orders_at is CountOrdersAt.SHIPPED else Order.paid_at


def top_products(session: Session, team_id: int, start: datetime, end: datetime, now: datetime, rules: Rules,
                 fx: FxTable, limit: int = 3) -> list[Leader]:
    at = _counted_at(rules)
    rows = session.execute(
        select(Product.name, Order.id, OrderLine.currency, at, OrderLine.quantity, OrderLine.amount_minor,
               Order.merchandise_minor)
        .join(Order, OrderLine.order_id == Order.id).join(Product, OrderLine.product_id == Product.id)
        .join(Shop, Order.shop_id == Shop.id)
        .where(Shop.team_id == team_id, *_counted(at, start, end, now))).all()
    refunded = _refunded(session, {r[1] for r in rows}, now) if rules.net_refunds else {}
    return _rank(((name, oid, cur, when, qty, _net(amount, merch, refunded.get(oid, 0)))
                  for name, oid, cur, when, qty, amount, merch in rows), rules, fx, limit)


def top_creators(session: Session, team_id: int, start: datetime, end: datetime, now: datetime, rules: Rules,
                 fx: FxTable, limit: int = 3) -> list[Leader]:
    at = _counted_at(rules)
    rows = session.execute(
        select(Creator.name, Creator.handle, Order.id, Order.currency, at, Order.units, Order.merchandise_minor)
        .join(Creator, Order.creator_id == Creator.id).join(Shop, Order.shop_id == Shop.id)
        .where(Shop.team_id == team_id, *_counted(at, start, end, now))).all()
    refunded = _refunded(session, {r[2] for r in rows}, now) if rules.net_refunds else {}
    return _rank(((name or handle, oid, cur, when, units, _net(merch, merch, refunded.get(oid, 0)))
                  for name, handle, oid, cur, when, units, merch in rows), rules, fx, limit)


def _counted(at: Any, start: datetime, end: datetime, now: datetime) -> tuple[Any, ...]:
    """Counted in [start, min(end, now)] and not cancelled by `now` (as scoring.metrics.kept_view)."""
    return (at >= start, at < end, at <= now,
            or_(Order.cancelled_at.is_(None), Order.cancelled_at > now))  # type: ignore[union-attr,operator]


def _refunded(session: Session, order_ids: set[int], now: datetime) -> dict[int, int]:
    """Each order's refunds completed by `now`, in minor units of its currency."""
    out: dict[int, int] = {}
    ids = sorted(order_ids)
    for i in range(0, len(ids), 5000):
        out.update((oid, int(total)) for oid, total in session.execute(
            select(Refund.order_id, func.sum(Refund.amount_minor))
            .where(Refund.order_id.in_(ids[i:i + 5000]), Refund.status == "completed",  # type: ignore[attr-defined]
                   Refund.completed_at <= now)  # type: ignore[operator]
            .group_by(Refund.order_id)))
    return out


def _net(amount: int, merchandise: int, refunded: int) -> Decimal:
    """`amount` (part of an order's `merchandise`) less its share of the order's refunds, capped at the
    merchandise; in minor units, not rounded (the sum over a product is rounded once, on the card)."""
    if not refunded or not merchandise:
        return Decimal(amount)
    return Decimal(amount) * (1 - Decimal(min(refunded, merchandise)) / Decimal(merchandise))


def _rank(rows: Any, rules: Rules, fx: FxTable, limit: int) -> list[Leader]:
    orders: dict[str, set[int]] = defaultdict(set)
    units: dict[str, int] = defaultdict(int)
    net: dict[str, Decimal] = defaultdict(Decimal)
    for name, order_id, currency, at, quantity, minor in rows:
        orders[name].add(order_id)
        units[name] += int(quantity or 0)
        day = at.astimezone(UTC).date()
        net[name] += fx.convert(_major(minor, currency), currency, rules.reporting_currency, day)
    leaders = [Leader(name, len(orders[name]), units[name], net[name]) for name in orders]
    # ranked on the figure shown: two products at the same cent tie there, and units then name decide (the
    # unrounded shares differ in the 28th digit, which would decide instead)
    shown = {x.name: round_money(x.net, rules.reporting_currency) for x in leaders}
    return sorted(leaders, key=lambda x: (-shown[x.name], -x.units, x.name))[:limit]


def _major(minor: Decimal, currency: str) -> Decimal:
    """Minor units (possibly a fraction, after a refund's share) as an amount of `currency`."""
    return Decimal(minor).scaleb(-exponent(currency))
