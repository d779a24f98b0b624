"""The order sums (storage.order_sums, scoring.order_effects) give the same figures as the orders read one by one,
on SQLite and PostgreSQL.

Random but seeded stores (tests/order_sums_world.py) are read for many random draws of scope (a host's own
orders, a team's), window (day, week, month in five zones, one with a DST change inside the range), `now` (any
microsecond, on a quarter-hour, a microsecond before one, at or next to an order's or refund's time) and rules
(counted at payment or shipment, refunds netted or not, refund maturity 0-20 days), once with FactCache(now,
rules) (the sums) and once with FactCache() (the orders): every figure the very same Decimal (scoring.metrics converts
money per currency and rate day once, in a fixed order, on both paths), the daily cumulative series too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.facts import Activity
from scoring.metrics import CATALOG, Context
from scoring.periods import PeriodKind, Window, month_window, window_for
from scoring.rules import CountOrdersAt, Rules
from scoring.series import cumulative_series
from scoring.shape import history_bounds, learn_shape, learn_shape_counted
from storage.activity import (
    FactCache,
    _orders,
    load_activity,
    load_team_activity,
    team_order_counts,
    team_order_moments,
)
from storage.models import Member, Order, OrderLine, OrderSumDue, Refund
from storage.order_sums import _plan, rebuild, slot_of
from tests.conftest import a_shop, org_and_team
from tests.order_sums_world import EDGES, FIRST, ZONES, World, build, moment, sum_tables, sum_tables_agree

# every order-based metric that needs no line costs or buyers
METRICS = ("gmv", "net_gmv", "orders", "aov", "refund_rate", "return_rate", "inventory_turnover_days")
PRODUCT_METRICS = ("new_product_sell_through", "new_sku_hit_rate")
CUMULATIVE = ("gmv", "net_gmv", "orders")
CENT = Decimal("0.01")
RATIO_TOLERANCE = Decimal("1e-20")
ORDER_NEEDS = frozenset({"orders", "inventory"})
PRODUCT_NEEDS = frozenset({"orders", "products", "product_units"})


@dataclass(frozen=True)
class Draw:
    scope: str              # "host" | "team"
    who: int                # member or team id
    window: Window
    start: datetime         # the range loaded (the window, or the window and its month as scorecards load)
    end: datetime
    now: datetime
    rules: Rules
    by_day: bool = False    # the sums read by local day in the window's zone (load_activity's `tz`)


def draw(rng: random.Random, world: World, scope: str | None = None, who: int | None = None) -> Draw:
    maturity = rng.randint(0, 20)
    pick = rng.random()
    if pick < 0.1:     # the refund maturity cut-off on an order's or a refund's time
        now = rng.choice(world.moments) + timedelta(days=maturity, microseconds=rng.choice([0, -1, 1]))
    elif pick < 0.45:
        now = rng.choice(world.moments) + timedelta(microseconds=rng.choice([0, 0, -1, 1]))
    elif pick < 0.6:
        now = moment(rng, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 20, tzinfo=UTC))
        now = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    elif pick < 0.7:
        now = rng.choice(EDGES) + timedelta(microseconds=rng.choice([0, -1, 1]))
    else:
        now = moment(rng, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 20, tzinfo=UTC))
    now = max(now, FIRST + timedelta(days=3))
    kind = rng.choice([PeriodKind.DAY, PeriodKind.WEEK, PeriodKind.MONTH])
    tz = rng.choice(ZONES)
    window = window_for(kind, now, tz)
    if rng.random() < 0.25:    # a period that is over
        back = {PeriodKind.DAY: 1, PeriodKind.WEEK: 7, PeriodKind.MONTH: 31}[kind]
        window = window_for(kind, now - timedelta(days=back), tz)
    start, end = window.start, window.end
    if rng.random() < 0.4:
        month = month_window(window.first_day.year, window.first_day.month, tz)
        start, end = min(start, month.start), max(end, month.end)
    if scope is None:
        scope = rng.choice(["host", "host", "team"])
    if who is None:
        who = rng.choice(world.hosts if scope == "host" else world.teams)
    rules = Rules(count_orders_at=rng.choice(list(CountOrdersAt)), net_refunds=rng.random() < 0.5,
                  refund_maturity_days=maturity, new_sku_hit_units=rng.randint(1, 6))
    return Draw(scope, who, window, start, end, now, rules, rng.random() < 0.5)


def load(session: Session, d: Draw, needs: frozenset[str], sums: bool) -> Activity:
    cache = FactCache(d.now, d.rules) if sums else FactCache()
    tz = d.window.tz if d.by_day else None
    if d.scope == "host":
        member = session.get(Member, d.who)
        assert member is not None
        return load_activity(session, member, d.start, d.end, needs, cache, tz=tz)
    return load_team_activity(session, d.who, d.start, d.end, needs, cache, tz=tz)


def _same(key: str, got: Decimal | None, want: Decimal | None, label: str) -> None:
    assert got == want, f"{key}: sums {got} != orders {want} ({label})"


def compare(session: Session, world: World, d: Draw, expect_sums: bool = True) -> tuple[int, int]:
    """Assert the sums give the orders' figures for draw `d`. The number of order sums and of product sums read
    (0: the orders were read: only when `expect_sums` is false)."""
    label = repr(d)
    one = load(session, d, ORDER_NEEDS, sums=False)
    summed = load(session, d, ORDER_NEEDS, sums=True)
    assert one.order_sums == ()
    if expect_sums:   # the sums were really read: no order one by one
        assert summed.orders == (), label
    else:             # a due hour in the range: the orders were read
        assert summed.order_sums == (), label
    ctx_one, ctx_sum = (Context(d.window, d.now, d.rules, world.fx) for _ in range(2))
    for key in METRICS:
        _same(key, CATALOG[key].compute(summed, ctx_sum), CATALOG[key].compute(one, ctx_one), label)
    if expect_sums and CATALOG["gmv"].compute(one, ctx_one) != 0:
        assert summed.order_sums, label
    for key in CUMULATIVE:
        got, want = cumulative_series(key, summed, ctx_sum), cumulative_series(key, one, ctx_one)
        assert len(got) == len(want)
        for day, (g, w) in enumerate(zip(got, want, strict=True)):
            _same(key, g, w, f"series day {day}, {label}")
    # sold units of new products are summed by shop, so only a team's load reads them as sums
    one_p = load(session, d, PRODUCT_NEEDS, sums=False)
    summed_p = load(session, d, PRODUCT_NEEDS, sums=True)
    if expect_sums and d.scope == "team":
        assert summed_p.orders == (), label
    for key in PRODUCT_METRICS:
        ctx_a, ctx_b = (Context(d.window, d.now, d.rules, world.fx) for _ in range(2))
        _same(key, CATALOG[key].compute(summed_p, ctx_a), CATALOG[key].compute(one_p, ctx_b), label)
    if d.scope == "host" and expect_sums:   # a team's hosts read in one query (rank, team views): the same
        cache = FactCache(d.now, d.rules)
        tz = d.window.tz if d.by_day else None
        cache.prefetch(session, world.hosts, d.start, d.end, tz)
        member = session.get(Member, d.who)
        assert member is not None
        fetched = load_activity(session, member, d.start, d.end, ORDER_NEEDS, cache, tz=tz)
        assert fetched.orders == () and sorted(map(repr, fetched.order_sums)) == sorted(map(repr, summed.order_sums))
    return len(summed.order_sums), len(summed_p.product_sums)


def _sum_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return sum_tables(conn)


def _due(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM order_sum_due")).scalar_one()


@pytest.mark.parametrize("seed", [11, 12])
def test_sums_give_the_orders_figures_for_random_members_windows_zones_nows_and_rules(engine: Engine,
                                                                                       seed: int) -> None:
    """Random draws; then an appeal's exclusion; then a rebuild gives the same rows."""
    world = build(engine, seed)
    assert _due(engine) == 0
    rng = random.Random(seed * 1000)
    read = products = 0
    with Session(engine) as session:
        for _ in range(60):
            got = compare(session, world, draw(rng, world))
            read, products = read + (got[0] > 0), products + (got[1] > 0)
    assert read >= 30 and products >= 3   # most draws read sums: the test cannot pass by reading nothing
    check_exclusion(engine, world, rng)
    # a rebuild from the orders gives exactly the rows the incremental upkeep gave
    incremental = _sum_rows(engine)
    assert incremental["order_sum"] and incremental["order_product_sum"] and incremental["order_hour_sum"]
    assert len(incremental["order_member_hour_total"]) < len(incremental["order_hour_sum"]) < \
        len(incremental["order_sum"])
    orders_read, rows = rebuild(engine)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM shop_order")).scalar_one()
    assert (orders_read, rows) == (stored, len(incremental["order_sum"]))   # each order read once
    sum_tables_agree(incremental, _sum_rows(engine))
    assert _due(engine) == 0


