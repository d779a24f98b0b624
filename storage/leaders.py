"""A team's best sellers and best creators over a time range, for the digest.

Orders count at payment or at shipment ([org] count_orders_at) and cancelled orders are left out, as in the
GMV metrics (scoring.metrics). Products rank by the merchandise value of their order lines; creators by the
net merchandise of the orders attributed to them (refunds so far taken off). Amounts convert into the
reporting currency at the rate of the order's UTC counting day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from scoring.fx import FxTable
from scoring.money import from_minor
from scoring.rules import CountOrdersAt, Rules
from storage.models import Creator, Order, OrderLine, Product, Shop


@dataclass(frozen=True)
class Leader:
    name: str
    orders: int
    units: int
    net: Decimal          # in the reporting currency


def _counted_at(rules: Rules) -> Any:
    return Order.shipped_at if rules.count_orders_at is CountOrdersAt.SHIPPED else Order.paid_at


def top_products(session: Session, team_id: int, start: datetime, end: datetime, rules: Rules, fx: FxTable,
                 limit: int = 3) -> list[Leader]:
    at = _counted_at(rules)
    rows = session.execute(
        select(Product.name, Order.id, OrderLine.currency, at, OrderLine.quantity, OrderLine.amount_minor)
        .join(Order, OrderLine.order_id == Order.id).join(Product, OrderLine.product_id == Product.id)
        .join(Shop, Order.shop_id == Shop.id)
        .where(Shop.team_id == team_id, at >= start, at < end, Order.cancelled_at.is_(None)))  # type: ignore[union-attr]
    return _rank(rows, rules, fx, limit)


def top_creators(session: Session, team_id: int, start: datetime, end: datetime, rules: Rules, fx: FxTable,
                 limit: int = 3) -> list[Leader]:
    at = _counted_at(rules)
    rows = session.execute(
        select(Creator.name, Creator.handle, Order.id, Order.currency, at, Order.units,
               Order.merchandise_minor - Order.refunded_minor)
        .join(Creator, Order.creator_id == Creator.id).join(Shop, Order.shop_id == Shop.id)
        .where(Shop.team_id == team_id, at >= start, at < end, Order.cancelled_at.is_(None)))  # type: ignore[union-attr]
    return _rank(((name or handle, *rest) for name, handle, *rest in rows), rules, fx, limit)


def _rank(rows: Any, rules: Rules, fx: FxTable, limit: int) -> list[Leader]:
    orders: dict[str, set[int]] = defaultdict(set)
    units: dict[str, int] = defaultdict(int)
    net: dict[str, Decimal] = defaultdict(Decimal)
    for name, order_id, currency, at, quantity, minor in rows:
        orders[name].add(order_id)
        units[name] += int(quantity or 0)
        day = at.astimezone(UTC).date()
        net[name] += fx.convert(from_minor(int(minor or 0), currency), currency, rules.reporting_currency, day)
    leaders = [Leader(name, len(orders[name]), units[name], net[name]) for name in orders]
    return sorted(leaders, key=lambda x: (-x.net, -x.units, x.name))[:limit]
