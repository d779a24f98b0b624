"""The digest's top products and top creators (storage.leaders) read from the order sums give the very same
figures as the orders read one by one, on SQLite and PostgreSQL.

The random stores of tests/order_sums_world.py, with creators attributed and line amounts set in a later
transaction (so the triggers mark the changed hours), are read for random teams, windows, `now`s and rules:
from the sums, through the sums' own one-by-one path, and by hand from the orders (below); every Decimal equal.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import or_, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.fx import FxTable
from scoring.money import from_minor, round_money
from scoring.rules import CountOrdersAt, Rules
from storage.leaders import Leader, leaders
from storage.models import Creator, Order, OrderLine, Organisation, Product, Refund, Shop
from storage.order_sums import read_sums, rebuild
from tests.order_sums_world import World, build, sum_tables_agree
from tests.test_order_sums import _due, _sum_rows, draw

ALL = 10_000


def attribute(engine: Engine, rng: random.Random) -> None:
    """Creators (two of one name, one known by handle only) credited with most orders, and amounts on every
    order line, written after the orders, as crediting and a re-sync would."""
    with Session(engine) as session:
        org = session.execute(select(Organisation.id)).scalars().first()
        assert org is not None
        creators = [Creator(org_id=org, handle=f"c{i}", platform="tiktok_shop", name=name)
                    for i, name in enumerate(["Ann", "Bo", "Ann", None, "Cy"])]
        session.add_all(creators)
        session.flush()
        ids = [c.id for c in creators]
        for oid, merch in session.execute(select(Order.id, Order.merchandise_minor)).all():
            if rng.random() < 0.7:
                session.execute(update(Order).where(Order.id == oid).values(creator_id=rng.choice(ids)))
            for line in session.execute(select(OrderLine.id).where(OrderLine.order_id == oid)).scalars():
                amount = rng.choice([0, rng.randint(0, max(merch, 1)), merch // 3 or 1, merch])
                session.execute(update(OrderLine).where(OrderLine.id == line).values(amount_minor=amount))
        session.commit()


def by_hand(session: Session, team: int, start: datetime, end: datetime, now: datetime, rules: Rules,
            fx: FxTable) -> tuple[list[Leader], list[Leader]]:
    """The leaders from the orders, without the sums' steps: orders counted in [start, min(end, now)] and not
    cancelled by now, refunds completed by now capped at the merchandise, each line's share floored."""
    at = Order.shipped_at if rules.count_orders_at is CountOrdersAt.SHIPPED else Order.paid_at
    orders = {r[0]: r[1:] for r in session.execute(
        select(Order.id, Order.currency, at, Order.merchandise_minor, Order.units, Order.creator_id)
        .join(Shop, Order.shop_id == Shop.id)
        .where(Shop.team_id == team, at >= start, at < end, at <= now,  # type: ignore[operator]
               or_(Order.cancelled_at.is_(None), Order.cancelled_at > now)))}  # type: ignore[union-attr,operator]
    refunded: dict[int, int] = {}
    for oid, amount in session.execute(select(Refund.order_id, Refund.amount_minor).where(
            Refund.status == "completed", Refund.completed_at <= now)):  # type: ignore[operator]
        if oid in orders:
            refunded[oid] = refunded.get(oid, 0) + amount
    products: dict[str, list] = {}
    held: set[tuple[int, int]] = set()
    for oid, pid, name, qty, amount in session.execute(
            select(OrderLine.order_id, OrderLine.product_id, Product.name, OrderLine.quantity, OrderLine.amount_minor)
            .join(Product, OrderLine.product_id == Product.id).order_by(OrderLine.id)):
        if oid not in orders:
            continue
        cur, moment, merch, _, _ = orders[oid]
        paid_back = min(refunded.get(oid, 0), merch)
        back = amount * paid_back // merch if rules.net_refunds and merch > 0 and paid_back > 0 else 0   # floored
        first = (oid, pid) not in held
        held.add((oid, pid))
        _add(products, name, int(first), qty, cur, moment.replace(tzinfo=UTC), from_minor(amount - back, cur))
    names = {c.id: c.name or c.handle for c in session.execute(select(Creator)).scalars()}
    creators: dict[str, list] = {}
    for oid, (cur, moment, merch, units, creator) in orders.items():
        if creator is not None:
            back = min(refunded.get(oid, 0), merch) if rules.net_refunds else 0
            _add(creators, names[creator], 1, units, cur, moment.replace(tzinfo=UTC), from_minor(merch - back, cur))
    return _ranked(products, rules, fx), _ranked(creators, rules, fx)