def test_a_cross_rate_does_not_terminate() -> None:
    """The comparison's FX products are really inexact: a GBP -> USD cross rate of the worlds has 28 digits."""
    world = World()
    from tests.order_sums_world import fx_table
    world.fx, _ = fx_table(random.Random(11))
    assert len(world.fx.rate("GBP", "USD", datetime(2026, 11, 2).date()).as_tuple().digits) == 28


def test_in_an_open_transaction_the_same_session_reads_the_changed_orders(engine: Engine) -> None:
    """Orders changed and not yet committed: the hours they touch are due, so a read through the changing
    session reads the orders (the due-hour fallback) and is exact; after the commit nothing is due and the sums
    are exact again, and the same as a rebuild from the orders."""
    world = build(engine, 21, orders=200)
    rng = random.Random(2100)
    with Session(engine) as session:
        ids = list(session.execute(select(Order.id).where(Order.paid_at >= datetime(2026, 11, 2, tzinfo=UTC),
                                                          Order.paid_at < datetime(2026, 11, 28, tzinfo=UTC))
                                   .order_by(Order.id)).scalars())
        for oid in rng.sample(ids, 4):
            session.execute(update(Order).where(Order.id == oid).values(member_id=rng.choice(world.hosts)))
        session.execute(update(Order).where(Order.id == ids[0]).values(cancelled_at=datetime(2026, 11, 29,
                                                                                                tzinfo=UTC)))
        session.add(Refund(order_id=ids[1], platform_refund_id="open", kind="refund", status="completed",
                           currency=session.execute(select(Order.currency).where(Order.id == ids[1])).scalar_one(),
                           amount_minor=777, returned_units=1, requested_at=FIRST,
                           completed_at=datetime(2026, 11, 20, 3, 7, tzinfo=UTC)))
        line = session.execute(select(OrderLine.id).where(OrderLine.order_id.in_(ids))).scalars().first()  # type: ignore[attr-defined]
        session.execute(OrderLine.__table__.delete().where(OrderLine.id == line))  # type: ignore[attr-defined]
        session.flush()
        assert session.execute(select(OrderSumDue)).first() is not None
        for _ in range(12):   # November in every zone: the changed hours are in the range
            d = draw(rng, world)
            d = Draw(d.scope, d.who, month_window(2026, 11, d.window.tz), month_window(2026, 11, d.window.tz).start,
                     month_window(2026, 11, d.window.tz).end, datetime(2026, 12, 3, 10, tzinfo=UTC), d.rules)
            compare(session, world, d, expect_sums=False)
        session.commit()
    assert _due(engine) == 0
    with Session(engine) as session:
        for _ in range(12):
            compare(session, world, draw(rng, world))
    incremental = _sum_rows(engine)
    rebuild(engine)
    sum_tables_agree(incremental, _sum_rows(engine))


