"""What an order adds to its owner's numbers, and when: the steps the order-based metrics see as `now` moves.

The metrics (scoring.metrics) read an order counted in a window as of `now`: its merchandise counts in GMV from its
counting moment on; it is kept (net GMV, orders, units) from then until it is cancelled; its refunds count from
when each completed, capped at its merchandise (returned units capped at its units), and not at all once it is
cancelled. Written as steps, each at the time it takes effect, those numbers are sums: the order's figure as of
`now` is the sum of its steps taken by `now`. Sums of many orders' steps, grouped by their counting quarter-hour
and the quarter-hour each step takes effect (storage.order_sums), then answer for any member, window, zone and
`now` without reading the orders: the same figures, to the cent, as reading them (tests/test_order_sums.py).

A step's time is never before the order's counting moment: a refund completed before an order counts (counted
at shipment) takes effect when it counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scoring.facts import OrderFact, OrderSum, ProductSum
from scoring.metrics import moment_at
from scoring.money import from_minor
from scoring.rules import CountOrdersAt

SLOT = timedelta(minutes=15)   # every zone's midnight is on a quarter-hour of UTC
SLOT_SECONDS = 900
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_of(moment: datetime) -> int:
    """The UTC quarter-hour `moment` lies in, numbered from 1970-01-01 00:00 UTC."""
    return int((moment - _EPOCH).total_seconds()) // SLOT_SECONDS


def slot_start(slot: int) -> datetime:
    return _EPOCH + slot * SLOT


@dataclass(frozen=True, slots=True)
class Step:
    """A change to an order's figures, in its currency's minor units, taking effect at `at`."""

    at: datetime
    gross: int = 0           # merchandise of counted orders, cancelled or not (GMV)
    orders: int = 0          # kept orders: counted and not cancelled
    value: int = 0           # their merchandise
    refunded: int = 0        # refunded on them, each order's capped at its merchandise
    units: int = 0           # units they sold
    returned_units: int = 0  # units returned on them, each order's capped at its units


def order_steps(order: OrderFact, basis: CountOrdersAt, merchandise: int,
                refunds: list[tuple[datetime | None, int, int]]) -> list[Step]:
    """The steps of `order` counted by `basis`. `merchandise` is its merchandise in minor units and `refunds` its
    completed refunds as (completed at, amount in minor units, returned units): the store's integers, so the steps
    add up exactly. None: the order never counts (no counting moment)."""
    moment = moment_at(order, basis)
    if moment is None:
        return []
    cancelled = order.cancelled_at
    if cancelled is not None and cancelled <= moment:   # never kept: it counts in GMV only
        return [Step(moment, gross=merchandise)]
    steps = [Step(moment, gross=merchandise, orders=1, value=merchandise, units=order.units)]
    paid_back = returned = 0     # running totals, capped
    total_paid_back = total_returned = 0
    for at, amount, units_back in sorted((r for r in refunds if r[0] is not None), key=lambda r: r[0]):  # type: ignore[arg-type,return-value]
        assert at is not None
        if cancelled is not None and at >= cancelled:   # a cancelled order's refunds never count
            break
        total_paid_back += amount
        total_returned += units_back
        new_paid, new_returned = min(total_paid_back, merchandise), min(total_returned, order.units)
        if new_paid != paid_back or new_returned != returned:
            steps.append(Step(max(moment, at), refunded=new_paid - paid_back, returned_units=new_returned - returned))
        paid_back, returned = new_paid, new_returned
    if cancelled is not None:
        steps.append(Step(cancelled, orders=-1, value=-merchandise, units=-order.units, refunded=-paid_back,
                          returned_units=-returned))
    return steps


def product_steps(order: OrderFact, basis: CountOrdersAt) -> list[tuple[datetime, int, int]]:
    """(takes effect at, product id, units) of the order's lines: sold units count while the order is kept."""
    moment = moment_at(order, basis)
    cancelled = order.cancelled_at
    if moment is None or (cancelled is not None and cancelled <= moment):
        return []
    out = [(moment, line.product_id, line.units) for line in order.lines]
    if cancelled is not None:
        out += [(cancelled, line.product_id, -line.units) for line in order.lines]
    return out


def sums_by_now(order: OrderFact, basis: CountOrdersAt, merchandise: int,
                refunds: list[tuple[datetime | None, int, int]], now: datetime,
                since: datetime | None = None) -> OrderSum | None:
    """The order's figures as of `now` (steps taken by `now`; with `since`, only those taken at or after it), as
    one OrderSum at its counting moment; None when no step is taken."""
    moment = moment_at(order, basis)
    taken = [s for s in order_steps(order, basis, merchandise, refunds)
             if s.at <= now and (since is None or s.at >= since)]
    if moment is None or not taken:
        return None
    cur = order.currency
    return OrderSum(cur, moment,
                    from_minor(sum(s.gross for s in taken), cur), sum(s.orders for s in taken),
                    from_minor(sum(s.value for s in taken), cur), from_minor(sum(s.refunded for s in taken), cur),
                    sum(s.units for s in taken), sum(s.returned_units for s in taken))


def products_by_now(order: OrderFact, basis: CountOrdersAt, now: datetime,
                    since: datetime | None = None) -> list[ProductSum]:
    moment = moment_at(order, basis)
    if moment is None:
        return []
    units: dict[int, int] = {}
    for at, product, n in product_steps(order, basis):
        if at <= now and (since is None or at >= since):
            units[product] = units.get(product, 0) + n
    return [ProductSum(product, moment, n) for product, n in units.items() if n]
