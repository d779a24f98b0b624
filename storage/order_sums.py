"""The orders' figures summed by quarter-hour, kept by the store in the transaction that changes the orders.

Why: a score reads a member's (or a team's) orders of a period as of `now`. Read order by order that costs as
many rows as orders: 12 s for a team at a million orders. The sums (table order_sum, scoring.order_effects)
hold each shop's orders' steps by counting quarter-hour, member, creator, currency and the quarter-hour each step
took effect, so a score reads at most one row per member, quarter-hour and step time, whatever the number of orders.
Table order_product_sum holds their products' steps (units, kept orders, line amounts and floored refund shares)
the same way, by product and currency: the digest's leaders (storage.leaders) read both.

How they stay exact:
- Triggers on shop_order, refund and order_line (installed by migration 0032; `install`) write the (shop, hour)
  of every counting moment a change touches, before and after, into order_sum_due, in the changing statement.
- Before any transaction on an engine from storage.engine.make_engine commits, `fold_due` rebuilds the sums of
  those hours from the orders themselves and clears them (a `commit` listener: `keep_current`). So every writer
  (the sync, imports, crediting, appeals, the demo, a console) keeps them without knowing. On PostgreSQL the due
  row also serialises two transactions that change the same hour: the second waits for the first's commit and
  then rebuilds with its changes in view.
- A reader that still finds a due hour in its range (a store written by something that bypassed the engine)
  reads those orders one by one, as it does the quarter-hour of `now` and the quarter-hour of the refund
  maturity cut-off, where a step's exact time decides (`read_sums`).
- `kpibot db rebuild-aggregates` (`rebuild`) recomputes every sum from the orders.

SQLite recreates a table for most ALTERs (Alembic's batch mode), which drops its triggers: a later migration that
alters shop_order, refund or order_line in batch mode must `install` them again.
"""

from __future__ import annotations

import logging
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    delete,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    union,
)
from sqlalchemy import literal as sa_literal
from sqlalchemy.engine import Connection, Engine

from scoring.facts import LineFact, OrderFact, OrderSum, ProductSum
from scoring.money import from_minor
from scoring.order_effects import (
    SLOT_SECONDS,
    order_steps,
    product_steps,
    products_by_now,
    slot_of,
    slot_start,
    sums_by_now,
)
from scoring.rules import CountOrdersAt
from storage.models import Order, OrderLine, OrderProductSumRow, OrderSumDue, OrderSumRow, Refund
from storage.types import table_of

log = logging.getLogger(__name__)

