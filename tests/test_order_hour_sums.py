"""The order sums by the hour (storage.order_sums: `_plan`, `_table_sums` over the hour totals, the hour tables for
the hours with steps from now's hour on, the ledger's sums of the quarter-hours the cut-off or a range edge cuts
through, and the order-by-order tail from the start of now's hour) give exactly what the orders read one by one
give, on SQLite and PostgreSQL.

Why: tests/test_order_sums.py reads the sums through the scorecards, whose windows and `now`s seldom land where the
hour tables' edges are: an hour holding a local midnight off the hour (India, Nepal, Newfoundland, Eucla, Chatham,
Lord Howe), a cut-off or a range edge; a `now` on the hour or a microsecond off it; an old order cancelled or
refunded inside now's hour. This module is a reviewer's adversarial fuzz made a seeded test.

What: a seeded store (tests/order_sums_world.py) plus a dense cluster of orders within four hours of a pinned time
(one at Los Angeles' change from summer time): cancellations within the same quarter-hour or hour, refunds before,
inside and exactly on the hour, creators, two product lines each; a later transaction cancels, re-credits and
un-refunds some of them, so the hour tables are kept by taking off as well as adding. Then random draws of `now`
(on the hour, a microsecond after or before it, on a quarter-hour, on an order's step), zone (off the whole hour,
across DST, none, `daily`), window (whole local days, or edges to the microsecond, some between two orders of a
quarter-hour), refund cut-off (some between two orders of a quarter-hour), basis and scope
(members with excluded orders, shops, by creator, every product or chosen ones, products only) compare
read_sums(...) with read_sums(..., one_by_one=True): every figure summed per key, currency, local day, UTC day and
side of the cut-off (per quarter-hour without a zone) must be equal. The test also checks it reached what it is
for (draws that read the hour tables, that split hours at off-hour midnights, that saw an old order's step inside
now's hour, whose cut-off or range edge cut through a quarter-hour between orders), and that the hour tables and
totals kept by the folds equal a rebuild from the orders (the hour tables with no zero rows).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from scoring.order_effects import slot_of, slot_start
from scoring.rules import CountOrdersAt
from storage.models import Creator, Order, OrderLine, Organisation, Product, Refund, Sku
from storage.order_sums import HOUR_SLOTS, TICK, Read, _aligned, _midnights, _Plan, _plan, read_sums, rebuild
from tests.order_sums_world import World, build, sum_tables, sum_tables_agree

DRAWS = 80
CLUSTER = 250
ZONES = ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/Los_Angeles", "Australia/Lord_Howe", "America/St_Johns",
         "Asia/Jakarta", "Australia/Eucla", "America/Santiago", "Pacific/Chatham")
_ORDER_VALUES = ("gross_minor", "orders", "value_minor", "refunded_minor", "units", "returned_units")
HOUR_TABLES = {"order_hour_sum": _ORDER_VALUES,
               "order_product_hour_sum": ("units", "orders", "amount_minor", "refunded_minor")}
# (seed, the cluster's centre): a plain Tuesday evening, and Los Angeles' change from summer time (09:00 UTC)
CASES = [(1, datetime(2026, 11, 10, 18, tzinfo=UTC)), (2, datetime(2026, 11, 1, 8, 30, tzinfo=UTC))]


@dataclass
class Store:
    """What the draws pick from: the world, the cluster's centre, creators, products, every step's time."""

    world: World
    centre: datetime
    creators: list[int]
    products: list[int]
    moments: list[datetime] = field(default_factory=list)
    # (order id, shop, member, paid, shipped, cancelled, completed refund times)
    orders: list[tuple[int, int, int | None, datetime | None, datetime | None, datetime | None, list[datetime]]] = \
        field(default_factory=list)


@dataclass(frozen=True)
class Draw:
    n: int
    basis: CountOrdersAt
    start: datetime
    end: datetime
    now: datetime
    cutoff: datetime | None
    tz: str | None
    daily: bool
    kw: dict[str, Any]


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def write_cluster(engine: Engine, world: World, rng: random.Random, centre: datetime) -> Store:
    """CLUSTER orders within four hours of `centre`, then a transaction that changes some of them."""
    with Session(engine) as s:
        org = s.execute(select(Organisation.id).order_by(Organisation.id)).scalars().first()
        assert org is not None
        creators = []
        for i in range(3):
            c = Creator(org_id=org, handle=f"c{i}", platform="tiktok_shop")
            s.add(c)
            s.flush()
            assert c.id is not None
            creators.append(c.id)
        catalogue: dict[int, list[tuple[int, int]]] = {}
        for pid, shop, sku in s.execute(select(Product.id, Product.shop_id, Sku.id)
                                        .join(Sku, Sku.product_id == Product.id).order_by(Sku.id)).all():
            catalogue.setdefault(shop, []).append((pid, sku))
        cluster = []
        for i in range(CLUSTER):
            shop, _, cur = rng.choice(world.shops)
            paid = centre + timedelta(seconds=rng.randrange(-4 * 3600, 4 * 3600), microseconds=rng.randrange(10**6))
            if rng.random() < 0.3:    # on a quarter-hour, or a microsecond after one
                paid = paid.replace(minute=rng.choice([0, 15, 30, 45]), second=0, microsecond=rng.choice([0, 0, 1]))
            shipped = paid + timedelta(seconds=rng.randrange(1, 3 * 3600)) if rng.random() < 0.7 else None
            cancelled = None
            if rng.random() < 0.35:   # within the quarter-hour, the hour, or hours later
                cancelled = paid + timedelta(seconds=rng.choice([rng.randrange(1, 900), rng.randrange(1, 3600),
                                                                 rng.randrange(1, 4 * 3600)]))
            m = rng.randint(1, 40000)
            o = Order(shop_id=shop, platform_order_id=f"X{i}", status="paid", currency=cur, subtotal_minor=m,
                      merchandise_minor=m, total_minor=m, units=3, created_at=paid - timedelta(minutes=1),
                      paid_at=paid, shipped_at=shipped, cancelled_at=cancelled,
                      member_id=rng.choice([None, *world.hosts]), creator_id=rng.choice([None, *creators]))
            s.add(o)
            s.flush()
            assert o.id is not None
            cluster.append(o.id)
            for j, (p, sku) in enumerate(rng.sample(catalogue[shop], 2)):
                s.add(OrderLine(order_id=o.id, platform_line_id=f"X{i}-{j}", product_id=p, sku_id=sku,
                                quantity=1 + j, amount_minor=m // 3 * (j + 1), currency=cur))
            for j in range(rng.choice([0, 1, 2])):   # before payment, within the hour, hours later; or on the hour
                at = paid + timedelta(seconds=rng.choice([rng.randrange(-1800, 900), rng.randrange(1, 3600),
                                                          rng.randrange(1, 5 * 3600)]))
                if rng.random() < 0.2:
                    at = at.replace(minute=0, second=0, microsecond=0)
                s.add(Refund(order_id=o.id, platform_refund_id=f"X{i}-R{j}", kind="refund", status="completed",
                             currency=cur, amount_minor=rng.randint(1, m), returned_units=rng.randint(0, 2),
                             requested_at=paid, completed_at=at))
        ids = list(s.execute(select(Order.id).order_by(Order.id)).scalars())
        for oid in rng.sample(ids, 80):          # creators on world orders too
            s.execute(update(Order).where(Order.id == oid).values(creator_id=rng.choice(creators)))
        s.commit()
    with Session(engine) as s:                   # news: the folds take off what the ledger says, then add
        for oid in rng.sample(cluster, 25):
            paid_at = _utc(s.execute(select(Order.paid_at).where(Order.id == oid)).scalar_one())
            assert paid_at is not None
            s.execute(update(Order).where(Order.id == oid).values(
                cancelled_at=paid_at + timedelta(seconds=rng.choice([rng.randrange(1, 900), rng.randrange(1, 3600)]))))
        for oid in rng.sample(cluster, 15):
            s.execute(update(Order).where(Order.id == oid).values(member_id=rng.choice([None, *world.hosts])))
        refunds = list(s.execute(select(Refund.id).where(Refund.order_id.in_(cluster)).order_by(Refund.id)).scalars())
        s.execute(delete(Refund).where(Refund.id.in_(rng.sample(refunds, min(10, len(refunds))))))
        s.commit()
    store = Store(world, centre, creators,
                  list(Session(engine).execute(select(Product.id).order_by(Product.id)).scalars()))
    with Session(engine) as s:
        refunded: dict[int, list[datetime]] = {}
        for oid, at in s.execute(select(Refund.order_id, Refund.completed_at)
                                 .where(Refund.status == "completed").order_by(Refund.id)):
            if at is not None:
                refunded.setdefault(oid, []).append(_utc(at))   # type: ignore[arg-type]
        for oid, shop, member, paid, shipped, cancelled in s.execute(
                select(Order.id, Order.shop_id, Order.member_id, Order.paid_at, Order.shipped_at, Order.cancelled_at)
                .order_by(Order.id)):
            times = (_utc(paid), _utc(shipped), _utc(cancelled))
            store.orders.append((oid, shop, member, *times, refunded.get(oid, [])))
            store.moments += [t for t in times if t is not None]
        store.moments += [t for ts in refunded.values() for t in ts]
    store.moments.sort()
    return store


def draw(rng: random.Random, store: Store, n: int) -> Draw:
    """One adversarial read (the reviewer's distribution)."""
    base = rng.choice(store.moments) if rng.random() < 0.7 else \
        store.centre + timedelta(seconds=rng.randrange(-5 * 3600, 5 * 3600))
    hour = base.replace(minute=0, second=0, microsecond=0)
    kind = rng.random()
    now = (hour if kind < 0.2 else hour + timedelta(microseconds=rng.choice([1, 2, 999])) if kind < 0.3 else
           hour - timedelta(microseconds=1) if kind < 0.4 else hour + timedelta(hours=1) if kind < 0.5 else
           base.replace(minute=base.minute - base.minute % 15, second=0, microsecond=0) -
           timedelta(microseconds=rng.choice([0, 1])) if kind < 0.6 else
           base + timedelta(microseconds=rng.choice([0, 0, 1, -1])))
    tz = rng.choice([*ZONES, None, None])
    daily = tz is None and rng.random() < 0.4
    zone = ZoneInfo(tz or "UTC")
    if rng.random() < 0.5:   # whole local days
        d0 = (now.astimezone(zone) - timedelta(days=rng.randint(0, 3))).date()
        start = datetime.combine(d0, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(d0 + timedelta(days=rng.randint(1, 4)), datetime.min.time(), zone).astimezone(UTC)
    else:                    # edges to the microsecond, some on a quarter-hour
        start = now - timedelta(seconds=rng.randrange(0, 3 * 86400), microseconds=rng.randrange(10**6))
        end = start + timedelta(seconds=rng.randrange(1, 4 * 86400), microseconds=rng.choice([0, rng.randrange(10**6)]))
        if rng.random() < 0.3:
            start = start.replace(minute=rng.choice([0, 15, 30, 45]), second=0, microsecond=0)
        if rng.random() < 0.3:
            end = end.replace(minute=rng.choice([0, 15, 30, 45]), second=0, microsecond=0)
        if end <= start:
            end = start + timedelta(hours=5)
    r = rng.random()
    cutoff = (None if r < 0.25 else now if r < 0.35 else now - timedelta(days=rng.randint(0, 3)) if r < 0.6 else
              start + (end - start) * rng.random())
    if rng.random() < 0.15:    # the last microsecond of the quarter-hour before a step: no order read there
        cutoff = slot_start(slot_of(rng.choice(store.moments))) - TICK
    elif cutoff is not None and rng.random() < 0.3:
        cutoff = cutoff.replace(minute=rng.choice([0, 15, 30]), second=0, microsecond=0) + \
            timedelta(microseconds=rng.choice([0, 1, -1]))
    basis = rng.choice(list(CountOrdersAt))
    scope = rng.choice(["member", "shop", "creator", "products"])
    world = store.world
    kw: dict[str, Any] = {}
    if scope == "member":
        kw["members"] = rng.sample(world.hosts, rng.randint(1, len(world.hosts)))
        excluded = {}
        for m in kw["members"]:
            theirs = [o[0] for o in store.orders if o[2] == m]
            if theirs and rng.random() < 0.5:
                excluded[m] = frozenset(rng.sample(theirs, min(3, len(theirs))))
        kw["excluded"] = excluded
    else:
        kw["shops"] = [shop for shop, _, _ in rng.sample(world.shops, rng.randint(1, len(world.shops)))]
        if scope == "creator":
            kw["by_creator"] = True
        if scope in ("products", "creator") or rng.random() < 0.5:
            if rng.random() < 0.5:
                kw["every_product"] = True
            else:
                kw["products"] = rng.sample(store.products, 8)
        if rng.random() < 0.2:
            kw["orders"] = False
    # the cut-off or a range edge between two orders of the scope in one quarter-hour before now's: that
    # quarter-hour's sums must come apart there (read_sums sums it from the ledger by the orders' moments)
    pairs = [(a, b) for a, b in pairwise(sorted(counted_moments(store, basis, kw, now))) if slot_of(a) == slot_of(b)]
    r = rng.random()
    if pairs and r < 0.45:
        a, b = rng.choice(pairs)
        if r < 0.15 and cutoff is not None:
            cutoff = rng.choice([a, a + (b - a) / 2, b - TICK])
            start, end = min(start, a), max(end, b + TICK)
        elif r < 0.3:
            start, end = min(start, a), rng.choice([b, a + (b - a) / 2])
        else:
            start, end = rng.choice([b, a + (b - a) / 2]), max(end, b + TICK)
    elif pairs and r < 0.55 and cutoff is not None:   # the cut-off and the range's start in one quarter-hour
        a, b = rng.choice(pairs)
        start, cutoff, end = a, a + (b - a) / 2, max(end, b + TICK)
    return Draw(n, basis, start, end, now, cutoff, tz, daily, kw)


def counted_moments(store: Store, basis: CountOrdersAt, kw: dict[str, Any], now: datetime) -> list[datetime]:
    """The moments the orders of a draw's scope (`kw`) count at by `basis`, in quarter-hours before now's."""
    members, shops = set(kw.get("members", ())), set(kw.get("shops", ()))
    return [t for _, shop, member, paid, shipped, _, _ in store.orders
            if (member in members if members else shop in shops)
            and (t := paid if basis is CountOrdersAt.PAID else shipped) is not None
            and slot_of(t) < slot_of(now + TICK)]


def plan_of(d: Draw) -> _Plan:
    """The plan read_sums makes for `d` (as it makes it)."""
    now_slot = slot_of(d.now + TICK)
    raw = ({slot_of(d.cutoff)} if d.cutoff is not None and not _aligned(d.cutoff + TICK) else set()) | \
        ({slot_of(d.start)} if not _aligned(d.start) else set()) | ({slot_of(d.end)} if not _aligned(d.end) else set())
    lo = slot_of(d.start) + (0 if _aligned(d.start) else 1)
    midnights = None if d.tz is None and not d.daily else \
        [*([] if d.daily else _midnights(d.start, d.end, d.tz or "UTC")),
         *([slot_of(d.cutoff + TICK)] if d.cutoff is not None else [])]
    return _plan(lo, slot_of(d.end), now_slot - now_slot % HOUR_SLOTS, raw, midnights)


def bucketer(d: Draw) -> Callable[[datetime], Hashable]:
    """What a figure is compared by besides key and currency: the grouping read_sums promises for `d`."""
    side: Callable[[datetime], bool | None] = (lambda m: None) if d.cutoff is None else (lambda m: m <= d.cutoff)
    if d.daily:
        return lambda m: m.astimezone(UTC).date()
    if d.tz is None:    # by quarter-hour
        return lambda m: (slot_of(m), side(m))
    midnights = _midnights(d.start, d.end, d.tz)

    def bucket(m: datetime) -> Hashable:
        slot = slot_of(m)
        return next((i for i, x in enumerate(midnights) if slot < x), len(midnights)), m.astimezone(UTC).date(), side(m)
    return bucket


Figures = dict[tuple[Any, ...], tuple[int | Any, ...]]


def figures(read: dict[int, Read], bucket: Callable[[datetime], Hashable]) -> tuple[Figures, Figures]:
    """The orders' and the products' figures summed per key (and product), currency and bucket; no zero sums."""
    orders: dict[tuple[Any, ...], list[Any]] = {}
    products: dict[tuple[Any, ...], list[Any]] = {}
    for key, got in read.items():
        for o in got.orders:
            acc = orders.setdefault((key, o.currency, bucket(o.moment)), [0] * 6)
            for i, v in enumerate((o.gross, o.orders, o.value, o.refunded, o.units, o.returned_units)):
                acc[i] += v
        for p in got.products:
            acc = products.setdefault((key, p.product_id, p.currency, bucket(p.moment)), [0] * 4)
            for i, v in enumerate((p.units, p.orders, p.amount, p.refunded)):
                acc[i] += v
    return ({k: tuple(v) for k, v in orders.items() if any(v)}, {k: tuple(v) for k, v in products.items() if any(v)})


def totals_read(conn: Connection, d: Draw, plan: _Plan) -> tuple[bool, bool]:
    """Whether `d`'s read takes an hour total whole (its latest step before now's hour), and whether it reads an
    hour of one from the hour table (a step of it from now's hour on)."""
    if plan.hours is None or plan.hours[1] - plan.hours[0] <= len(plan.broken):
        return False, False
    table, owner = ("order_member_hour_total", "member_id") if "members" in d.kw else \
        ("order_shop_hour_total", "shop_id")
    owners = ", ".join(str(int(o)) for o in d.kw.get("members") or d.kw["shops"])
    now_hour = plan.now_slot // HOUR_SLOTS
    whole, recent = conn.execute(text(
        f"SELECT count(CASE WHEN last_effect_hour < {now_hour} THEN 1 END), "
        f"count(CASE WHEN last_effect_hour >= {now_hour} THEN 1 END) "
        f"FROM {table} WHERE {owner} IN ({owners}) AND basis = '{d.basis.value}' AND moment_hour >= "
        f"{plan.hours[0]} AND moment_hour < {plan.hours[1]}")).one()
    return bool(whole), bool(recent)


def splits_between_orders(store: Store, d: Draw) -> tuple[bool, bool, bool]:
    """Whether the cut-off splits a quarter-hour before now's between orders of `d`'s scope counted in its range,
    whether a range edge off the quarter-hour splits one between orders it takes and orders it leaves out, and
    whether the cut-off splits the quarter-hour of such an edge."""
    moments = counted_moments(store, d.basis, d.kw, d.now)

    def apart(at: datetime, inclusive: bool, in_range: bool) -> bool:
        """Orders of the quarter-hour of `at` on both sides of it (at it: before, with `inclusive`)."""
        return len({t < at or (inclusive and t == at) for t in moments
                    if slot_of(t) == slot_of(at) and (not in_range or d.start <= t < d.end)}) == 2

    cut = d.cutoff is not None and apart(d.cutoff, inclusive=True, in_range=True)
    edges = [at for at in (d.start, d.end) if not _aligned(at)]
    edge = any(apart(at, inclusive=False, in_range=False) for at in edges)
    both = cut and d.cutoff is not None and any(slot_of(at) == slot_of(d.cutoff) for at in edges)
    return cut, edge, both


def old_step_in_nows_hour(store: Store, d: Draw) -> bool:
    """Whether an order of `d`'s scope counted in the range before now's hour took a step (cancelled, refunded)
    inside now's hour, up to `now`: the tail read order by order must add just that step."""
    until = slot_of(d.now + TICK)   # a now ending an hour has no step inside its own
    hour = slot_start(until - until % HOUR_SLOTS)
    members, shops = set(d.kw.get("members", ())), set(d.kw.get("shops", ()))
    for _, shop, member, paid, shipped, cancelled, refunds in store.orders:
        counted = paid if d.basis is CountOrdersAt.PAID else shipped
        if counted is None or not (d.start <= counted < min(d.end, hour)):
            continue
        in_scope = member in members if members else shop in shops
        if in_scope and any(t is not None and hour <= t <= d.now for t in (cancelled, *refunds)):
            return True
    return False


@pytest.mark.parametrize(("seed", "centre"), CASES, ids=[f"seed{s}" for s, _ in CASES])
def test_hour_sums_give_the_orders_figures_for_adversarial_nows_zones_and_windows(engine: Engine, seed: int,
                                                                                  centre: datetime) -> None:
    world = build(engine, seed, orders=200)
    rng = random.Random(seed)
    store = write_cluster(engine, world, rng, centre)
    with engine.connect() as conn:
        kept = sum_tables(conn)
        zero = {t: conn.execute(text(f"SELECT count(*) FROM {t} WHERE {' AND '.join(f'{v} = 0' for v in values)}"))
                .scalar_one() for t, values in HOUR_TABLES.items()}
    backend = engine.dialect.name
    hours = split = tail = compared = ends = whole = recent = cut = edge = both = 0
    mismatches: list[str] = []
    for n in range(DRAWS):
        d = draw(rng, store, n)
        plan = plan_of(d)
        if plan.hours is not None and plan.hours[1] - plan.hours[0] > len(plan.broken):
            hours += 1
            split += any(m % HOUR_SLOTS and plan.hours[0] <= m // HOUR_SLOTS < plan.hours[1]
                         for m in _midnights(d.start, d.end, d.tz or "UTC")) if d.tz else 0
        tail += old_step_in_nows_hour(store, d)
        cut_here, edge_here, both_here = splits_between_orders(store, d)
        cut, edge, both = cut + cut_here, edge + edge_here, both + both_here
        # `now` or the cut-off the last microsecond of a quarter-hour: read whole from the tables
        ends += _aligned(d.now + TICK) or (d.cutoff is not None and _aligned(d.cutoff + TICK))
        args = (d.basis, d.start, d.end, d.now, d.cutoff)
        with engine.connect() as conn:
            read_whole, read_recent = totals_read(conn, d, plan)
            whole, recent = whole + read_whole, recent + read_recent
            summed = read_sums(conn, *args, tz=d.tz, daily=d.daily, **d.kw)
            one = read_sums(conn, *args, tz=d.tz, daily=d.daily, one_by_one=True, **d.kw)
        assert summed is not None and one is not None, f"draw {n}: an order is due"
        bucket = bucketer(d)
        got, want = figures(summed, bucket), figures(one, bucket)
        compared += bool(want[0] or want[1])
        if got != want:
            diff = [f"  {part} {k}: sums {g.get(k)} orders {w.get(k)}"
                    for part, g, w in zip(("orders", "products"), got, want, strict=True)
                    for k in sorted(set(g) | set(w), key=repr) if g.get(k) != w.get(k)]
            mismatches.append(f"{backend} seed {seed} draw {n}: basis={d.basis.value} start={d.start.isoformat()} "
                              f"end={d.end.isoformat()} now={d.now.isoformat()} cutoff="
                              f"{d.cutoff and d.cutoff.isoformat()} tz={d.tz} daily={d.daily} {d.kw} "
                              f"plan={plan}\n" + "\n".join(diff[:6]))
    assert not mismatches, f"{len(mismatches)} of {DRAWS} draws differ:\n" + "\n".join(mismatches[:4])
    # the draws reached what this test is for: it cannot pass by reading nothing from the hour tables
    assert compared >= DRAWS // 2, f"only {compared} draws had figures"
    assert hours >= DRAWS // 2, f"only {hours} draws read whole hours from the hour tables"
    assert split >= 8, f"only {split} draws split an hour at a local midnight off the hour"
    assert tail >= 8, f"only {tail} draws saw an old order's step inside now's hour"
    assert cut >= 8 and edge >= 8 and both >= 8, \
        f"a cut-off split a quarter-hour between orders in {cut} draws, an edge in {edge}, both one in {both}"
    assert ends >= 8, f"only {ends} draws had a now or a cut-off ending a quarter-hour"
    assert whole >= DRAWS // 3 and recent >= 8, f"totals read whole in {whole} draws, by the hour table in {recent}"
    # the hour tables the folds kept (adding and taking off) are exactly a rebuild's, with no zero rows
    for table in HOUR_TABLES:
        assert kept[table] and not zero[table], f"{table}: {len(kept[table])} rows, {zero[table]} of them zero"
    rebuild(engine)
    with engine.connect() as conn:
        rebuilt = sum_tables(conn)
    sum_tables_agree(kept, rebuilt)
