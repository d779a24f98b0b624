"""A random but seeded store for the order sums' exactness tests (tests/test_order_sums.py).

Two or three teams, each with shops in USD, GBP and IDR, hosts, and a few hundred orders over about 70 days
(22 Sep to 30 Nov 2026, across two month ends and Los Angeles' change from summer time on 1 Nov). Half the
orders come through the real sync writer, half through the ORM; then later transactions credit orders to
other members, cancel orders, add refunds, complete a requested one, delete order lines and orders, and
re-sync written orders with news. FX rates are EUR-based (as the ECB publishes them), so USD is reached
from GBP and IDR by a cross rate whose division does not terminate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from scoring.fx import FxRate, FxTable
from scoring.money import from_minor
from storage.ingest.records import (
    LineRecord,
    OrderRecord,
    OrderStatus,
    RefundKind,
    RefundRecord,
    RefundStatus,
)
from storage.ingest.writer import StoreWriter
from storage.models import (
    Appeal,
    AppealAdjustment,
    InventorySnapshot,
    Member,
    Order,
    OrderLine,
    Organisation,
    Product,
    Refund,
    Shop,
    Sku,
    Team,
)

FIRST = datetime(2026, 9, 22, tzinfo=UTC)
LAST = datetime(2026, 12, 1, tzinfo=UTC)
ZONES = ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Jakarta")
REGIONS = {"USD": "US", "GBP": "GB", "IDR": "ID"}
# moments where a rule or a window changes: month ends in UTC and in the zones, LA's DST change
EDGES = [datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC),
         datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 11, 1, 9, tzinfo=UTC),
         datetime(2026, 10, 31, 18, 30, tzinfo=UTC), datetime(2026, 10, 31, 18, 15, tzinfo=UTC),
         datetime(2026, 10, 31, 17, tzinfo=UTC), datetime(2026, 11, 30, 18, 15, tzinfo=UTC)]


@dataclass
class World:
    """Ids of what was made, and the facts the draws pick from."""

    teams: list[int] = field(default_factory=list)
    hosts: list[int] = field(default_factory=list)
    host_team: dict[int, int] = field(default_factory=dict)
    shops: list[tuple[int, int, str]] = field(default_factory=list)   # (shop id, team id, currency)
    moments: list[datetime] = field(default_factory=list)             # order, refund and cancel times
    fx: FxTable = field(default_factory=FxTable)
    excluded: tuple[int, int] | None = None                           # (member, order) an appeal took out


def moment(rng: random.Random, lo: datetime = FIRST, hi: datetime = LAST) -> datetime:
    """A random time in [lo, hi): mostly any microsecond, sometimes on a quarter-hour, a microsecond before one,
    or next to a month end or the DST change."""
    pick = rng.random()
    if pick < 0.1:
        edge = rng.choice(EDGES)
        return edge + timedelta(microseconds=rng.choice([-1, 0, 1, -60_000_000, 900_000_000]))
    at = lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))
    if pick < 0.25:
        return at.replace(minute=at.minute - at.minute % 15, second=0)
    if pick < 0.35:
        return at.replace(minute=at.minute - at.minute % 15, second=0) - timedelta(microseconds=1)
    return at + timedelta(microseconds=rng.randrange(1_000_000))


def fx_table(rng: random.Random) -> tuple[FxTable, list[FxRate]]:
    rates = []
    day = (FIRST - timedelta(days=3)).date()
    while day <= date(2027, 1, 31):
        rates += [FxRate(day, "EUR", "USD", Decimal(rng.randint(10500, 11800)) / 10000),
                  FxRate(day, "EUR", "GBP", Decimal(rng.randint(8100, 8900)) / 10000),
                  FxRate(day, "EUR", "IDR", Decimal(rng.randint(1700000, 1850000)) / 100)]
        day += timedelta(days=1)
    return FxTable(rates), rates


def _org(session: Session, rng: random.Random, world: World) -> dict[int, list[tuple[int, int, str]]]:
    """Teams, shops, hosts, products and their SKUs and stock. Returns each shop's (product, sku, sku code)."""
    org = Organisation(code="o", name="Org")
    session.add(org)
    session.flush()
    catalogue: dict[int, list[tuple[int, int, str]]] = {}
    for t in range(rng.choice([2, 3])):
        team = Team(org_id=org.id, code=f"t{t}", name=f"T{t}", timezone=rng.choice(ZONES), locale="en")
        session.add(team)
        session.flush()
        assert team.id is not None
        world.teams.append(team.id)
        for h in range(rng.randint(2, 3)):
            host = Member(org_id=org.id, team_id=team.id, code=f"h{t}{h}", name=f"h{t}{h}", role="host",
                          timezone=rng.choice(ZONES), locale="en")
            session.add(host)
            session.flush()
            assert host.id is not None
            world.hosts.append(host.id)
            world.host_team[host.id] = team.id
        for cur in rng.sample(sorted(REGIONS), rng.randint(2, 3)):
            shop = Shop(org_id=org.id, team_id=team.id, code=f"s{t}{cur}", name=f"S{t}{cur}",
                        platform="tiktok_shop", region=REGIONS[cur], currency=cur, timezone="UTC")
            session.add(shop)
            session.flush()
            assert shop.id is not None
            world.shops.append((shop.id, team.id, cur))
            catalogue[shop.id] = []
            for p in range(6):
                launched = rng.choice([None, date(2026, 9, 25), date(2026, 10, rng.randint(1, 31)),
                                       date(2026, 11, rng.randint(1, 30)), date(2026, 11, 1)])
                product = Product(shop_id=shop.id, platform_product_id=f"P{p}", name=f"Product {p}",
                                  launched_on=launched, units_received=rng.randint(3, 40))
                session.add(product)
                session.flush()
                sku = Sku(product_id=product.id, platform_sku_id=f"P{p}-S", name=f"Sku {p}", currency=cur,
                          unit_cost_minor=rng.randint(100, 900))
                session.add(sku)
                session.flush()
                assert product.id is not None and sku.id is not None
                catalogue[shop.id].append((product.id, sku.id, f"P{p}"))
                for d in range(0, 72, rng.randint(3, 9)):
                    session.add(InventorySnapshot(sku_id=sku.id, day=(FIRST + timedelta(days=d)).date(),
                                                  units_on_hand=rng.randint(0, 80)))
    return catalogue


