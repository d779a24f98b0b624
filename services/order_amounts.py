"""An order's amount as the order metrics count it (issue 23): merchandise (no shipping, no tax), net of what was
refunded when refunds are netted (scoring.rules.Rules.net_refunds), in the reporting currency at the rate of its
counting day (as scoring.trail converts it). Appeal cards and the why trail name moved orders with it, so the
amount shown is the amount the score moves by."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import Session

from scoring.fx import FxTable, MissingRate
from scoring.metrics import counting_moment, moment_at
from scoring.money import from_minor
from scoring.rules import CountOrdersAt, Rules
from storage.models import Order
from storage.queries import fx_table


def counted_amount(order: Order, rules: Rules, fx: FxTable, net: bool = True) -> tuple[Decimal, str]:
    """(amount, currency): the reporting currency when a rate is known, else the order's own currency. `net`
    False: the merchandise as platform GMV counts it, refunds or not."""
    merchandise = from_minor(order.merchandise_minor, order.currency)
    if net and rules.net_refunds:
        merchandise -= min(from_minor(order.refunded_minor, order.currency), merchandise)
    if order.currency == rules.reporting_currency:
        return merchandise, order.currency
    moment = counting_moment(order, rules) or order.created_at
    try:
        rate = fx.rate(order.currency, rules.reporting_currency, moment.astimezone(UTC).date())
    except MissingRate:
        return merchandise, order.currency
    return (merchandise * rate).quantize(Decimal("0.01")), rules.reporting_currency


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
