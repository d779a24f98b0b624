"""A team's best sellers and best creators over a time range, for the digest.

Orders count at payment or at shipment ([org] count_orders_at) and cancelled orders are left out, as in the
GMV metrics (scoring.metrics), up to `now`: an order counted later, a cancellation or a refund after `now` is
not seen. Both rank by net GMV as docs/metrics.md defines it: merchandise less the refunds completed by `now`
(capped at the order's merchandise) when [org] net_refunds is true. Creators rank by the net merchandise of the
orders attributed to them; products by their order lines' amounts, less each line's share of its order's refunds
(a refund names no line): floor(line amount x refunded / merchandise) in minor units, `refunded` being the
order's refunds completed by `now` capped at its merchandise (scoring.order_effects.line_refund_share), an exact
integer. Amounts convert into the reporting currency at the rate of the order's UTC counting day, once per
currency and day, summed in a fixed order.

Both read the order sums (storage.order_sums: order_sum by creator, order_product_sum by product), so their cost
grows with the range's quarter-hours and the team's products and creators, not with its orders; a range with a
due order (changed in this transaction) reads its orders one by one through the same steps: the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from scoring.fx import FxTable
from scoring.metrics import converted_sum
from scoring.money import round_money
from scoring.rules import Rules
from storage.activity import team_shop_ids
from storage.models import Creator, Product
from storage.order_sums import Read, read_sums


@dataclass(frozen=True)
class Leader:
    name: str
    orders: int
    units: int
    net: Decimal          # in the reporting currency


def leaders(session: Session, team_id: int, start: datetime, end: datetime, now: datetime, rules: Rules,
            fx: FxTable, limit: int = 3, one_by_one: bool = False) -> tuple[list[Leader], list[Leader]]:
    """(top products, top creators) of the team's orders counted in [start, min(end, now)], in one read of the
    sums. `one_by_one`: read the orders themselves (what the sums must equal)."""
    shops = team_shop_ids(session, team_id)
    if not shops:
        return [], []
    conn = session.connection()
    got = None if one_by_one else read_sums(conn, rules.count_orders_at, start, end, now, None, shops=shops,
                                            by_creator=True, every_product=True, daily=True)
    if got is None:
        got = read_sums(conn, rules.count_orders_at, start, end, now, None, shops=shops, by_creator=True,
                        every_product=True, one_by_one=True)
    assert got is not None
    return _products(session, got.get(0, Read([], [])), rules, fx, limit), _creators(session, got, rules, fx, limit)


def _add(tally: dict[str, list], name: str, orders: int, units: int, currency: str, moment: datetime,
         net: Decimal) -> None:
    """Add to `name`'s [orders, units, net by (currency, UTC day of the counting moment)]."""
    t = tally.setdefault(name, [0, 0, {}])
    t[0] += orders
    t[1] += units
    key = (currency, moment.astimezone(UTC).date())
    t[2][key] = t[2].get(key, Decimal(0)) + net


def _products(session: Session, read: Read, rules: Rules, fx: FxTable, limit: int) -> list[Leader]:
    ids = sorted({p.product_id for p in read.products})
    names: dict[int, str] = {}
    for i in range(0, len(ids), 5000):
        names.update(session.execute(select(Product.id, Product.name)   # type: ignore[call-overload]
                                     .where(Product.id.in_(ids[i:i + 5000]))).all())  # type: ignore[union-attr]
    tally: dict[str, list] = {}
    for p in read.products:
        if p.product_id in names:   # products of the same name merge
            _add(tally, names[p.product_id], p.orders, p.units, p.currency, p.moment,
                 p.amount - p.refunded if rules.net_refunds else p.amount)
    return _rank(tally.items(), rules, fx, limit)


def _creators(session: Session, got: dict[int, Read], rules: Rules, fx: FxTable, limit: int) -> list[Leader]:
    ids = sorted(k for k, r in got.items() if k and r.orders)
    names: dict[int, str] = {}
    for i in range(0, len(ids), 5000):
        names.update((cid, name or handle) for cid, name, handle in session.execute(
            select(Creator.id, Creator.name, Creator.handle)
            .where(Creator.id.in_(ids[i:i + 5000]))))  # type: ignore[union-attr]
    tally: dict[str, list] = {}
    for cid in ids:
        for s in got[cid].orders:
            if cid in names:   # creators of the same name merge
                _add(tally, names[cid], s.orders, s.units, s.currency, s.moment,
                     s.value - s.refunded if rules.net_refunds else s.value)
    return _rank(tally.items(), rules, fx, limit)


def _rank(tally: Iterable[tuple[str, list]], rules: Rules, fx: FxTable, limit: int) -> list[Leader]:
    to = rules.reporting_currency
    leaders = [Leader(name, orders, units, converted_sum(fx, to, own)) for name, (orders, units, own) in tally
               if orders > 0]
    # ranked on the figure shown: two products at the same cent tie there, and units then name decide
    shown = {x.name: round_money(x.net, to) for x in leaders}
    return sorted(leaders, key=lambda x: (-shown[x.name], -x.units, x.name))[:limit]