@dataclass
class Draft:
    """One order before it is stored: minor units and times."""

    shop: int
    currency: str
    member: int | None
    merchandise: int
    lines: list[tuple[int, int, str, int]]            # (product, sku, product code, quantity)
    created: datetime
    paid: datetime | None
    shipped: datetime | None
    cancelled: datetime | None
    refunds: list[tuple[str, int, int, datetime | None]]   # (status, amount, returned units, completed at)
    sample: bool


def _draft(rng: random.Random, world: World, catalogue: dict[int, list[tuple[int, int, str]]]) -> Draft:
    shop, team, cur = rng.choice(world.shops)
    team_hosts = [h for h in world.hosts if world.host_team[h] == team]
    member = rng.choice([None, *team_hosts, *team_hosts, rng.choice(world.hosts)])
    lines = [(p, s, code, rng.randint(1, 4)) for p, s, code in rng.sample(catalogue[shop], rng.randint(0, 3))]
    units = sum(q for *_, q in lines)
    merchandise = rng.randint(0 if rng.random() < 0.05 else 1, 40_000) * (100 if cur == "IDR" else 1)
    created = moment(rng, FIRST, LAST - timedelta(hours=6))
    paid = created + timedelta(seconds=rng.choice([0, rng.randrange(4 * 3600)])) if rng.random() < 0.9 else None
    if paid is not None and rng.random() < 0.1:   # paid just before a month end, shipped after it
        paid = rng.choice(EDGES) - timedelta(seconds=rng.randrange(1, 7200), microseconds=rng.randrange(10 ** 6))
        created = paid - timedelta(minutes=5)
    shipped = None
    if paid is not None and rng.random() < 0.75:
        shipped = paid + timedelta(seconds=rng.randrange(1, 5 * 86400), microseconds=rng.randrange(10 ** 6))
    cancelled = None
    if rng.random() < 0.2:
        cancelled = rng.choice([
            created + timedelta(seconds=rng.randrange(1, 3600)),                     # before or after payment
            paid if paid is not None else created,                                    # at the counting moment
            (shipped or created) + timedelta(days=rng.randint(0, 9), seconds=rng.randrange(86400)),
        ])
    refunds = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 4])):
        status = rng.choices(["completed", "requested", "rejected"], [7, 2, 1])[0]
        amount = rng.randint(1, max(1, merchandise * 2 // 3))
        back = rng.randint(0, units + 2)
        base = paid or created
        completed = None
        if status == "completed":
            completed = rng.choice([
                base + timedelta(seconds=rng.randrange(30 * 86400)),
                base + timedelta(seconds=rng.randrange(1, 3600)),                     # before shipment
                (cancelled or base) + timedelta(seconds=rng.randrange(1, 5 * 86400)),  # after cancellation
                base + timedelta(days=rng.randint(35, 60), seconds=rng.randrange(86400)),   # late
                moment(rng),
            ])
        refunds.append((status, amount, back, completed))
    return Draft(shop, cur, member, merchandise, lines, created, paid, shipped, cancelled, refunds,
                 rng.random() < 0.05)


def _record(d: Draft, pid: str) -> OrderRecord:
    status = (OrderStatus.CANCELLED if d.cancelled else OrderStatus.SHIPPED if d.shipped else
              OrderStatus.PAID if d.paid else OrderStatus.UNPAID)
    money = from_minor(d.merchandise, d.currency)
    lines = tuple(LineRecord(f"{pid}-{i}", code, f"{code}-S", code, q, Decimal(0), Decimal(0))
                  for i, (_, _, code, q) in enumerate(d.lines))
    refunds = tuple(RefundRecord(f"{pid}-R{i}", RefundKind.RETURN_AND_REFUND if back else RefundKind.REFUND,
                                 RefundStatus(status), d.currency, from_minor(amount, d.currency),
                                 at or d.created, at, back)
                    for i, (status, amount, back, at) in enumerate(d.refunds)
                    if status != "completed" or at is not None)
    return OrderRecord(pid, status, d.currency, money, Decimal(0), money, Decimal(0), Decimal(0), money,
                       d.created, d.created, d.paid, d.shipped, None, d.cancelled, lines, refunds,
                       is_sample=d.sample)


def _orm_order(session: Session, d: Draft, pid: str) -> int:
    order = Order(shop_id=d.shop, platform_order_id=pid, status="paid", currency=d.currency,
                  subtotal_minor=d.merchandise, merchandise_minor=d.merchandise, total_minor=d.merchandise,
                  units=sum(q for *_, q in d.lines), created_at=d.created, paid_at=d.paid, shipped_at=d.shipped,
                  cancelled_at=d.cancelled, member_id=d.member, is_sample=d.sample)
    session.add(order)
    session.flush()
    assert order.id is not None
    for i, (product, sku, _, q) in enumerate(d.lines):
        session.add(OrderLine(order_id=order.id, platform_line_id=f"{pid}-{i}", product_id=product, sku_id=sku,
                              quantity=q, currency=d.currency))
    for i, (status, amount, back, at) in enumerate(d.refunds):
        session.add(Refund(order_id=order.id, platform_refund_id=f"{pid}-R{i}", kind="refund", status=status,
                           currency=d.currency, amount_minor=amount, returned_units=back,
                           requested_at=at or d.created, completed_at=at))
    return order.id


def build(engine: Engine, seed: int, orders: int = 300) -> World:
    """The store of `seed`: written, then changed in later transactions (see the module docstring)."""
    rng = random.Random(seed)
    world = World()
    world.fx, _ = fx_table(rng)
    with Session(engine) as session:
        catalogue = _org(session, rng, world)
        session.commit()
    drafts = [_draft(rng, world, catalogue) for _ in range(orders)]
    writer = StoreWriter(engine)
    synced = [(i, d) for i, d in enumerate(drafts) if i % 2 == 0]
    for shop, _, _ in world.shops:
        page = [_record(d, f"W{i}") for i, d in synced if d.shop == shop]
        if page:
            writer.write_page(shop, page)
    with Session(engine) as session:   # the sync credits nobody: crediting does, in a later transaction
        for i, d in synced:
            if d.member is not None:
                session.execute(update(Order).where(Order.shop_id == d.shop, Order.platform_order_id == f"W{i}")
                                .values(member_id=d.member))
        session.commit()
    with Session(engine) as session:
        orm_ids = [_orm_order(session, d, f"O{i}") for i, d in enumerate(drafts) if i % 2 == 1]
        session.commit()
    for d in drafts:
        world.moments += [m for m in (d.paid, d.shipped, d.cancelled) if m is not None]
        world.moments += [at for *_, at in d.refunds if at is not None]
    _change(engine, rng, world, drafts, orm_ids, writer)
    return world


def _change(engine: Engine, rng: random.Random, world: World, drafts: list[Draft], orm_ids: list[int],
            writer: StoreWriter) -> None:
    """Later transactions, each committed on its own."""
    with Session(engine) as session:
        ids = list(session.execute(select(Order.id).order_by(Order.id)).scalars())
    with Session(engine) as session:     # credit orders to another member, or to nobody
        for oid in rng.sample(ids, 25):
            session.execute(update(Order).where(Order.id == oid)
                            .values(member_id=rng.choice([None, *world.hosts])))
        session.commit()
    with Session(engine) as session:     # cancel orders
        for oid in rng.sample(ids, 12):
            at = moment(rng)
            world.moments.append(at)
            session.execute(update(Order).where(Order.id == oid).values(cancelled_at=at))
        session.commit()
    with Session(engine) as session:     # add refunds, one completed without a time
        for n, oid in enumerate(rng.sample(ids, 20)):
            cur = session.execute(select(Order.currency).where(Order.id == oid)).scalar_one()
            at = None if n == 0 else moment(rng)
            if at is not None:
                world.moments.append(at)
            session.add(Refund(order_id=oid, platform_refund_id=f"late{n}", kind="refund", status="completed",
                               currency=cur, amount_minor=rng.randint(1, 30_000), returned_units=rng.randint(0, 3),
                               requested_at=FIRST, completed_at=at))
        session.commit()
    with Session(engine) as session:     # a requested refund completes
        for rid in session.execute(select(Refund.id).where(Refund.status == "requested").limit(6)).scalars():
            at = moment(rng)
            world.moments.append(at)
            session.execute(update(Refund).where(Refund.id == rid).values(status="completed", completed_at=at))
        session.commit()
    with Session(engine) as session:     # delete order lines
        lines = list(session.execute(select(OrderLine.id).order_by(OrderLine.id)).scalars())
        session.execute(delete(OrderLine).where(OrderLine.id.in_(rng.sample(lines, 10))))  # type: ignore[attr-defined]
        session.commit()
    with Session(engine) as session:     # delete orders the ORM wrote (the sync's have visits and such)
        gone = rng.sample(orm_ids, 6)
        for table in (Refund, OrderLine):
            session.execute(delete(table).where(table.order_id.in_(gone)))  # type: ignore[attr-defined]
        session.execute(delete(Order).where(Order.id.in_(gone)))  # type: ignore[union-attr]
        session.commit()
    # the sync brings news of orders it wrote: shipped, a refund completed, a cancellation
    for i, d in [(i, d) for i, d in enumerate(drafts) if i % 2 == 0][:30:3]:
        shipped = d.shipped or (d.paid + timedelta(hours=rng.randint(1, 90)) if d.paid else None)
        news = [*d.refunds, ("completed", rng.randint(1, max(1, d.merchandise)), 1, moment(rng))]
        d2 = Draft(d.shop, d.currency, d.member, d.merchandise, d.lines, d.created, d.paid, shipped,
                   d.cancelled or (moment(rng) if rng.random() < 0.3 else None), news, d.sample)
        world.moments += [m for m in (shipped, d2.cancelled, news[-1][3]) if m is not None]
        writer.write_page(d.shop, [_record(d2, f"W{i}")._replace(updated_at=d.created + timedelta(days=90))])
    exclude(engine, world, rng)


def exclude(engine: Engine, world: World, rng: random.Random) -> None:
    """An approved appeal takes one of a host's November orders out of their numbers."""
    with Session(engine) as session:
        candidates = session.execute(
            select(Order.member_id, Order.id).where(Order.member_id.is_not(None),  # type: ignore[union-attr]
                                                    Order.paid_at >= datetime(2026, 11, 3, tzinfo=UTC),
                                                    Order.paid_at < datetime(2026, 11, 27, tzinfo=UTC),
                                                    Order.merchandise_minor > 0)
            .order_by(Order.id)).all()
        member, order = rng.choice(candidates)
        appeal = Appeal(member_id=member, metric_key="net_gmv", period="2026-11", reason="not mine",
                        status="approved")
        session.add(appeal)
        session.flush()
        session.add(AppealAdjustment(appeal_id=appeal.id, member_id=member, period="2026-11", kind="exclude_order",
                                     order_id=order, created_by_member_id=member))
        session.commit()
    world.excluded = (member, order)


# the tables storage.order_sums keeps; the hour totals' latest effect hour is compared apart (sum_tables_agree)
SUM_TABLES = ("order_sum", "order_product_sum", "order_shape_sum", "order_sum_part", "order_product_part",
              "order_hour_sum", "order_product_hour_sum", "order_member_hour_total", "order_shop_hour_total",
              "order_product_hour_total")
TOTAL_TABLES = ("order_member_hour_total", "order_shop_hour_total", "order_product_hour_total")


def sum_tables(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every sum table's rows, sorted; an hour total's with its latest effect hour last."""
    got = {}
    for table in SUM_TABLES:
        result = conn.execute(text(f"SELECT * FROM {table}"))
        names = list(result.keys())
        last = names.index("last_effect_hour") if table in TOTAL_TABLES else None
        got[table] = sorted((*r[:last], *r[last + 1:], r[last]) if last is not None else tuple(r) for r in result)
    return got


def sum_tables_agree(kept: dict[str, list[tuple[Any, ...]]], rebuilt: dict[str, list[tuple[Any, ...]]]) -> None:
    """The sums the folds kept are a rebuild's: every row equal, but an hour total's latest effect hour, which
    taking a step off leaves (it may only be later than the rebuild's)."""
    for table in SUM_TABLES:
        if table not in TOTAL_TABLES:
            assert kept[table] == rebuilt[table], \
                f"{table}: kept {len(kept[table])} rows, rebuilt {len(rebuilt[table])}; differing: " \
                f"{sorted(set(kept[table]) ^ set(rebuilt[table]))[:4]}"
            continue
        assert [r[:-1] for r in kept[table]] == [r[:-1] for r in rebuilt[table]], \
            f"{table}: differing: {sorted({r[:-1] for r in kept[table]} ^ {r[:-1] for r in rebuilt[table]})[:4]}"
        later = [(k, r) for k, r in zip(kept[table], rebuilt[table], strict=True) if k[-1] < r[-1]]
        assert not later, f"{table}: a latest effect hour the folds kept is before the steps': {later[:4]}"
