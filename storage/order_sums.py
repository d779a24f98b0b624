"""The orders' figures summed by quarter-hour and by hour, kept by the store in the transaction that changes the
orders.

Why: a score reads a member's (or a team's) orders of a period as of `now`. Read order by order that costs as
many rows as orders: 12 s for a team at a million orders. The sums (table order_sum, scoring.order_effects)
hold each shop's orders' steps by counting quarter-hour, member, currency and the quarter-hour each step took
effect, so a score reads at most one row per member, quarter-hour and step time, whatever the number of orders.

How they stay exact:
- Triggers on shop_order, refund and order_line (installed by migration 0032; `install`) write the id of every
  order a change touches into order_sum_due, in the changing statement.
- Before any transaction on an engine from storage.engine.make_engine commits, `fold_due` folds those orders into
  the sums and clears them (a `commit` listener: `keep_current`). So every writer (the sync, imports, crediting,
  appeals, the demo, a console) keeps them without knowing. A ledger (order_sum_part, order_product_part) holds
  what each order adds: a fold takes that off, adds what the order adds now and writes it down, so it costs the
  changed orders only, not every order of their hours (a sync's pages spread over weeks). On PostgreSQL the due
  row also serialises two transactions that change the same order: the second waits for the first's commit.
- A reader that finds an order due (changed in its own transaction, not yet folded) reads orders one by one, as
  it does the steps taken in the quarter-hour of `now`, where a step's exact time decides (`read_sums`; none when
  `now` is the last microsecond of a quarter-hour), and, in a read by day, the refunds and cancellations since the
  start of now's hour. The orders of the quarter-hour of the refund maturity cut-off
  (or of a range edge off the quarter-hour), whose exact moments decide their side, are summed by the database
  from the ledger joined to the orders (`_ledger_sums`).
- The same sums by the UTC hour (order_hour_sum, order_product_hour_sum; migration 0033) and those summed over the
  hour each step took effect in (the hour totals: order_member_hour_total, order_shop_hour_total,
  order_product_hour_total, with the latest effect hour; migration 0035) are kept by the same fold. A read grouped
  by day takes its whole hours from the totals (a total with a step from now's hour on: from the hour table, by
  effect hour), and the hours that a local midnight (a zone off the whole hour), the cut-off or a range edge
  splits by the quarter-hour.
- `kpibot db rebuild-aggregates` (`rebuild`) recomputes every sum and the ledger from the orders.

SQLite recreates a table for most ALTERs (Alembic's batch mode), which drops its triggers: a later migration that
alters shop_order, refund or order_line in batch mode must `install` them again.
"""

from __future__ import annotations

import logging
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy import literal as sa_literal
from sqlalchemy.engine import Connection, Engine

from scoring.facts import LineFact, OrderFact, OrderSum, ProductSum
from scoring.metrics import moment_at
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
from storage.models import (
    Order,
    OrderHourSumRow,
    OrderLine,
    OrderMemberHourTotal,
    OrderProductHourSumRow,
    OrderProductHourTotal,
    OrderProductPart,
    OrderProductSumRow,
    OrderShapeSum,
    OrderShopHourTotal,
    OrderSumDue,
    OrderSumPart,
    OrderSumRow,
    Refund,
)
from storage.types import table_of

log = logging.getLogger(__name__)

SUM, PRODUCT_SUM, DUE = table_of(OrderSumRow), table_of(OrderProductSumRow), table_of(OrderSumDue)
PART, PRODUCT_PART, SHAPE = table_of(OrderSumPart), table_of(OrderProductPart), table_of(OrderShapeSum)
HOUR, PRODUCT_HOUR = table_of(OrderHourSumRow), table_of(OrderProductHourSumRow)
MEMBER_TOTAL, SHOP_TOTAL = table_of(OrderMemberHourTotal), table_of(OrderShopHourTotal)
PRODUCT_TOTAL = table_of(OrderProductHourTotal)
ORDER, REFUND, LINE = table_of(Order), table_of(Refund), table_of(OrderLine)
HOUR_SLOTS = 3600 // SLOT_SECONDS
DAY_SLOTS = 24 * HOUR_SLOTS
BASES = (CountOrdersAt.PAID, CountOrdersAt.SHIPPED)
IN_CHUNK = 2000
TICK = timedelta(microseconds=1)   # the stores' resolution: `t <= now` is `t < now + TICK`
REBUILD_CHUNK = 50_000        # orders a rebuild reads and sums at a time


# --- triggers -------------------------------------------------------------------------------------------------

# the columns of shop_order the sums read: an update of any other (attribution, status text) changes no sum
ORDER_SUM_COLUMNS = ("shop_id", "currency", "merchandise_minor", "units", "paid_at", "shipped_at", "cancelled_at",
                     "member_id", "creator_id", "is_sample")


def _sqlite_mark(order_id: str) -> str:
    return (f"INSERT INTO order_sum_due (order_id) SELECT {order_id} "
            f"WHERE NOT EXISTS (SELECT 1 FROM order_sum_due WHERE order_id = {order_id});")


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ORDER_SUM_COLUMNS)
    out = [
        f"CREATE TRIGGER order_sum_order_insert AFTER INSERT ON shop_order BEGIN {_sqlite_mark('NEW.id')} END",
        f"CREATE TRIGGER order_sum_order_update AFTER UPDATE ON shop_order WHEN {changed} BEGIN "
        f"{_sqlite_mark('NEW.id')} END",
        f"CREATE TRIGGER order_sum_order_delete AFTER DELETE ON shop_order BEGIN {_sqlite_mark('OLD.id')} END",
    ]
    for table in ("refund", "order_line"):
        out += [
            f"CREATE TRIGGER order_sum_{table}_insert AFTER INSERT ON {table} BEGIN "
            f"{_sqlite_mark('NEW.order_id')} END",
            f"CREATE TRIGGER order_sum_{table}_update AFTER UPDATE ON {table} BEGIN "
            f"{_sqlite_mark('NEW.order_id')} {_sqlite_mark('OLD.order_id')} END",
            f"CREATE TRIGGER order_sum_{table}_delete AFTER DELETE ON {table} BEGIN "
            f"{_sqlite_mark('OLD.order_id')} END",
        ]
    return out


_SQLITE_NAMES = [f"order_sum_{t}_{e}" for t in ("order", "refund", "order_line")
                 for e in ("insert", "update", "delete")]


# PostgreSQL: statement-level triggers with transition tables, so a sync's multi-row statement marks its orders in
# one INSERT .. SELECT DISTINCT rather than one call per row
def _pg_function(name: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} "
            f"RETURN NULL; END $$")


def _pg_mark(rows: str) -> str:
    return f"INSERT INTO order_sum_due (order_id) {rows} ON CONFLICT DO NOTHING;"