SUM, PRODUCT_SUM, DUE = table_of(OrderSumRow), table_of(OrderProductSumRow), table_of(OrderSumDue)
ORDER, REFUND, LINE = table_of(Order), table_of(Refund), table_of(OrderLine)
HOUR_SLOTS = 3600 // SLOT_SECONDS
DAY_SLOTS = 24 * HOUR_SLOTS
BASES = (CountOrdersAt.PAID, CountOrdersAt.SHIPPED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IN_CHUNK = 2000
HOURS_PER_READ = 24 * 7       # hours of one shop rebuilt per read of its orders


def hour_of(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds()) // 3600


def hour_start(hour: int) -> datetime:
    return _EPOCH + timedelta(hours=hour)


# --- triggers -------------------------------------------------------------------------------------------------

# the columns of shop_order the sums read: an update of any other (attribution, status text) changes no sum
ORDER_SUM_COLUMNS = ("shop_id", "currency", "merchandise_minor", "units", "paid_at", "shipped_at", "cancelled_at",
                     "member_id", "creator_id", "is_sample")
# the text cut to whole seconds: SQLite rounds a time's fraction to milliseconds, so strftime of 15:59:59.9996
# gives 16:00:00, and the hour the order lies in would never be marked
_SQLITE_HOUR = "CAST(strftime('%s', substr({t}, 1, 19)) AS INTEGER) / 3600"


def _sqlite_mark(rows: str) -> str:
    """Mark the (shop, hour) pairs `rows` selects (columns s, h), skipping those marked already."""
    return (f"INSERT INTO order_sum_due (shop_id, hour) SELECT DISTINCT s, h FROM ({rows}) "
            f"WHERE h IS NOT NULL AND NOT EXISTS (SELECT 1 FROM order_sum_due d WHERE d.shop_id = s AND d.hour = h);")


def _sqlite_order_rows(alias: str) -> str:
    return " UNION ".join(f"SELECT {alias}.shop_id AS s, {_SQLITE_HOUR.format(t=f'{alias}.{c}')} AS h"
                          for c in ("paid_at", "shipped_at"))


def _sqlite_child_rows(alias: str) -> str:
    return " UNION ".join(f"SELECT o.shop_id AS s, {_SQLITE_HOUR.format(t=f'o.{c}')} AS h FROM shop_order o "
                          f"WHERE o.id = {alias}.order_id" for c in ("paid_at", "shipped_at"))


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ORDER_SUM_COLUMNS)
    out = [
        f"CREATE TRIGGER order_sum_order_insert AFTER INSERT ON shop_order BEGIN "
        f"{_sqlite_mark(_sqlite_order_rows('NEW'))} END",
        f"CREATE TRIGGER order_sum_order_update AFTER UPDATE ON shop_order WHEN {changed} BEGIN "
        f"{_sqlite_mark(_sqlite_order_rows('NEW'))} {_sqlite_mark(_sqlite_order_rows('OLD'))} END",
        f"CREATE TRIGGER order_sum_order_delete AFTER DELETE ON shop_order BEGIN "
        f"{_sqlite_mark(_sqlite_order_rows('OLD'))} END",
    ]
    for table in ("refund", "order_line"):
        out += [
            f"CREATE TRIGGER order_sum_{table}_insert AFTER INSERT ON {table} BEGIN "
            f"{_sqlite_mark(_sqlite_child_rows('NEW'))} END",
            f"CREATE TRIGGER order_sum_{table}_update AFTER UPDATE ON {table} BEGIN "
            f"{_sqlite_mark(_sqlite_child_rows('NEW'))} {_sqlite_mark(_sqlite_child_rows('OLD'))} END",
            f"CREATE TRIGGER order_sum_{table}_delete AFTER DELETE ON {table} BEGIN "
            f"{_sqlite_mark(_sqlite_child_rows('OLD'))} END",
        ]
    return out


_SQLITE_NAMES = [f"order_sum_{t}_{e}" for t in ("order", "refund", "order_line")
                 for e in ("insert", "update", "delete")]

# PostgreSQL: statement-level triggers with transition tables, so a sync's multi-row statement marks its hours in
# one INSERT .. SELECT DISTINCT rather than one call per row
_PG_HOUR = "floor(extract(epoch FROM t) / 3600)::bigint"


def _pg_order_rows(table: str) -> str:
    return (f"SELECT DISTINCT r.shop_id, {_PG_HOUR} FROM {table} r, unnest(ARRAY[r.paid_at, r.shipped_at]) AS t "
            f"WHERE t IS NOT NULL")


def _pg_child_rows(table: str) -> str:
    return (f"SELECT DISTINCT o.shop_id, {_PG_HOUR} FROM (SELECT DISTINCT order_id FROM {table}) r "
            f"JOIN shop_order o ON o.id = r.order_id, unnest(ARRAY[o.paid_at, o.shipped_at]) AS t "
            f"WHERE t IS NOT NULL")


def _pg_function(name: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            f"RETURN NULL; END $$")


def _pg_mark(rows: str) -> str:
    return f"INSERT INTO order_sum_due (shop_id, hour) {rows} ON CONFLICT DO NOTHING;"


