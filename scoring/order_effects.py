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

from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class ProductStep:
    """A change to one product's figures in an order, in the order currency's minor units, taking effect at `at`."""

    at: datetime
    product_id: int
    orders: int = 0          # the kept order holds the product: +1 when it counts, -1 when cancelled
    units: int = 0           # units of its lines
    amount: int = 0          # its lines' amounts
    refunded: int = 0        # its lines' shares of the order's refunds (line_refund_share)


def line_refund_share(amount: int, refunded: int, merchandise: int) -> int:
    """A line's share of its order's refunds, in minor units: floor(amount x refunded / merchandise), `refunded`
    capped at the merchandise (a refund names no line). An exact integer, so sums of shares are exact."""
    if merchandise <= 0 or refunded <= 0:
        return 0
    return amount * min(refunded, merchandise) // merchandise


def product_steps(order: OrderFact, basis: CountOrdersAt, merchandise: int = 0,
                  refunds: Sequence[tuple[datetime | None, int, int]] = (),
                  steps: list[Step] | None = None) -> list[ProductStep]:
    """The steps of the order's lines, by product, while the order is kept: each product of the order counts
    once (+1 order) with its lines' units and amounts when the order counts; each refund step of the order
    (order_steps; `steps` when the caller has them) adds the change of the lines' refund shares; a cancellation
    takes all of it back."""
    steps = order_steps(order, basis, merchandise, list(refunds)) if steps is None else steps
    if not steps or steps[0].orders != 1 or not order.lines:
        return []
    lines: dict[int, list[tuple[int, int]]] = {}
    for line in order.lines:
        lines.setdefault(line.product_id, []).append((line.units, line.amount_minor))

    def share(product: int, paid_back: int) -> int:
        return sum(line_refund_share(amount, paid_back, merchandise) for _, amount in lines[product])

    first = steps[0].at
    out = [ProductStep(first, p, 1, sum(u for u, _ in ls), sum(a for _, a in ls)) for p, ls in lines.items()]
    paid_back = 0
    for step in steps[1:]:
        if step.orders == -1:     # the cancellation: everything of the order's products goes
            out += [ProductStep(step.at, p, -1, -sum(u for u, _ in ls), -sum(a for _, a in ls), -share(p, paid_back))
                    for p, ls in lines.items()]
        elif step.refunded:
            after = paid_back + step.refunded
            out += [ProductStep(step.at, p, refunded=share(p, after) - share(p, paid_back)) for p in lines
                    if share(p, after) != share(p, paid_back)]
            paid_back = after
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


def products_by_now(order: OrderFact, basis: CountOrdersAt, now: datetime, since: datetime | None = None,
                    merchandise: int = 0,
                    refunds: Sequence[tuple[datetime | None, int, int]] = ()) -> list[ProductSum]:
    """The order's products as of `now` (steps taken by `now`; with `since`, only those taken at or after it), one
    ProductSum each at the order's counting moment. `merchandise` and `refunds` as for order_steps (without them
    the refund shares are 0)."""
    moment = moment_at(order, basis)
    if moment is None:
        return []
    acc: dict[int, list[int]] = {}
    for s in product_steps(order, basis, merchandise, refunds):
        if s.at <= now and (since is None or s.at >= since):
            a = acc.setdefault(s.product_id, [0, 0, 0, 0])
            a[0] += s.orders
            a[1] += s.units
            a[2] += s.amount
            a[3] += s.refunded
    cur = order.currency
    return [ProductSum(product, moment, a[1], cur, a[0], from_minor(a[2], cur), from_minor(a[3], cur))
            for product, a in acc.items() if any(a)]