def _pg_triggers() -> list[str]:
    changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in ORDER_SUM_COLUMNS)
    out = [
        _pg_function("order_sum_order_new", _pg_mark("SELECT DISTINCT id FROM new_rows")),
        _pg_function("order_sum_order_old", _pg_mark("SELECT DISTINCT id FROM old_rows")),
        _pg_function("order_sum_order_changed", _pg_mark(
            f"SELECT DISTINCT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed}")),
        _pg_function("order_sum_child_new", _pg_mark("SELECT DISTINCT order_id FROM new_rows")),
        _pg_function("order_sum_child_old", _pg_mark("SELECT DISTINCT order_id FROM old_rows")),
        _pg_function("order_sum_child_changed", _pg_mark(
            "SELECT order_id FROM new_rows UNION SELECT order_id FROM old_rows")),
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
    """Create the triggers that mark changed orders (in `conn`'s transaction)."""
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


# --- keeping the sums -----------------------------------------------------------------------------------------

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
    return _stored(conn, _order_columns(conn).where(where), {}, lines)


def _order_columns(conn: Connection) -> Any:
    """The select of the order columns stored_orders reads (a statement to add a where clause to)."""
    return select(
        ORDER.c.id, ORDER.c.shop_id, ORDER.c.member_id, ORDER.c.currency, ORDER.c.merchandise_minor, ORDER.c.units,
        *(_raw_time(conn, c) for c in (ORDER.c.created_at, ORDER.c.paid_at, ORDER.c.shipped_at,
                                       ORDER.c.cancelled_at)),
        ORDER.c.is_sample, ORDER.c.creator_id)


def _stored(conn: Connection, query: Any, params: dict[str, Any], lines: bool) -> list[StoredOrder]:
    """stored_orders of a statement from _order_columns and its parameters."""
    when = _time_reader(conn)
    rows = [(*r[:6], *(when(t) for t in r[6:10]), *r[10:]) for r in conn.execute(query, params)]
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


SUM_KEY = ("shop_id", "basis", "moment_slot", "member_id", "creator_id", "currency", "effect_slot")
SUM_VALUES = ("gross_minor", "orders", "value_minor", "refunded_minor", "units", "returned_units")
# the ledger also keeps the order's count for the pace shape (order_shape_sum), last
PART_COLS = ("order_id", *SUM_KEY, *SUM_VALUES, "shape_orders")
PRODUCT_KEY = ("shop_id", "basis", "moment_slot", "product_id", "currency", "effect_slot")
PRODUCT_VALUES = ("units", "orders", "amount_minor", "refunded_minor")
PRODUCT_PART_COLS = ("order_id", *PRODUCT_KEY, *PRODUCT_VALUES)
# the hour tables: the same keys with the two quarter-hours taken to their hour
HOUR_KEY = ("shop_id", "basis", "moment_hour", "member_id", "creator_id", "currency", "effect_hour")
PRODUCT_HOUR_KEY = ("shop_id", "basis", "moment_hour", "product_id", "currency", "effect_hour")


@dataclass(frozen=True)
class _Total:
    """An hour total table (storage.models._HourTotal) and where its rows come from: the ledger's rows (`ledger`,
    columns `ledger_cols`), its key's columns named as there but for `moment_hour` (the ledger's moment quarter-hour
    taken to its hour), its `values`, and the hour table (`hours`) a key's hour is read from by effect hour while a
    step of it is recent. `credited`: only orders credited to a member (no read asks for member 0's, and the row
    every uncredited order of an hour would add to is one that concurrent syncs of different shops would queue on)."""

    table: Table
    ledger: Table
    ledger_cols: tuple[str, ...]
    key: tuple[str, ...]
    values: tuple[str, ...]
    hours: Table
    credited: bool = False

    @property
    def matches(self) -> tuple[str, ...]:
        """The key's columns but the hour: what its rows share with the hour table's rows they sum."""
        return tuple(c for c in self.key if c != "moment_hour")

    def _picks(self) -> list[int]:
        return [self.ledger_cols.index("moment_slot" if c == "moment_hour" else c) for c in self.key]

    def rows(self, ledger: list[tuple[Any, ...]]) -> list[tuple[tuple[Any, ...], tuple[int, ...], int]]:
        """(key, values, effect hour) of each ledger row that adds to the table."""
        picks, moment = self._picks(), self.ledger_cols.index("moment_slot")
        values = [self.ledger_cols.index(v) for v in self.values]
        effect = self.ledger_cols.index("effect_slot")
        member = self.ledger_cols.index("member_id") if self.credited else None
        return [(tuple(r[i] // HOUR_SLOTS if i == moment else r[i] for i in picks), tuple(r[i] for i in values),
                 r[effect] // HOUR_SLOTS) for r in ledger if member is None or r[member]]

    def rebuilt(self) -> Any:
        """The table's rows from the whole ledger: the key's sums, the rows' count and the latest effect hour."""
        cols = [self.ledger.c[c] for c in self.ledger_cols]
        moment = self.ledger_cols.index("moment_slot")
        by = [cols[i] // HOUR_SLOTS if i == moment else cols[i] for i in self._picks()]
        rows = select(*by, *(func.sum(self.ledger.c[v]) for v in self.values), func.count(),
                      func.max(self.ledger.c.effect_slot) // HOUR_SLOTS).group_by(*by)
        return rows.where(self.ledger.c.member_id != 0) if self.credited else rows


MEMBER_TOTALS = _Total(MEMBER_TOTAL, PART, PART_COLS, ("member_id", "basis", "moment_hour", "currency"), SUM_VALUES,
                       HOUR, credited=True)
SHOP_TOTALS = _Total(SHOP_TOTAL, PART, PART_COLS, ("shop_id", "basis", "moment_hour", "creator_id", "currency"),
                     SUM_VALUES, HOUR)
PRODUCT_TOTALS = _Total(PRODUCT_TOTAL, PRODUCT_PART, PRODUCT_PART_COLS,
                        ("shop_id", "basis", "moment_hour", "product_id", "currency"), PRODUCT_VALUES, PRODUCT_HOUR)
TOTALS = (MEMBER_TOTALS, SHOP_TOTALS, PRODUCT_TOTALS)


def _by_hour(rows: list[tuple[Any, ...]], moment: int, effect: int) -> list[tuple[Any, ...]]:
    """Ledger rows with their quarter-hours at `moment` and `effect` taken to their hours."""
    return [(*r[:moment], r[moment] // HOUR_SLOTS, *r[moment + 1:effect], r[effect] // HOUR_SLOTS, *r[effect + 1:])
            for r in rows]


def _parts(orders: Iterable[StoredOrder]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Each order's steps (scoring.order_effects) by basis and effect quarter-hour: the rows of order_sum_part
    (PART_COLS) and order_product_part (PRODUCT_PART_COLS), the ledger of what each order adds to the sums."""
    parts: list[tuple[Any, ...]] = []
    product_parts: list[tuple[Any, ...]] = []
    for o in orders:
        f = o.fact
        for basis in BASES:
            moment = f.paid_at if basis is CountOrdersAt.PAID else f.shipped_at
            if moment is None:
                continue
            m_slot = slot_of(moment)
            head = (f.order_id, o.shop_id, basis.value, m_slot, o.member_id, o.creator_id, f.currency)
            if not o.refunds and f.cancelled_at is None:   # most orders: one step, when they count
                parts.append((*head, m_slot, o.merchandise, 1, o.merchandise, 0, f.units, 0, 0 if o.is_sample else 1))
                held: dict[int, list[int]] = {}
                for line in f.lines:
                    acc = held.setdefault(line.product_id, [0, 1, 0, 0])
                    acc[0] += line.units
                    acc[2] += line.amount_minor
                product_parts += [(f.order_id, o.shop_id, basis.value, m_slot, product, f.currency, m_slot, *v)
                                  for product, v in held.items()]
                continue
            shape = 1 if f.cancelled_at is None and not o.is_sample else 0
            by_effect: dict[int, list[int]] = {}
            steps = order_steps(f, basis, o.merchandise, o.refunds)
            for step in steps:
                acc = by_effect.setdefault(slot_of(step.at), [0] * 7)
                acc[0] += step.gross
                acc[1] += step.orders
                acc[2] += step.value
                acc[3] += step.refunded
                acc[4] += step.units
                acc[5] += step.returned_units
                if step.at == moment:
                    acc[6] += shape
                    shape = 0
            parts += [(*head, effect, *v) for effect, v in by_effect.items() if any(v)]
            by_product: dict[tuple[int, int], list[int]] = {}
            for p in product_steps(f, basis, o.merchandise, steps=steps):
                pacc = by_product.setdefault((p.product_id, slot_of(p.at)), [0, 0, 0, 0])
                pacc[0] += p.units
                pacc[1] += p.orders
                pacc[2] += p.amount
                pacc[3] += p.refunded
            product_parts += [(f.order_id, o.shop_id, basis.value, m_slot, product, f.currency, effect, *v)
                              for (product, effect), v in by_product.items() if any(v)]
    return parts, product_parts


_TEXT_COLUMNS = frozenset({"basis", "currency"})


def _insert(conn: Connection, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]],
            on_conflict: str = "") -> None:
    """INSERT `rows` into `table` (with `on_conflict`), through the driver: SQLite's executemany; on PostgreSQL one
    INSERT .. SELECT FROM unnest(column arrays) a chunk (executemany there is a round trip a row). SQLAlchemy's
    per-row parameter work was a third of a fold."""
    for i in range(0, len(rows), IN_CHUNK):
        chunk = rows[i:i + IN_CHUNK]
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                                 f"{on_conflict}", chunk)
        else:
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) SELECT * FROM unnest({_arrays(cols)}) "
                                 f"{on_conflict}", tuple(list(col) for col in zip(*chunk, strict=True)))


def _arrays(cols: tuple[str, ...]) -> str:
    return ", ".join(f"%s::{'text' if c in _TEXT_COLUMNS else 'bigint'}[]" for c in cols)


def _add(conn: Connection, table: str, key: tuple[str, ...], values: tuple[str, ...],
         changes: list[tuple[list[tuple[Any, ...]], int]]) -> set[tuple[Any, ...]]:
    """Add each (ledger rows, sign) of `changes` to the sums of `table` (ledger rows: order id, key, values),
    grouped by key first. The keys taken off from (the sums that may now be empty)."""
    totals: dict[tuple[Any, ...], list[int]] = {}
    taken_off: set[tuple[Any, ...]] = set()
    n = len(key)
    for rows, sign in changes:
        for row in rows:
            k = row[1:1 + n]
            acc = totals.get(k)
            if acc is None:
                acc = totals[k] = [0] * len(values)
            for i, v in enumerate(row[1 + n:1 + n + len(values)]):
                acc[i] += sign * v
            if sign < 0:
                taken_off.add(k)
    # in key order: two transactions folding orders of the same sums lock them in the same order (no deadlock)
    rows_ = sorted((*k, *v) for k, v in totals.items() if any(v))
    if rows_:
        updates = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
        _insert(conn, table, (*key, *values), rows_, f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")
    return taken_off


def _drop_empty(conn: Connection, table: str, key: tuple[str, ...], values: tuple[str, ...],
                keys: set[tuple[Any, ...]]) -> None:
    """Delete the rows of `keys` whose `values` taking off left at zero (a sum's figures; a total's steps): the
    table holds what a rebuild would, no more."""
    rows = sorted(keys)
    zero = " AND ".join(f"{table}.{v} = 0" for v in values)
    for i in range(0, len(rows), IN_CHUNK):
        chunk = rows[i:i + IN_CHUNK]
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DELETE FROM {table} WHERE {' AND '.join(f'{k} = ?' for k in key)} AND {zero}",
                                 chunk)
        else:
            conn.exec_driver_sql(
                f"DELETE FROM {table} USING unnest({_arrays(key)}) AS u({', '.join(key)}) "
                f"WHERE {' AND '.join(f'{table}.{k} = u.{k}' for k in key)} AND {zero}",
                tuple(list(col) for col in zip(*chunk, strict=True)))


def _ledger(conn: Connection, table: Table, cols: tuple[str, ...], ids: Sequence[int]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in cols)).where(table.c.order_id.in_(ids)))]


def fold(conn: Connection, order_ids: Sequence[int]) -> int:
    """Bring the sums up to date for these orders, in `conn`'s transaction: take off what the ledger says each
    added, add what it adds now (a deleted order adds nothing), and keep that in the ledger. The number of orders
    read."""
    read = 0
    totals: dict[_Total, dict[tuple[Any, ...], list[int]]] = {total: {} for total in TOTALS}   # changes by key
    for i in range(0, len(order_ids), IN_CHUNK):
        ids = order_ids[i:i + IN_CHUNK]
        old = _ledger(conn, PART, PART_COLS, ids)
        old_products = _ledger(conn, PRODUCT_PART, PRODUCT_PART_COLS, ids)
        stored = stored_orders(conn, ORDER.c.id.in_(ids))
        read += len(stored)
        parts, product_parts = _parts(stored)
        if old:
            conn.execute(delete(PART).where(PART.c.order_id.in_(ids)))
        if old_products:
            conn.execute(delete(PRODUCT_PART).where(PRODUCT_PART.c.order_id.in_(ids)))
        _insert(conn, "order_sum_part", PART_COLS, parts)
        _insert(conn, "order_product_part", PRODUCT_PART_COLS, product_parts)
        emptied = _add(conn, "order_sum", SUM_KEY, SUM_VALUES, [(old, -1), (parts, 1)])
        _drop_empty(conn, "order_sum", SUM_KEY, SUM_VALUES, emptied)
        emptied = _add(conn, "order_product_sum", PRODUCT_KEY, PRODUCT_VALUES,
                       [(old_products, -1), (product_parts, 1)])
        _drop_empty(conn, "order_product_sum", PRODUCT_KEY, PRODUCT_VALUES, emptied)
        emptied = _add(conn, "order_shape_sum", SHAPE_KEY, ("orders",), [(_shape(old), -1), (_shape(parts), 1)])
        _drop_empty(conn, "order_shape_sum", SHAPE_KEY, ("orders",), emptied)
        # the hour tables: moment and effect at PART_COLS 3 and 7, PRODUCT_PART_COLS 3 and 6
        emptied = _add(conn, "order_hour_sum", HOUR_KEY, SUM_VALUES,
                       [(_by_hour(old, 3, 7), -1), (_by_hour(parts, 3, 7), 1)])
        _drop_empty(conn, "order_hour_sum", HOUR_KEY, SUM_VALUES, emptied)
        emptied = _add(conn, "order_product_hour_sum", PRODUCT_HOUR_KEY, PRODUCT_VALUES,
                       [(_by_hour(old_products, 3, 6), -1), (_by_hour(product_parts, 3, 6), 1)])
        _drop_empty(conn, "order_product_hour_sum", PRODUCT_HOUR_KEY, PRODUCT_VALUES, emptied)
        for total, acc in totals.items():
            ledger = (old, parts) if total.ledger is PART else (old_products, product_parts)
            _change_total(acc, len(total.values), total.rows(ledger[0]), total.rows(ledger[1]))
    # the totals once for all the chunks: keys shared across shops (a member's) locked in one sorted pass, so two
    # transactions folding many orders each cannot lock them in opposite orders
    for total, acc in totals.items():
        _write_total(conn, total, acc)
    return read


def _change_total(acc: dict[tuple[Any, ...], list[int]], n: int,
                  old: list[tuple[tuple[Any, ...], tuple[int, ...], int]],
                  new: list[tuple[tuple[Any, ...], tuple[int, ...], int]]) -> None:
    """Into `acc` (a total's change by key: its `n` values, steps and latest effect hour, -1 for none): the `old`
    ledger rows taken off and the `new` ones added. A row's latest effect hour only rises; taking off leaves it.
    Kept by key, not by ledger row: a fold of many orders holds a row a key and hour, not one an order."""
    for rows, sign in ((old, -1), (new, 1)):
        for key, values, effect in rows:
            got = acc.get(key)
            if got is None:
                got = acc[key] = [0] * n + [0, -1]
            for i, v in enumerate(values):
                got[i] += sign * v
            got[n] += sign
            if sign > 0 and effect > got[n + 1]:
                got[n + 1] = effect


def _write_total(conn: Connection, total: _Total, acc: dict[tuple[Any, ...], list[int]]) -> None:
    """Add `acc` (_change_total) to `total`'s rows; a row no step is left in goes."""
    n = len(total.values)
    # every key a row is added to (its values may not change while its latest effect does); in key order, as _add
    rows_ = sorted((*k, *v) for k, v in acc.items() if any(v[:n + 1]) or v[n + 1] >= 0)
    if not rows_:
        return
    name = total.table.name
    latest = "greatest" if conn.dialect.name == "postgresql" else "max"
    updates = ", ".join([*(f"{v} = {name}.{v} + excluded.{v}" for v in (*total.values, "steps")),
                         f"last_effect_hour = {latest}({name}.last_effect_hour, excluded.last_effect_hour)"])
    _insert(conn, name, (*total.key, *total.values, "steps", "last_effect_hour"), rows_,
            f"ON CONFLICT ({', '.join(total.key)}) DO UPDATE SET {updates}")
    _drop_empty(conn, name, total.key, ("steps",), {k for k, v in acc.items() if v[n] < 0})


SHAPE_KEY = ("shop_id", "basis", "moment_slot")


def _shape(parts: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Ledger rows (PART_COLS) as rows of order_shape_sum: (order id, shop, basis, quarter-hour, shape orders)."""
    return [(p[0], p[1], p[2], p[3], p[-1]) for p in parts if p[-1]]


def fold_due(conn: Connection) -> int:
    """Fold every order marked due (fold) and clear the marks, in `conn`'s transaction. The number of orders
    read (0: nothing was due)."""
    ids = sorted(conn.execute(select(DUE.c.order_id)).scalars())
    read = fold(conn, ids)
    for i in range(0, len(ids), IN_CHUNK):
        conn.execute(delete(DUE).where(DUE.c.order_id.in_(ids[i:i + IN_CHUNK])))
    return read


def rebuild_in(conn: Connection, hours: bool = True) -> int:
    """Recompute every sum and the ledger from the orders in `conn`'s transaction. The number of orders read.
    `hours` false: neither the hour tables nor the hour totals (migration 0032, which comes before them)."""
    for table in (SUM, PRODUCT_SUM, SHAPE, PART, PRODUCT_PART, DUE):
        conn.execute(delete(table))
    read, last = 0, 0
    while True:
        ids = list(conn.execute(select(ORDER.c.id).where(ORDER.c.id > last).order_by(ORDER.c.id)
                                .limit(REBUILD_CHUNK)).scalars())
        if not ids:
            break
        stored = []
        for i in range(0, len(ids), IN_CHUNK):
            stored += stored_orders(conn, ORDER.c.id.in_(ids[i:i + IN_CHUNK]))
        read += len(stored)
        parts, product_parts = _parts(stored)
        _insert(conn, "order_sum_part", PART_COLS, parts)
        _insert(conn, "order_product_part", PRODUCT_PART_COLS, product_parts)
        last = ids[-1]
    for table, ledger, key, values in ((SUM, PART, SUM_KEY, SUM_VALUES),
                                       (PRODUCT_SUM, PRODUCT_PART, PRODUCT_KEY, PRODUCT_VALUES)):
        conn.execute(insert(table).from_select(
            [*key, *values], select(*(ledger.c[k] for k in key), *(func.sum(ledger.c[v]) for v in values))
            .group_by(*(ledger.c[k] for k in key))))
    conn.execute(insert(SHAPE).from_select(
        [*SHAPE_KEY, "orders"], select(*(PART.c[k] for k in SHAPE_KEY), func.sum(PART.c.shape_orders))
        .where(PART.c.shape_orders != 0).group_by(*(PART.c[k] for k in SHAPE_KEY))))
    if hours:
        rebuild_hours(conn)
        rebuild_totals(conn)
    return read


def rebuild_hours(conn: Connection) -> None:
    """Recompute the hour tables from the ledger, in `conn`'s transaction. A key whose steps add up to nothing (an
    order counted and cancelled within the hour) gets no row, as a fold leaves none."""
    for table, ledger, key, values in ((HOUR, PART, HOUR_KEY, SUM_VALUES),
                                       (PRODUCT_HOUR, PRODUCT_PART, PRODUCT_HOUR_KEY, PRODUCT_VALUES)):
        conn.execute(delete(table))
        by = [ledger.c[c.replace("_hour", "_slot")] // HOUR_SLOTS if c.endswith("_hour") else ledger.c[c]
              for c in key]
        totals = [func.sum(ledger.c[v]) for v in values]
        conn.execute(insert(table).from_select(
            [*key, *values], select(*by, *totals).group_by(*by).having(or_(*(t != 0 for t in totals)))))


def rebuild_totals(conn: Connection) -> None:
    """Recompute the hour totals from the ledger, in `conn`'s transaction: every key a ledger row adds to, with
    the rows' count and the latest hour one took effect in."""
    for total in TOTALS:
        conn.execute(delete(total.table))
        conn.execute(insert(total.table).from_select([*total.key, *total.values, "steps", "last_effect_hour"],
                                                     total.rebuilt()))


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
    return slot_start(slot_of(moment)) == moment


def read_sums(conn: Connection, basis: CountOrdersAt, start: datetime, end: datetime, now: datetime,
              cutoff: datetime | None, members: Sequence[int] = (), shops: Sequence[int] = (),
              products: Sequence[int] | None = None,
              excluded: dict[int, frozenset[int]] | None = None, by_creator: bool = False,
              every_product: bool = False, one_by_one: bool = False, daily: bool = False,
              tz: str | None = None, orders: bool = True) -> dict[int, Read] | None:
    """The orders counted by `basis` in [start, end) as of `now`, as sums: of each of `members` (orders credited to
    them; keyed by member id), or of the orders of `shops` (keyed 0; with `by_creator`, keyed by the creator they
    are attributed to, orders of none left out, and their products under 0). `cutoff` is the refund maturity
    cut-off (scoring.metrics.matured_orders; None: none): a sum never holds orders on both sides of it.
    `products`: the products whose figures are wanted (None: none; `every_product`: all). None when an order is due
    (changed in this transaction and not yet folded): the caller reads the orders themselves, or
    asks again with `one_by_one`, which reads every order of the range one by one through the same steps (the
    same figures). `excluded`: orders left out, by key (an appeal took them out of a member's numbers:
    storage.adjustments.excluded_orders). `daily`: the table's sums come by UTC day (each at its earliest
    quarter-hour, the start of its hour for sums from the hour tables), fewer rows where only the rate day matters
    (the digest's leaders). With `tz`, they come by local day in `tz`, UTC day and side of the cut-off: right for
    every window of whole local days in `tz` (and for the rate of the day), a few rows per member and day instead
    of one per quarter-hour. `orders` false: the products' figures only.

    Sums come whole from order_sum where every step of theirs is decided by quarter-hours. Orders counted in the
    quarter-hours of the cut-off or of a range edge off the quarter-hour are summed from the ledger by their exact
    moments (`_ledger_sums`, one row per key, currency and side of the cut-off), their steps before now's
    quarter-hour; the steps taken in the quarter-hour of `now` (up to `now`) are read one by one (none when `now` is
    the last microsecond of a quarter-hour). Grouped by day (`tz` or `daily`), whole hours come from the hour totals
    instead (`_plan`, `_table_sums`): one row a key and hour however many orders; the refunds and cancellations of
    their orders since the start of now's hour are then read one by one too."""
    moment = _moment_column(basis)
    want_products = every_product or bool(products)
    if want_products and members:   # products are summed by shop, not by member
        return None
    assert not (by_creator and members)
    if not one_by_one and conn.execute(select(DUE.c.order_id).limit(1)).first() is not None:
        return None
    by_member = bool(members)
    # a step taken at or before `now` is one taken before `until`: when that falls on a quarter-hour (`now` the last
    # microsecond of one, as at the end of a day), the tables hold now's quarter-hour whole and nothing of it is read
    # one by one. So with the cut-off: an order counted at or before it, before a quarter-hour, needs no ledger read.
    until = now + TICK
    now_slot = slot_of(until)
    cutoff_slot = slot_of(cutoff + TICK) if cutoff is not None else None
    lo = slot_of(start) + (0 if _aligned(start) else 1)
    hi = slot_of(end)
    # the quarter-hours the cut-off or a range edge cuts through: the tables cannot tell their orders apart
    cut = ({slot_of(cutoff)} if cutoff is not None and not _aligned(cutoff + TICK) else set()) | \
        ({slot_of(start)} if not _aligned(start) else set()) | ({slot_of(end)} if not _aligned(end) else set())
    out: dict[int, Read] = {m: Read([], []) for m in members} if by_member else {0: Read([], [])}

    def into(key: int) -> Read:
        got = out.get(key)
        if got is None:
            got = out[key] = Read([], [])
        return got

    def key_of(stored: StoredOrder) -> int:
        return stored.member_id if by_member else stored.creator_id if by_creator else 0

    # the hour tables cannot split an hour at a local midnight nor at the cut-off (off the hour)
    plan = _plan(lo, hi, now_slot, cut, None if tz is None and not daily else
                 [*([] if daily else _midnights(start, end, tz or "UTC")),
                  *([cutoff_slot] if cutoff_slot is not None else [])])

    bucketing = _bucketing(start, end, tz, cutoff_slot, daily)
    # the cut quarter-hours' steps before now's quarter-hour, summed from the ledger by the orders' exact moments;
    # one after the range, before it or from now's on has no such step
    ledgered = [s for s in sorted(cut) if s < now_slot and slot_start(s + 1) > start and slot_start(s) < end]
    window = _Window(basis, start, end, cutoff)
    if orders and not one_by_one:
        scope = _Scope("member" if by_member else "creator" if by_creator else "shop", members=members, shops=shops)
        for who, cur, m_slot, gross, count, value, refunded, units, returned in _table_sums(
                conn, SUM, MEMBER_TOTALS if by_member else SHOP_TOTALS, scope, SUM_VALUES, basis, plan, bucketing):
            into(who).orders.append(OrderSum(cur, slot_start(m_slot), from_minor(gross, cur), count,
                                             from_minor(value, cur), from_minor(refunded, cur), units, returned))
        for slot in ledgered:
            for who, cur, first, gross, count, value, refunded, units, returned in _ledger_sums(
                    conn, PART, scope, SUM_VALUES, window, slot, now_slot):
                into(who).orders.append(OrderSum(cur, first, from_minor(gross, cur), count, from_minor(value, cur),
                                                 from_minor(refunded, cur), units, returned))
    if want_products and not by_member and not one_by_one:
        scope = _Scope("every product" if every_product else "product", shops=shops, products=products or ())
        for product, cur, m_slot, units, count, amount, refunded in _table_sums(
                conn, PRODUCT_SUM, PRODUCT_TOTALS, scope, PRODUCT_VALUES, basis, plan, bucketing):
            if units or count or amount or refunded:
                out[0].products.append(ProductSum(product, slot_start(m_slot), units, cur, count,
                                                  from_minor(amount, cur), from_minor(refunded, cur)))
        for slot in ledgered:
            for product, cur, first, units, count, amount, refunded in _ledger_sums(
                    conn, PRODUCT_PART, scope, PRODUCT_VALUES, window, slot, now_slot):
                if units or count or amount or refunded:
                    out[0].products.append(ProductSum(product, first, units, cur, count, from_minor(amount, cur),
                                                      from_minor(refunded, cur)))

    owner = ORDER.c.member_id.in_(members) if by_member else ORDER.c.shop_id.in_(shops)
    terms = (owner, moment >= start, moment < end, moment <= now)
    wanted: set[int] | None = None if every_product else set(products or ())
    lines = want_products and not by_member
    # one read of the orders with a step the tables and the ledger do not give (_tail_query): one counted in an hour
    # the hour tables gave gives those taken from the start of now's hour (a refund or a cancellation since: the
    # hour tables hold the steps of hours before now's only); any other, those taken in the quarter-hour of now
    if one_by_one:
        for stored in stored_orders(conn, and_(*terms), lines=lines):
            _add_raw(into, key_of(stored), stored, basis, now, None, wanted, lines, by_creator, orders=orders)
    else:
        tail_start = slot_start(now_slot)
        # with hours read from the hour tables, refunds and cancellations from the start of now's hour are picked
        hour_start = slot_start(now_slot - now_slot % HOUR_SLOTS) if plan.hours is not None else tail_start
        # with `now` the last microsecond of an hour (a day's end: the daily job's reads), every range below is
        # empty: no query
        if hour_start <= now:
            query = _statement(("tail", conn.dialect.name, basis, by_member),
                               lambda: _tail_query(conn, basis, by_member))
            for stored in _stored(conn, query, {
                    "owners": list(members) if by_member else list(shops), "start": start, "end": end, "now": now,
                    "tail_start": tail_start, "hour_start": hour_start}, lines):
                counted = moment_at(stored.fact, basis)
                slot = slot_of(counted) if counted is not None else None
                since = hour_start if plan.in_hours(slot) else tail_start
                _add_raw(into, key_of(stored), stored, basis, now, since, wanted, lines, by_creator, orders=orders)
    if excluded:
        hinted = _likely_all(conn, terms)   # orders picked by id
        for key, ids in excluded.items():
            ids_ = sorted(ids)
            for i in range(0, len(ids_), IN_CHUNK):
                for stored in stored_orders(conn, and_(hinted, ORDER.c.id.in_(ids_[i:i + IN_CHUNK])), lines=lines):
                    if key_of(stored) == key:
                        _add_raw(into, key, stored, basis, now, None, wanted, lines, by_creator, sign=-1,
                                 orders=orders)
    return out


def _add_raw(into: Any, key: int, stored: StoredOrder, basis: CountOrdersAt, now: datetime,
             since: datetime | None, products: set[int] | None, lines: bool, by_creator: bool,
             sign: int = 1, orders: bool = True) -> None:
    """Add one order's figures as of `now` (steps from `since`) to `into(key)`: its sum (with `orders`; not with
    `by_creator` when it has no creator) and, with `lines`, its products (those of `products`; None: all) under
    `into(0)`."""
    got = sums_by_now(stored.fact, basis, stored.merchandise, stored.refunds, now, since=since) if orders else None
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


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where read_sums takes a range's table sums from: the quarter-hours [lo, hi) less `cut` (those the cut-off or a
    range edge cuts through, which read_sums sums from the ledger), steps taken before `now_slot` (the quarter-hour
    after the last microsecond up to `now`). With `hours`: the whole hours [hours) less `broken` from the hour
    totals, steps taken before now's hour (they cannot tell its quarter-hours apart), and the quarter-hours `slots`
    from the quarter-hour tables; without, every quarter-hour from the latter."""

    lo: int
    hi: int
    now_slot: int
    cut: frozenset[int]
    hours: tuple[int, int] | None = None
    broken: tuple[int, ...] = ()
    slots: tuple[int, ...] = ()

    def in_hours(self, slot: int | None) -> bool:
        """Whether an order counted in quarter-hour `slot` is summed from the hour tables."""
        if slot is None or self.hours is None:
            return False
        hour = slot // HOUR_SLOTS
        return self.hours[0] <= hour < self.hours[1] and hour not in self.broken


def _plan(lo: int, hi: int, now_slot: int, cut: set[int], splits: list[int] | None) -> _Plan:
    """The plan of a read whose sums are grouped by day (`splits`: the quarter-hours its sums are split at, where
    its local days end and the cut-off; None: grouped by quarter-hour, no hours then). An hour is read from the
    hour totals when it lies in the range, before now's hour, holds no quarter-hour of `cut` and no split
    (a local midnight of a zone off the whole hour, a cut-off off the hour); the quarter-hours of the range's other
    hours, now's hour's included, come from the quarter-hour tables."""
    first, last = -(-lo // HOUR_SLOTS), min(hi, now_slot) // HOUR_SLOTS
    if splits is None or first >= last:
        return _Plan(lo, hi, now_slot, frozenset(cut))
    broken = sorted(h for h in {s // HOUR_SLOTS for s in cut} | {m // HOUR_SLOTS for m in splits if m % HOUR_SLOTS}
                    if first <= h < last)
    slots = [s for s in (*range(lo, first * HOUR_SLOTS), *range(last * HOUR_SLOTS, min(hi, now_slot)),
                         *(s for h in broken for s in range(h * HOUR_SLOTS, (h + 1) * HOUR_SLOTS))) if s not in cut]
    return _Plan(lo, hi, now_slot, frozenset(cut), (first, last), tuple(broken), tuple(sorted(slots)))


@dataclass(frozen=True)
class _Scope:
    """Whose rows a read_sums table query takes: `kind` "member" (`members`' credited orders, keyed by member),
    "creator" (`shops`' orders keyed by the creator they are attributed to, none left out), "shop" (`shops`' orders,
    keyed 0), "product" (`products` of `shops`, keyed by product) or "every product" (of `shops`)."""

    kind: str
    members: Sequence[int] = ()
    shops: Sequence[int] = ()
    products: Sequence[int] = ()

    def of(self, t: Table) -> tuple[Any, Any]:
        """(key column, condition) in table `t`, the lists as parameters ("members", "shops", "products")."""
        if self.kind == "member":   # the member totals have no shop
            return t.c.member_id, t.c.member_id.in_(bindparam("members", expanding=True))
        shops = t.c.shop_id.in_(bindparam("shops", expanding=True))
        if self.kind == "creator":
            return t.c.creator_id, and_(shops, t.c.creator_id != 0)
        if self.kind == "shop":
            return sa_literal(0), shops
        if self.kind == "product":
            return t.c.product_id, and_(shops, t.c.product_id.in_(bindparam("products", expanding=True)))
        return t.c.product_id, shops

    def params(self) -> dict[str, list[int]]:
        return {"members": list(self.members), "shops": list(self.shops), "products": list(self.products)}


@dataclass(frozen=True)
class _Bucketing:
    """What read_sums groups quarter-hours by (_bucketing): `kind` "daily" (their UTC day), "slot" (each alone),
    "shifted" (local days that are whole UTC days shifted: from the quarter-hour `first`) or "case" (local days
    ending at `midnights`), the last two with the UTC day and, with `cutoff_slot`, the side of the cut-off."""

    kind: str
    first: int = 0
    midnights: tuple[int, ...] = ()
    cutoff_slot: int | None = None

    @property
    def shape(self) -> tuple[Any, ...]:
        return self.kind, len(self.midnights), self.cutoff_slot is not None

    def params(self) -> dict[str, int]:
        return {"first": self.first, "cutoff_slot": self.cutoff_slot or 0,
                **{f"midnight_{i}": m for i, m in enumerate(self.midnights)}}

    def of(self, slot: Any) -> list[Any]:
        """The group-by expressions of quarter-hour column `slot`, the numbers as parameters."""
        if self.kind == "daily":
            return [slot // DAY_SLOTS]
        if self.kind == "slot":
            return [slot]
        if self.kind == "shifted":
            local_day = (slot - bindparam("first", type_=Integer)) // DAY_SLOTS
        else:
            local_day = case(*((slot < bindparam(f"midnight_{i}", type_=Integer), i)
                               for i in range(len(self.midnights))), else_=len(self.midnights))
        cutoff = [slot < bindparam("cutoff_slot", type_=Integer)] if self.cutoff_slot is not None else []
        return [local_day, slot // DAY_SLOTS, *cutoff]


# read_sums' statements, built once per shape (which tables, whose rows, how the hours are split and grouped; a few
# dozen) with every number, time and list a parameter: building one anew took about as long as the database took
# to run it
_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_STATEMENTS_MAX = 256


def _statement(shape: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """The statement of `shape`, built by `build` the first time it is asked for."""
    statement = _STATEMENTS.get(shape)
    if statement is None:
        if len(_STATEMENTS) >= _STATEMENTS_MAX:
            _STATEMENTS.clear()
        statement = _STATEMENTS[shape] = build()
    return statement


def _likely(conn: Connection, term: Any) -> Any:
    """`term` as SQLite is told it is likely true (it then keeps to the orders' time index, not the owner's)."""
    return func.likely(term) if conn.dialect.name == "sqlite" else term


def _moment_column(basis: CountOrdersAt) -> Any:
    """The orders' column `basis` counts them at."""
    return ORDER.c.paid_at if basis is CountOrdersAt.PAID else ORDER.c.shipped_at


def _likely_all(conn: Connection, terms: Sequence[Any]) -> Any:
    """The terms together; on SQLite each told "likely" true. SQLite (no statistics) would rather walk the owner's or
    the range's index, every order of a shop, than look a few orders picked by id up (90 ms at ten million orders):
    told the terms are likely, it looks them up by id."""
    return and_(*(_likely(conn, term) for term in terms))


def _tail_query(conn: Connection, basis: CountOrdersAt, by_member: bool) -> Any:
    """read_sums' pick of the owners' orders counted in [start, end) by `now` with a step from now's quarter-hour or
    hour on: counted from `tail_start`, or cancelled or refunded from `hour_start`; the owners, times and bounds
    are its parameters. Each pick comes from a narrow range of times first: an index on the owner (a member's, a
    shop's orders) would read every order of theirs."""
    moment = _moment_column(basis)

    def at(name: str) -> Any:
        return bindparam(name, type_=moment.type)

    owner = (ORDER.c.member_id if by_member else ORDER.c.shop_id).in_(bindparam("owners", expanding=True))
    terms = (owner, moment >= at("start"), moment < at("end"), moment <= at("now"))
    # the owner's orders of a time range, from the time's index alone (it carries shop and member: migration 0036)
    mine = _likely(conn, owner)
    picked = union(
        select(ORDER.c.id).where(mine, moment >= at("tail_start"), moment <= at("now")),
        select(ORDER.c.id).where(mine, ORDER.c.cancelled_at >= at("hour_start"), ORDER.c.cancelled_at <= at("now")),
        select(REFUND.c.order_id).where(REFUND.c.completed_at >= at("hour_start"), REFUND.c.completed_at <= at("now"),
                                        REFUND.c.status == "completed"))
    return _order_columns(conn).where(_likely_all(conn, terms), ORDER.c.id.in_(picked))


@dataclass(frozen=True, slots=True)
class _Window:
    """What a read counts, as _ledger_sums' parameters: orders counted by `basis` in [start, end), split at `cutoff`
    (None: not split)."""

    basis: CountOrdersAt
    start: datetime
    end: datetime
    cutoff: datetime | None


def _ledger_sums(conn: Connection, ledger: Table, scope: _Scope, values: tuple[str, ...], window: _Window,
                 slot: int, now_slot: int) -> list[tuple[Any, ...]]:
    """(key, currency, earliest moment, *sums of `values`) of the ledger rows (`ledger`: order_sum_part or
    order_product_part) of the orders in `scope` counted in quarter-hour `slot` within `window`, their steps before
    `now_slot` (so counted by now, too), grouped by key, currency and side of the window's cut-off (at or before it,
    after it). The window's range and the quarter-hour's are one pair of bounds: SQLite, without statistics, seeks
    the time index by the first pair it finds.

    Why: the tables cannot tell apart the orders of a quarter-hour that a range edge or the cut-off cuts through;
    the ledger joined to the orders can, by their exact moments, without loading them one by one (about as many as
    a quarter-hour has orders: 60 a shop at ten million orders). The earliest moment stands for the group's: every
    moment in it has the same quarter-hour, UTC day, local day and side of the cut-off."""
    query = _statement(("ledger", conn.dialect.name, ledger.name, scope.kind, window.basis, window.cutoff is not None),
                       lambda: _ledger_query(conn, ledger, scope, values, window))
    when = _time_reader(conn)
    return [(k, cur, when(first), *sums) for k, cur, first, *sums in conn.execute(query, {
        **scope.params(), "basis": window.basis.value, "moment_from": max(slot_start(slot), window.start),
        "moment_to": min(slot_start(slot + 1), window.end), "cutoff": window.cutoff, "now_slot": now_slot,
    }).all()]


def _ledger_query(conn: Connection, ledger: Table, scope: _Scope, values: tuple[str, ...], window: _Window) -> Any:
    """_ledger_sums' query for the shape of these arguments; the numbers, times and lists are its parameters."""
    moment = _moment_column(window.basis)
    key, in_scope = scope.of(ledger)
    # the orders come from the time's index (it carries shop and member), told the owner is likely, as the tail's
    owner = ORDER.c.member_id.in_(bindparam("members", expanding=True)) if scope.kind == "member" else \
        ORDER.c.shop_id.in_(bindparam("shops", expanding=True))

    def at(name: str) -> Any:
        return bindparam(name, type_=moment.type)

    side = [moment <= at("cutoff")] if window.cutoff is not None else []
    first = func.min(_raw_time(conn, moment))
    query = select(key, ledger.c.currency, first, *(func.sum(ledger.c[v]) for v in values)) \
        .select_from(ORDER.join(ledger, ledger.c.order_id == ORDER.c.id)) \
        .where(_likely(conn, owner), moment >= at("moment_from"), moment < at("moment_to"), in_scope,
               ledger.c.basis == bindparam("basis", type_=String),
               ledger.c.effect_slot < bindparam("now_slot", type_=Integer))   # so counted by now, too
    return query.group_by(key, ledger.c.currency, *side)


def _table_sums(conn: Connection, quarters: Table, total: _Total, scope: _Scope, values: tuple[str, ...],
                basis: CountOrdersAt, plan: _Plan, bucketing: _Bucketing) -> Any:
    """(key, currency, first quarter-hour, *sums of `values`) of the table rows `plan` reads, in `scope`, grouped by
    key, currency and `bucketing` of the quarter-hour. Whole hours come from the hour totals (`total`), each row
    whole when its latest step took effect before now's hour; the hours of the others come from the hour table by
    effect hour, the steps before now's hour."""
    query = _statement(("table", quarters.name, total.table.name, scope.kind, values, plan.hours is None,
                        bool(plan.slots), bucketing.shape),
                       lambda: _table_query(quarters, total, scope, values, plan, bucketing))
    hours = plan.hours or (0, 0)
    return conn.execute(query, {
        **scope.params(), **bucketing.params(), "basis": basis.value, "lo": plan.lo, "hi": plan.hi,
        "now_slot": plan.now_slot, "now_hour": plan.now_slot // HOUR_SLOTS, "cut": sorted(plan.cut),
        "slots": list(plan.slots), "first_hour": hours[0], "last_hour": hours[1], "broken": list(plan.broken),
    }).all()   # all: one fetch, not a row each


def _table_query(quarters: Table, total: _Total, scope: _Scope, values: tuple[str, ...], plan: _Plan,
                 bucketing: _Bucketing) -> Any:
    """_table_sums' query for the shape of these arguments; the numbers and lists are its parameters."""
    def number(name: str) -> Any:
        return bindparam(name, type_=Integer)

    def numbers(name: str) -> Any:
        return bindparam(name, expanding=True)

    basis = bindparam("basis", type_=String)
    parts = []
    q_key, q_scope = scope.of(quarters)
    if plan.hours is None:
        chosen = and_(quarters.c.moment_slot >= number("lo"), quarters.c.moment_slot < number("hi"),
                      quarters.c.moment_slot.not_in(numbers("cut")))
    else:
        chosen = quarters.c.moment_slot.in_(numbers("slots"))
    if plan.hours is None or plan.slots:
        parts.append(select(q_key.label("k"), quarters.c.currency.label("cur"), quarters.c.moment_slot.label("slot"),
                            *(quarters.c[v].label(v) for v in values))
                     .where(q_scope, quarters.c.basis == basis, chosen, quarters.c.effect_slot < number("now_slot")))
    if plan.hours is not None:
        now_hour = number("now_hour")
        totals, hours = total.table, total.hours
        t_key, t_scope = scope.of(totals)
        in_plan = and_(t_scope, totals.c.basis == basis, totals.c.moment_hour >= number("first_hour"),
                       totals.c.moment_hour < number("last_hour"), totals.c.moment_hour.not_in(numbers("broken")))
        parts.append(select(t_key.label("k"), totals.c.currency.label("cur"),
                            (totals.c.moment_hour * HOUR_SLOTS).label("slot"), *(totals.c[v].label(v) for v in values))
                     .where(in_plan, totals.c.last_effect_hour < now_hour))
        recent = select(*(totals.c[c] for c in total.matches), totals.c.moment_hour) \
            .where(in_plan, totals.c.last_effect_hour >= now_hour).distinct().subquery()   # DISTINCT: not flattened
        # (flattened, SQLite drives the join from the hour table: every hour row of the range, not the few recent)
        h_key, _ = scope.of(hours)
        parts.append(select(h_key.label("k"), hours.c.currency.label("cur"),
                            (hours.c.moment_hour * HOUR_SLOTS).label("slot"), *(hours.c[v].label(v) for v in values))
                     .select_from(recent.join(hours, and_(*(hours.c[c] == recent.c[c] for c in total.matches),
                                                          hours.c.moment_hour == recent.c.moment_hour)))
                     .where(hours.c.effect_hour < now_hour))
    rows = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
    return select(rows.c.k, rows.c.cur, func.min(rows.c.slot), *(func.sum(rows.c[v]) for v in values)) \
        .group_by(rows.c.k, rows.c.cur, *bucketing.of(rows.c.slot))


@lru_cache(maxsize=1024)
def _midnights(start: datetime, end: datetime, tz: str) -> tuple[int, ...]:
    """The quarter-hours (slot_of) the local days of [start, end] in `tz` end at (remembered: a read's plan and
    bucketing both ask, for every team read over the same month)."""
    zone = ZoneInfo(tz)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    midnights = []
    while day <= last:
        day += timedelta(days=1)
        midnights.append(slot_of(datetime.combine(day, datetime.min.time(), zone)))
    return tuple(midnights)


def _bucketing(start: datetime, end: datetime, tz: str | None, cutoff_slot: int | None,
               daily: bool = False) -> _Bucketing:
    """What read_sums groups quarter-hours by: their UTC day (`daily`); each alone without `tz`; else their local
    day in `tz` (the quarter-hours since the range's first local midnight, in days; a CASE over its local midnights
    where the zone's offset changes in it), UTC day (the rate's) and side of the refund cut-off."""
    if daily:
        return _Bucketing("daily")
    if tz is None:
        return _Bucketing("slot")
    midnights = _midnights(start, end, tz)
    first = slot_of(datetime.combine(start.astimezone(ZoneInfo(tz)).date(), datetime.min.time(), ZoneInfo(tz)))
    if all(b - a == DAY_SLOTS for a, b in pairwise([first, *midnights])):
        # no change of the zone's offset in the range, its first day included: its local days are whole UTC days
        # shifted (an expression as cheap to build and run as the UTC day's, where a CASE is one bound term per
        # day); no quarter-hour of the range is before `first`, so the division is of no negative number
        return _Bucketing("shifted", first=first, cutoff_slot=cutoff_slot)
    return _Bucketing("case", midnights=midnights, cutoff_slot=cutoff_slot)


def shape_moments(conn: Connection, shops: Sequence[int], basis: CountOrdersAt, start: datetime,
                  end: datetime, tz: str | None = None) -> list[tuple[datetime, int]] | None:
    """(quarter-hour, orders) of the not cancelled, not sample orders of `shops` counted in [start, end) (both on
    the quarter-hour), whatever `now`: what a team's pace shape is learned from (scoring.shape). By the hour
    instead when every offset of `tz` in the range is a whole hour (a UTC hour is then one local hour). None
    when an order is due (changed in this transaction, not yet folded)."""
    if not _aligned(start) or not _aligned(end) or conn.execute(select(DUE.c.order_id).limit(1)).first() is not None:
        return None
    step = HOUR_SLOTS if tz is not None and _whole_hours(tz, start, end) else 1
    bucket = SHAPE.c.moment_slot // step if step > 1 else SHAPE.c.moment_slot
    rows = conn.execute(
        select(bucket, func.sum(SHAPE.c.orders))
        .where(SHAPE.c.shop_id.in_(shops), SHAPE.c.basis == basis.value, SHAPE.c.moment_slot >= slot_of(start),
               SHAPE.c.moment_slot < slot_of(end))
        .group_by(bucket))
    return [(slot_start(b * step), int(n)) for b, n in rows if n]


def _whole_hours(tz: str, start: datetime, end: datetime) -> bool:
    zone = ZoneInfo(tz)
    moment = start
    while moment <= end:
        offset = moment.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        moment += timedelta(hours=6)
    return True


# conn.info flag of a connection whose transactions write no order, refund or line (storage.events' claims): its
# commits skip the due check (on PostgreSQL a round trip per commit, on every message answered)
NO_ORDERS = "writes_no_orders"

_MIGRATED: weakref.WeakSet[Engine] = weakref.WeakSet()   # engines whose store has the sums (checked until then)


def forget(engine: Engine) -> None:
    """`engine`'s store no longer has the sums (migration 0035, 0033 or 0032 undone): check again before folding."""
    _MIGRATED.discard(engine)


def keep_current(engine: Engine) -> None:
    """Fold the due orders into the sums before each of `engine`'s transactions commits (see the module
    docstring)."""

    @event.listens_for(engine, "commit")
    def _fold_before_commit(conn: Connection) -> None:
        if conn.info.get("folding") or conn.info.get(NO_ORDERS):
            return
        raw = conn.connection.driver_connection
        if conn.dialect.name == "sqlite" and not getattr(raw, "in_transaction", True):
            return   # pysqlite opens a transaction at the first write only: this one wrote nothing
        if engine not in _MIGRATED:
            if not conn.dialect.has_table(conn, MEMBER_TOTAL.name):   # a store before 0035: its orders stay due
                return
            _MIGRATED.add(engine)
        conn.info["folding"] = True
        try:
            if conn.execute(select(DUE.c.order_id).limit(1)).first() is not None:
                fold_due(conn)
        finally:
            conn.info["folding"] = False