def check_exclusion(engine: Engine, world: World, rng: random.Random) -> None:
    """An appeal exclusion (storage.adjustments) is taken off the member's sums exactly: by the excluded order's
    GMV, and the sums still give the orders' figures in November's windows."""
    assert world.excluded is not None
    member_id, order_id = world.excluded
    nov = month_window(2026, 11, "UTC")
    now = datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
    rules = Rules(count_orders_at=CountOrdersAt.PAID)
    with Session(engine) as session:
        d = Draw("host", member_id, nov, nov.start, nov.end, now, rules)
        compare(session, world, d)
        summed = load(session, d, ORDER_NEEDS, sums=True)
        whole = Activity(orders=_orders(session, Order.member_id == member_id, nov.start, nov.end, False, False))
        order = session.get(Order, order_id)
        assert order is not None and order.paid_at is not None
        ctx = Context(nov, now, rules, world.fx)
        assert order.merchandise_minor > 0 and order_id in {o.order_id for o in whole.orders}
        without = Activity(orders=tuple(o for o in whole.orders if o.order_id != order_id))
        # the sums are exactly the member's orders less the excluded one, and differ from all of them
        assert CATALOG["gmv"].compute(summed, ctx) == CATALOG["gmv"].compute(without, ctx) != \
            CATALOG["gmv"].compute(whole, ctx)
        compared = 0
        for _ in range(15):   # its windows in November, in any zone, any now
            d = draw(rng, world, "host", member_id)
            if d.window.first_day.month == 11 and d.window.last_day.month == 11:
                compare(session, world, d)
                compared += 1
        assert compared > 0