def _add(tally: dict[str, list], name: str, orders: int, units: int, currency: str, moment: datetime,
         net: Decimal) -> None:
    """The key's own tally, written apart from storage.leaders: orders, units, net by (currency, UTC day)."""
    t = tally.setdefault(name, [0, 0, {}])
    t[0], t[1] = t[0] + orders, t[1] + units
    day = (currency, moment.astimezone(UTC).date())
    t[2][day] = t[2].get(day, Decimal(0)) + net


def _ranked(tally: dict[str, list], rules: Rules, fx: FxTable) -> list[Leader]:
    """Each name's net in the reporting currency (each currency and day's sum at its rate, in key order, as every
    figure of kpibot is converted), by the cents shown, then units, then name."""
    to = rules.reporting_currency
    out = [Leader(name, orders, units, sum((own[k] * fx.rate(k[0], to, k[1]) for k in sorted(own)), Decimal(0)))
           for name, (orders, units, own) in tally.items() if orders > 0]
    return sorted(out, key=lambda x: (-round_money(x.net, to), -x.units, x.name))


def compare(session: Session, world: World, rng: random.Random,
            expect_sums: bool | None = True) -> tuple[int, int, bool]:
    """One random draw: the sums, their one-by-one path and the orders by hand give the same leaders. The number
    of products and of creators found, and whether the sums were read. `expect_sums`: whether the sums can be
    read (None: either, as due hours fall)."""
    d = draw(rng, world, "team")
    end = min(d.end, d.now) if rng.random() < 0.5 else d.end    # the digest's range ends at now
    shops = [s for s, team, _ in world.shops if team == d.who]
    read = read_sums(session.connection(), d.rules.count_orders_at, d.start, end, d.now, None, shops=shops,
                     by_creator=True, every_product=True)
    assert expect_sums is None or (read is not None) == expect_sums
    summed = leaders(session, d.who, d.start, end, d.now, d.rules, world.fx, ALL)
    one = leaders(session, d.who, d.start, end, d.now, d.rules, world.fx, ALL, one_by_one=True)
    hand = by_hand(session, d.who, d.start, end, d.now, d.rules, world.fx)
    assert summed == one == hand, repr(d)
    return len(summed[0]), len(summed[1]), read is not None


@pytest.mark.parametrize("seed", [31, 32])
def test_leaders_from_sums_are_the_orders_leaders(engine: Engine, seed: int) -> None:
    world = build(engine, seed)
    rng = random.Random(seed * 7)
    attribute(engine, rng)
    assert _due(engine) == 0
    with Session(engine) as session:
        found = [compare(session, world, rng) for _ in range(40)]
    # most draws find leaders: the test cannot pass by finding none
    assert sum(p > 1 for p, _, _ in found) >= 20 and sum(c > 1 for _, c, _ in found) >= 20, found
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM order_sum WHERE creator_id <> 0")).scalar_one() > 0
        assert conn.execute(text("SELECT count(*) FROM order_product_sum WHERE refunded_minor <> 0")).scalar_one()
    incremental = _sum_rows(engine)
    rebuild(engine)
    sum_tables_agree(incremental, _sum_rows(engine))


def test_uncommitted_changes_read_the_orders_through_the_same_steps(engine: Engine) -> None:
    """A re-attribution not yet committed makes its hours due: the leaders read the orders, and agree."""
    world = build(engine, 33, orders=200)
    rng = random.Random(3300)
    attribute(engine, rng)
    with Session(engine) as session:
        creators = list(session.execute(select(Creator.id)).scalars())
        ids = list(session.execute(select(Order.id).order_by(Order.id)).scalars())
        for oid in rng.sample(ids, 30):
            session.execute(update(Order).where(Order.id == oid).values(creator_id=rng.choice(creators)))
        session.flush()
        read = [compare(session, world, rng, expect_sums=None)[2] for _ in range(12)]
        assert not all(read), "no draw met a due hour"
        session.commit()
    assert _due(engine) == 0
    with Session(engine) as session:
        for _ in range(10):
            compare(session, world, rng)