def _pg_triggers() -> list[str]:
    changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in ORDER_SUM_COLUMNS)
    pairs = (f"SELECT n.shop_id AS ns, n.paid_at AS np, n.shipped_at AS nsh, o.shop_id AS os, o.paid_at AS op, "
             f"o.shipped_at AS osh FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed}")
    order_update = _pg_mark(
        f"SELECT DISTINCT s, {_PG_HOUR} FROM ({pairs}) c, LATERAL (VALUES (c.ns, c.np), (c.ns, c.nsh), (c.os, c.op), "
        f"(c.os, c.osh)) AS v(s, t) WHERE t IS NOT NULL")
    out = [
        _pg_function("order_sum_order_new", _pg_mark(_pg_order_rows("new_rows"))),
        _pg_function("order_sum_order_old", _pg_mark(_pg_order_rows("old_rows"))),
        _pg_function("order_sum_order_changed", order_update),
        _pg_function("order_sum_child_new", _pg_mark(_pg_child_rows("new_rows"))),
        _pg_function("order_sum_child_old", _pg_mark(_pg_child_rows("old_rows"))),
        _pg_function("order_sum_child_changed", _pg_mark(_pg_child_rows("new_rows")) + " "
                     + _pg_mark(_pg_child_rows("old_rows"))),
        "CREATE TRIGGER order_sum_order_insert AFTER INSERT ON shop_order REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION order_sum_order_new()",
        "CREATE TRIGGER order_sum_order_update AFTER UPDATE ON shop_order REFERENCING NEW TABLE AS new_rows "
        "OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION order_sum_order_changed()",
        "CREATE TRIGGER order_sum_order_delete AFTER DELETE ON shop_order REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION order_sum_order_old()",
    ]
    for table in ("refund", "order_line"):
        out += [
            f"CREATE TRIGGER order_sum_{table}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION order_sum_child_new()",
            f"CREATE TRIGGER order_sum_{table}_update AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows "
            f"OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION order_sum_child_changed()",
            f"CREATE TRIGGER order_sum_{table}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION order_sum_child_old()",
        ]
    return out


def install(conn: Connection) -> None:
    """Create the triggers that mark changed hours (in `conn`'s transaction)."""
    for statement in _pg_triggers() if conn.dialect.name == "postgresql" else _sqlite_triggers():
        conn.execute(text(statement))


def uninstall(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for table, name in [("shop_order", "order"), ("refund", "refund"), ("order_line", "order_line")]:
            for event_ in ("insert", "update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS order_sum_{name}_{event_} ON {table}"))
        for fn in ("order_new", "order_old", "order_changed", "child_new", "child_old", "child_changed"):
            conn.execute(text(f"DROP FUNCTION IF EXISTS order_sum_{fn}()"))
    else:
        for name in _SQLITE_NAMES:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


# --- rebuilding -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order as the sums read it: its fact, its merchandise and completed refunds in minor units."""

    fact: OrderFact
    shop_id: int
    member_id: int
    merchandise: int
    refunds: list[tuple[datetime | None, int, int]]
    is_sample: bool
    creator_id: int = 0    # the creator it is attributed to (0: none)


def _spans(hours: Iterable[int], max_gap: int = 1) -> Iterator[tuple[int, int]]:
    """The hours as spans [first, last + 1) at most HOURS_PER_READ long, joining hours at most `max_gap` apart:
    a span is read and rebuilt whole (the hours between its due ones too)."""
    start = prev = None
    for h in sorted(hours):
        if start is None:
            start = prev = h
        elif h - prev <= max_gap and h - start < HOURS_PER_READ:
            prev = h
        else:
            assert prev is not None
            yield start, prev + 1
            start = prev = h
    if start is not None:
        assert prev is not None
        yield start, prev + 1


def _raw_time(conn: Connection, column: Any) -> Any:
    """A time column as the driver gives it: SQLite's text, parsed by `_time_reader` (SQLAlchemy's own parsing of
    SQLite times in Python is most of a rebuild's reading)."""
    return type_coerce(column, String) if conn.dialect.name == "sqlite" else column