def test_an_order_in_the_last_half_millisecond_of_an_hour_is_summed_in_that_hour(engine: Engine) -> None:
    """SQLite rounds a time's fraction to milliseconds: its trigger once marked 15:59:59.9996 in hour 16."""
    paid = datetime(2026, 11, 5, 15, 59, 59, 999_600, tzinfo=UTC)
    with Session(engine) as session:
        shop = a_shop(session, *org_and_team(session), "USD")
        session.add(Order(shop_id=shop.id, platform_order_id="A", status="paid", currency="USD",
                          merchandise_minor=1234, units=1, created_at=paid, paid_at=paid))
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT moment_slot, gross_minor FROM order_sum WHERE basis = 'paid'")).all() \
            == [(slot_of(paid), 1234)]


def test_a_teams_pace_shape_from_the_sums_is_the_one_from_its_orders(engine: Engine) -> None:
    """scoring.shape learned from the sums by quarter-hour (by the hour in a zone of whole-hour offsets) equals the
    shape learned from the orders' counting moments, for each counting rule."""
    world = build(engine, 11, orders=200)
    with Session(engine) as session:
        for tz, team_id in ((tz, t) for tz in ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu",
                                               "Asia/Jakarta") for t in world.teams):
            for basis in CountOrdersAt:
                start, end = history_bounds(date(2026, 11, 20), tz)
                counted = team_order_counts(session, team_id, start, end, basis, tz)
                assert counted is not None and sum(n for _, n in counted) > 0
                moments = team_order_moments(session, team_id, start, end, basis is CountOrdersAt.SHIPPED)
                assert learn_shape_counted(counted, tz) == learn_shape(moments, tz)


def test_a_read_by_day_takes_whole_hours_from_the_hour_tables_and_the_rest_by_the_quarter_hour() -> None:
    """storage.order_sums._plan, worked by hand: quarter-hours 101-199 of a read grouped by day, now in quarter-hour
    182 (now's hour starts at 180), quarter-hour 150 cut by the cut-off (summed from the ledger), local days at 132
    (on the hour) and 170 (off it, a zone at +x:30). Hours 26-44 are whole in the range before now's hour; 37 holds
    150, 42 holds 170. Quarter-hours: 101-103 before hour 26, 148, 149, 151 of hour 37, 168-171 of hour 42, 180
    and 181 of now's hour; 182 on are read order by order (the quarter-hour of now) or hold no step yet."""
    plan = _plan(101, 200, 182, {150}, [132, 170])
    assert (plan.hours, plan.broken) == ((26, 45), (37, 42))
    assert plan.slots == (101, 102, 103, 148, 149, 151, 168, 169, 170, 171, 180, 181)
    assert [s for s in (103, 104, 147, 148, 152, 171, 172, 179, 180) if plan.in_hours(s)] == [104, 147, 152, 172, 179]
    assert _plan(101, 200, 182, {150}, None).hours is None            # grouped by quarter-hour: no hours
    assert _plan(101, 106, 182, set(), []).hours is None               # no whole hour in the range
