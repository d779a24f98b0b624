"""An order's amount as the order metrics count it (issue 23): merchandise (no shipping, no tax), net of what was
refunded when refunds are netted (scoring.rules.Rules.net_refunds), in the reporting currency at the rate of its
counting day (as scoring.trail converts it). Appeal cards and the why trail name moved orders with it, so the
amount shown is the amount the score moves by."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session

from scoring.fx import FxTable, MissingRate
from scoring.metrics import counting_moment, moment_at
from scoring.money import from_minor
from scoring.rules import CountOrdersAt, Rules
from storage.models import Order, Refund
from storage.month_close import closed
from storage.queries import fx_table


def counted_amount(order: Order, rules: Rules, fx: FxTable, net: bool = True,
                   refunded_minor: int | None = None) -> tuple[Decimal, str]:
    """(amount, currency): the reporting currency when a rate is known, else the order's own currency. `net`
    False: the merchandise as platform GMV counts it, refunds or not. `refunded_minor`: the refunds to net when
    the amount is read as of a closed month's close (refunded_at_close), else every refund stored."""
    merchandise = from_minor(order.merchandise_minor, order.currency)
    if net and rules.net_refunds:
        refunded = order.refunded_minor if refunded_minor is None else refunded_minor
        merchandise -= min(from_minor(refunded, order.currency), merchandise)
    if order.currency == rules.reporting_currency:
        return merchandise, order.currency
    moment = counting_moment(order, rules) or order.created_at
    try:
        rate = fx.rate(order.currency, rules.reporting_currency, moment.astimezone(UTC).date())
    except MissingRate:
        return merchandise, order.currency
    return (merchandise * rate).quantize(Decimal("0.01")), rules.reporting_currency


def refunded_at_close(session: Session, order: Order, period: str) -> int | None:
    """For a closed month (`period`, YYYY-MM), the order's refunds completed by the close, in its minor units: what
    the month's frozen scores netted (scoring.metrics counts a completed refund from its completion time), so a
    refund after the close stays out of that month's amounts. None for an open month: every refund stored."""
    done = closed(session, period)
    if done is None:
        return None
    return int(session.execute(select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
        Refund.order_id == order.id, Refund.status == "completed",  # type: ignore[arg-type]
        Refund.completed_at <= done.closed_at)).scalar_one())  # type: ignore[operator]


def at_shipment(rules: Rules) -> bool:
    """The organisation counts orders at shipment ([org] count_orders_at), else at payment."""
    return rules.count_orders_at is CountOrdersAt.SHIPPED


def counted_at(order: Order, shipped: bool) -> datetime | None:
    """When the order counts (scoring.metrics's counting moment: shipped when `shipped`, else paid), aware: a
    time SQLite reads back naive is UTC. None: not paid (shipped) yet."""
    moment = moment_at(order, CountOrdersAt.SHIPPED if shipped else CountOrdersAt.PAID)
    return None if moment is None else moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rates(session: Session) -> FxTable:
    """Every stored rate (each amount converts at the latest on or before its own day)."""
    return fx_table(session, date.max)