def _time_reader(conn: Connection) -> Any:
    if conn.dialect.name == "sqlite":
        return lambda t: None if t is None else datetime.fromisoformat(t).replace(tzinfo=UTC)
    return lambda t: None if t is None else t.replace(tzinfo=UTC)


def stored_orders(conn: Connection, where: Any, lines: bool = True) -> list[StoredOrder]:
    """The orders `where` selects, with their completed refunds and (with `lines`) product lines."""
    when = _time_reader(conn)
    rows = [(*r[:6], *(when(t) for t in r[6:10]), *r[10:]) for r in conn.execute(select(
        ORDER.c.id, ORDER.c.shop_id, ORDER.c.member_id, ORDER.c.currency, ORDER.c.merchandise_minor, ORDER.c.units,
        *(_raw_time(conn, c) for c in (ORDER.c.created_at, ORDER.c.paid_at, ORDER.c.shipped_at,
                                       ORDER.c.cancelled_at)),
        ORDER.c.is_sample, ORDER.c.creator_id,
    ).where(where))]
    refunds: dict[int, list[tuple[datetime | None, int, int]]] = defaultdict(list)
    products: dict[int, list[LineFact]] = defaultdict(list)
    ids = [r[0] for r in rows]
    for i in range(0, len(ids), IN_CHUNK):
        chunk = ids[i:i + IN_CHUNK]
        for oid, amount, back, at in conn.execute(
                select(REFUND.c.order_id, REFUND.c.amount_minor, REFUND.c.returned_units,
                       _raw_time(conn, REFUND.c.completed_at))
                .where(REFUND.c.order_id.in_(chunk), REFUND.c.status == "completed")):
            refunds[oid].append((when(at), amount, back))
        if lines:
            for oid, pid, qty, amount in conn.execute(
                    select(LINE.c.order_id, LINE.c.product_id, LINE.c.quantity, LINE.c.amount_minor)
                    .where(LINE.c.order_id.in_(chunk), LINE.c.product_id.is_not(None))):
                products[oid].append(LineFact(pid, qty, amount_minor=amount))
    return [StoredOrder(OrderFact(oid, cur, from_minor(merch, cur), units, created, paid, shipped, cancelled,
                                  lines=tuple(products.get(oid, ()))),
                        shop, member or 0, merch, refunds.get(oid, []), sample, creator or 0)
            for oid, shop, member, cur, merch, units, created, paid, shipped, cancelled, sample, creator in rows]


def _sum_rows(orders: Iterable[StoredOrder], hours: set[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The order_sum and order_product_sum rows of `orders`' steps whose counting moment lies in `hours`."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    products: dict[tuple[Any, ...], list[int]] = {}
    for o in orders:
        f = o.fact
        for basis in BASES:
            moment = f.paid_at if basis is CountOrdersAt.PAID else f.shipped_at
            if moment is None or hour_of(moment) not in hours:
                continue
            m_slot = slot_of(moment)
            shape = 1 if f.cancelled_at is None and not o.is_sample else 0
            for step in order_steps(f, basis, o.merchandise, o.refunds):
                key = (o.shop_id, basis.value, m_slot, o.member_id, o.creator_id, f.currency, slot_of(step.at))
                acc = sums.get(key)
                if acc is None:
                    acc = sums[key] = [0] * 7
                acc[0] += step.gross
                acc[1] += step.orders
                acc[2] += step.value
                acc[3] += step.refunded
                acc[4] += step.units
                acc[5] += step.returned_units
                if step.at == moment:
                    acc[6] += shape
                    shape = 0
            for p in product_steps(f, basis, o.merchandise, o.refunds):
                pacc = products.get(pkey := (o.shop_id, basis.value, m_slot, p.product_id, f.currency, slot_of(p.at)))
                if pacc is None:
                    pacc = products[pkey] = [0] * 4
                pacc[0] += p.units
                pacc[1] += p.orders
                pacc[2] += p.amount
                pacc[3] += p.refunded
    sum_rows = [dict(shop_id=k[0], basis=k[1], moment_slot=k[2], member_id=k[3], creator_id=k[4], currency=k[5],
                     effect_slot=k[6], gross_minor=v[0], orders=v[1], value_minor=v[2], refunded_minor=v[3],
                     units=v[4], returned_units=v[5], shape_orders=v[6]) for k, v in sums.items()]
    product_rows = [dict(shop_id=k[0], basis=k[1], moment_slot=k[2], product_id=k[3], currency=k[4], effect_slot=k[5],
                         units=v[0], orders=v[1], amount_minor=v[2], refunded_minor=v[3])
                    for k, v in products.items() if any(v)]
    return sum_rows, product_rows


def _rebuild_hours(conn: Connection, shop_id: int, hours: Iterable[int], max_gap: int = 6) -> int:
    """Replace the sums of `shop_id`'s orders counted in `hours` (and in the hours between them, up to `max_gap`
    apart) with sums of the stored orders. The number of orders read."""
    read = 0
    for first, end in _spans(hours, max_gap):
        wanted = set(range(first, end))
        a, b = hour_start(first), hour_start(end)
        for table in (SUM, PRODUCT_SUM):
            conn.execute(delete(table).where(table.c.shop_id == shop_id, table.c.moment_slot >= first * HOUR_SLOTS,
                                             table.c.moment_slot < end * HOUR_SLOTS))
        orders = stored_orders(conn, and_(ORDER.c.shop_id == shop_id, or_(
            and_(ORDER.c.paid_at >= a, ORDER.c.paid_at < b), and_(ORDER.c.shipped_at >= a, ORDER.c.shipped_at < b))))
        read += len(orders)
        sum_rows, product_rows = _sum_rows(orders, wanted)
        for table, rows in ((SUM, sum_rows), (PRODUCT_SUM, product_rows)):
            for i in range(0, len(rows), IN_CHUNK):
                conn.execute(insert(table), rows[i:i + IN_CHUNK])
    return read


def fold_due(conn: Connection) -> int:
    """Rebuild the sums of every hour marked due, and clear the marks, in `conn`'s transaction. The number of
    orders read (0: nothing was due)."""
    due: dict[int, list[int]] = defaultdict(list)
    for shop_id, hour in conn.execute(select(DUE.c.shop_id, DUE.c.hour)):
        due[shop_id].append(hour)
    read = 0
    for shop_id, hours in due.items():
        read += _rebuild_hours(conn, shop_id, hours)
        for first, end in _spans(hours, 6):
            conn.execute(delete(DUE).where(DUE.c.shop_id == shop_id, DUE.c.hour >= first, DUE.c.hour < end))
    return read


def rebuild_in(conn: Connection) -> int:
    """Recompute every sum from the orders in `conn`'s transaction. The number of orders read."""
    for table in (SUM, PRODUCT_SUM, DUE):
        conn.execute(delete(table))
    read = 0
    for shop_id in list(conn.execute(select(ORDER.c.shop_id).distinct()).scalars()):
        read += _rebuild_hours(conn, shop_id, _shop_hours(conn, shop_id), max_gap=HOURS_PER_READ)
    return read


def _shop_hours(conn: Connection, shop_id: int) -> list[int]:
    hours: set[int] = set()
    for column in (ORDER.c.paid_at, ORDER.c.shipped_at):
        for moment in conn.execute(select(column).where(ORDER.c.shop_id == shop_id, column.is_not(None))).scalars():
            hours.add(hour_of(moment))
    return sorted(hours)


def rebuild(engine: Engine) -> tuple[int, int]:
    """Recompute every sum from the orders (`kpibot db rebuild-aggregates`), in one transaction: readers see the
    old sums until it commits. Returns (orders read, sum rows written)."""
    with engine.begin() as conn:
        read = rebuild_in(conn)
        rows = conn.execute(select(func.count()).select_from(SUM)).scalar_one()
    return read, rows


# --- reading --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Read:
    """A scope's orders as sums for one `now`: the orders' (scoring.facts.OrderSum) and their products'."""

    orders: list[OrderSum]
    products: list[ProductSum]


def _aligned(moment: datetime) -> bool:
    return int((moment - _EPOCH).total_seconds()) % SLOT_SECONDS == 0


def read_sums(conn: Connection, basis: CountOrdersAt, start: datetime, end: datetime, now: datetime,
              cutoff: datetime | None, members: Sequence[int] = (), shops: Sequence[int] = (),
              products: Sequence[int] | None = None,
              excluded: dict[int, frozenset[int]] | None = None, by_creator: bool = False,
              every_product: bool = False, one_by_one: bool = False, daily: bool = False) -> dict[int, Read] | None:
    """The orders counted by `basis` in [start, end) as of `now`, as sums: of each of `members` (orders credited to
    them; keyed by member id), or of the orders of `shops` (keyed 0; with `by_creator`, keyed by the creator they
    are attributed to, orders of none left out, and their products under 0). `cutoff` is the refund maturity
    cut-off (scoring.metrics.matured_orders; None: none): a sum never holds orders on both sides of it.
    `products`: the products whose figures are wanted (None: none; `every_product`: all). None when an hour in the
    range is due (changed in this transaction and not yet folded): the caller reads the orders themselves, or
    asks again with `one_by_one`, which reads every order of the range one by one through the same steps (the
    same figures). `excluded`: orders left out, by key (an appeal took them out of a member's numbers:
    storage.adjustments.excluded_orders). `daily`: the table's sums come by UTC day (their moment the day's
    midnight), fewer rows where only the rate day matters (the digest's leaders).

    Sums come whole from order_sum where every step of theirs is decided by quarter-hours: orders counted in the
    quarter-hours of the cut-off or of a range edge off the quarter-hour are read one by one, and so are the steps
    taken in the quarter-hour of `now` (up to `now`)."""
    moment = ORDER.c.paid_at if basis is CountOrdersAt.PAID else ORDER.c.shipped_at
    want_products = every_product or bool(products)
    if want_products and members:   # products are summed by shop, not by member
        return None
    assert not (by_creator and members)
    if not one_by_one and conn.execute(
            select(DUE.c.hour).where(DUE.c.hour >= hour_of(start) - 1, DUE.c.hour <= hour_of(end) + 1)
            .limit(1)).first() is not None:
        return None
    by_member = bool(members)
    now_slot = slot_of(now)
    lo = slot_of(start) + (0 if _aligned(start) else 1)
    hi = slot_of(end)
    whole_raw = ({slot_of(cutoff)} if cutoff is not None else set()) | \
        ({slot_of(start)} if not _aligned(start) else set()) | ({slot_of(end)} if not _aligned(end) else set())
    out: dict[int, Read] = {m: Read([], []) for m in members} if by_member else {0: Read([], [])}

    def into(key: int) -> Read:
        got = out.get(key)
        if got is None:
            got = out[key] = Read([], [])
        return got

    def key_of(stored: StoredOrder) -> int:
        return stored.member_id if by_member else stored.creator_id if by_creator else 0

    per = DAY_SLOTS if daily else 1
    # the day as a literal: PostgreSQL takes a bound divisor in SELECT and GROUP BY for two expressions
    sum_at = SUM.c.moment_slot // literal_column(str(per), Integer) if daily else SUM.c.moment_slot
    product_at = PRODUCT_SUM.c.moment_slot // literal_column(str(per), Integer) if daily else PRODUCT_SUM.c.moment_slot
    if not one_by_one:
        key, scope = ((SUM.c.member_id, SUM.c.member_id.in_(members)) if by_member else
                      (SUM.c.creator_id, and_(SUM.c.shop_id.in_(shops), SUM.c.creator_id != 0)) if by_creator else
                      (sa_literal(0), SUM.c.shop_id.in_(shops)))
        for who, cur, m_slot, gross, count, value, refunded, units, returned in conn.execute(
                select(key, SUM.c.currency, sum_at,
                       func.sum(SUM.c.gross_minor), func.sum(SUM.c.orders), func.sum(SUM.c.value_minor),
                       func.sum(SUM.c.refunded_minor), func.sum(SUM.c.units), func.sum(SUM.c.returned_units))
                .where(scope, SUM.c.basis == basis.value, SUM.c.moment_slot >= lo, SUM.c.moment_slot < hi,
                       SUM.c.effect_slot < now_slot, SUM.c.moment_slot.not_in(sorted(whole_raw)))
                .group_by(*([key] if by_member or by_creator else []), SUM.c.currency, sum_at)):
            into(who).orders.append(OrderSum(cur, slot_start(m_slot * per), from_minor(gross, cur), count,
                                             from_minor(value, cur), from_minor(refunded, cur), units, returned))
    if want_products and not by_member and not one_by_one:
        chosen = [] if every_product else [PRODUCT_SUM.c.product_id.in_(products or ())]
        for product, cur, m_slot, units, count, amount, refunded in conn.execute(
                select(PRODUCT_SUM.c.product_id, PRODUCT_SUM.c.currency, product_at,
                       func.sum(PRODUCT_SUM.c.units), func.sum(PRODUCT_SUM.c.orders),
                       func.sum(PRODUCT_SUM.c.amount_minor), func.sum(PRODUCT_SUM.c.refunded_minor))
                .where(PRODUCT_SUM.c.shop_id.in_(shops), *chosen,
                       PRODUCT_SUM.c.basis == basis.value, PRODUCT_SUM.c.moment_slot >= lo,
                       PRODUCT_SUM.c.moment_slot < hi, PRODUCT_SUM.c.effect_slot < now_slot,
                       PRODUCT_SUM.c.moment_slot.not_in(sorted(whole_raw)))
                .group_by(PRODUCT_SUM.c.product_id, PRODUCT_SUM.c.currency, product_at)):
            if units or count or amount or refunded:
                out[0].products.append(ProductSum(product, slot_start(m_slot * per), units, cur, count,
                                                  from_minor(amount, cur), from_minor(refunded, cur)))

    owner = ORDER.c.member_id.in_(members) if by_member else ORDER.c.shop_id.in_(shops)
    in_range = and_(owner, moment >= start, moment < end, moment <= now)
    wanted: set[int] | None = None if every_product else set(products or ())
    lines = want_products and not by_member
    seen: set[int] = set()
    # each read picks its orders by id from a narrow range of times first: an index on the owner (a member's, a
    # shop's orders) would read every order of theirs
    if one_by_one or whole_raw:
        raw = in_range if one_by_one else and_(in_range, ORDER.c.id.in_(union(
            *(select(ORDER.c.id).where(moment >= slot_start(s), moment < slot_start(s + 1))
              for s in sorted(whole_raw)))))
        for stored in stored_orders(conn, raw, lines=lines):
            seen.add(stored.fact.order_id)
            _add_raw(into, key_of(stored), stored, basis, now, None, wanted, lines, by_creator)
    if not one_by_one:
        tail_start, tail_end = slot_start(now_slot), slot_start(now_slot + 1)
        touched = union(
            select(ORDER.c.id).where(moment >= tail_start, moment <= now),
            select(ORDER.c.id).where(ORDER.c.cancelled_at >= tail_start, ORDER.c.cancelled_at < tail_end),
            select(REFUND.c.order_id).where(REFUND.c.completed_at >= tail_start, REFUND.c.completed_at < tail_end,
                                            REFUND.c.status == "completed"))
        for stored in stored_orders(conn, and_(in_range, ORDER.c.id.in_(touched)), lines=lines):
            if stored.fact.order_id not in seen:
                _add_raw(into, key_of(stored), stored, basis, now, tail_start, wanted, lines, by_creator)
    for key, ids in (excluded or {}).items():
        ids_ = sorted(ids)
        for i in range(0, len(ids_), IN_CHUNK):
            for stored in stored_orders(conn, and_(in_range, ORDER.c.id.in_(ids_[i:i + IN_CHUNK])), lines=lines):
                if key_of(stored) == key:
                    _add_raw(into, key, stored, basis, now, None, wanted, lines, by_creator, sign=-1)
    return out


def _add_raw(into: Any, key: int, stored: StoredOrder, basis: CountOrdersAt, now: datetime,
             since: datetime | None, products: set[int] | None, lines: bool, by_creator: bool,
             sign: int = 1) -> None:
    """Add one order's figures as of `now` (steps from `since`) to `into(key)`: its sum (not with `by_creator`
    when it has no creator) and, with `lines`, its products (those of `products`; None: all) under `into(0)`."""
    got = sums_by_now(stored.fact, basis, stored.merchandise, stored.refunds, now, since=since)
    if got is not None and not (by_creator and key == 0):
        into(key).orders.append(got if sign == 1 else OrderSum(
            got.currency, got.moment, -got.gross, -got.orders, -got.value, -got.refunded, -got.units,
            -got.returned_units))
    if lines:
        into(0).products.extend(
            p if sign == 1 else ProductSum(p.product_id, p.moment, -p.units, p.currency, -p.orders, -p.amount,
                                          -p.refunded)
            for p in products_by_now(stored.fact, basis, now, since, stored.merchandise, stored.refunds)
            if products is None or p.product_id in products)


def shape_moments(conn: Connection, shops: Sequence[int], basis: CountOrdersAt, start: datetime,
                  end: datetime) -> list[tuple[datetime, int]] | None:
    """(quarter-hour, orders) of the not cancelled, not sample orders of `shops` counted in [start, end) (both on
    the quarter-hour), whatever `now`: what a team's pace shape is learned from (scoring.shape). None when an hour
    in the range is due."""
    if not _aligned(start) or not _aligned(end) or conn.execute(
            select(DUE.c.hour).where(DUE.c.hour >= hour_of(start) - 1, DUE.c.hour <= hour_of(end) + 1)
            .limit(1)).first() is not None:
        return None
    rows = conn.execute(
        select(SUM.c.moment_slot, func.sum(SUM.c.shape_orders))
        .where(SUM.c.shop_id.in_(shops), SUM.c.basis == basis.value, SUM.c.moment_slot >= slot_of(start),
               SUM.c.moment_slot < slot_of(end))
        .group_by(SUM.c.moment_slot))
    return [(slot_start(s), int(n)) for s, n in rows if n]


_MIGRATED: weakref.WeakSet[Engine] = weakref.WeakSet()   # engines whose store has order_sum_due (checked until then)


def forget(engine: Engine) -> None:
    """`engine`'s store no longer has the sums (migration 0032 undone): check again before folding."""
    _MIGRATED.discard(engine)


def keep_current(engine: Engine) -> None:
    """Fold due hours into the sums before each of `engine`'s transactions commits (see the module docstring)."""

    @event.listens_for(engine, "commit")
    def _fold_before_commit(conn: Connection) -> None:
        if conn.info.get("folding"):
            return
        raw = conn.connection.driver_connection
        if conn.dialect.name == "sqlite" and not getattr(raw, "in_transaction", True):
            return   # pysqlite opens a transaction at the first write only: this one wrote nothing
        if engine not in _MIGRATED:
            if not conn.dialect.has_table(conn, "order_sum_due"):
                return
            _MIGRATED.add(engine)
        conn.info["folding"] = True
        try:
            if conn.execute(select(DUE.c.hour).limit(1)).first() is not None:
                fold_due(conn)
        finally:
            conn.info["folding"] = False
