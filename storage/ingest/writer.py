"""Writes pages of neutral records (storage.ingest.records) into the store: exact, idempotent, fast.

What "nothing lost, doubled or misattributed" means here:
- Every row is keyed by the platform's ids within its shop and written with INSERT .. ON CONFLICT DO UPDATE,
  so writing a page again adds nothing and an order whose status or refunds change is updated in place (the
  lines of an order the transaction itself just created cannot be stored yet: a plain insert, ORDER_NEW). The
  page's stored rows are read once first and compared, so only new or changed rows are written (the counts
  say inserted / updated / unchanged; the sum is the number of records).
- One `write_page` call is one transaction. `transaction()` holds one open over several writes, together with
  whatever the caller adds on its connection: the sync writes its pages as they come and commits them with
  their cursor every few seconds (storage.ingest.sync: a batch), so a crash leaves either all of a batch's
  records and their cursor or neither.
- Orders and affiliate lines never go backwards: a record older than the stored row (platform update time)
  is left out, also under a concurrent writer (the upsert's WHERE).
- Money becomes integer minor units with the currency's exponent (`scoring.money.to_minor`: exact, and an
  amount finer than the currency allows is refused rather than rounded; remembered per amount, `MinorUnits`).
  Never float. Orders are compared and written as `EncodedOrder`s (storage.ingest.encoding): a source that runs in
  its own process encodes its orders there (`encoder`); OrderRecords are encoded here.
- `Order.units` is the sum of the line quantities; `Order.refunded_minor` is recomputed in SQL from the
  order's completed refunds in the order's currency whenever one of its refunds is written.
- The record's lines are the order's lines: a stored line missing from a newer record is deleted (unless the
  record carries no lines at all, as from sources without line detail). Refunds are never deleted: sources
  that fetch returns separately send orders without them. Visits (UTM) are replaced wholesale.
- A return whose order is not stored yet goes to `pending_return` and moves onto the order, in the order's
  transaction, when the order arrives; so the returns cursor may advance past it and nothing is lost.
- Shipped times: a record without one keeps the stored one (Amazon orders never carry it), in the comparison
  (so a re-fetched order is unchanged) and in the upsert (COALESCE, for a concurrent writer). A ShipmentRecord
  (Amazon's ShipmentEvent) sets the order's shipped time where it has none or a later one, so the earliest
  shipment counts; one whose order is not stored yet goes to `pending_shipment` (the earliest per order) and is
  set on the order, in the order's transaction, when the order arrives, as parked returns are.
- Buyer ids are pseudonymised, never stored raw: `buyer_ref` is the first 32 hex digits of
  sha256("<shop platform>:<buyer id>"), or of HMAC-SHA256 with `buyer_key` when one is given. The same
  buyer keeps one ref per platform (new-customer counts work); without a key a guessable id can be
  recovered by trying candidates, so deployments that care should pass a secret key (and keep it).
- Products and SKUs are created on first sight (keyed by platform ids within the shop, never renamed); their
  ids are cached per writer, and only after the transaction that created them committed.
- Catalogue records (ProductRecord: TikTok product search, Shopee item info) only create or fill: a product or
  SKU the shop does not have is created; a stored one gets its name (and SKU seller_sku) only where empty and
  its launch date only where unset, so what `kpibot products import` set (launch date, selector, cost,
  units received) always stays. Unit cost is never written: no shop API gives one. Stock: the record's SKU
  stock becomes the InventorySnapshot of its `stock_day`, replacing a figure an earlier sync stored for that
  day (the newest sync of the day wins) but never one an import stored (`InventorySnapshot.imported`).
- Live sessions, posts and ad spend get their member (code == host handle / author / ad account) when first
  inserted only; later updates keep whatever mapping the row has. Sessions and posts keep the platform's handle
  (host_handle, author_handle): services.crediting maps them to members by their handles after each write.
- Attribution columns of orders (member, live session, post, creator, rule) are never touched here; an order
  written (new or changed), given new visits, or named by a new or changed affiliate line is marked
  `attribution_due` for the attribution job (storage.attribution), in the same transaction.
- `promo_code` holds all the order's codes in the platform's order, comma-separated (up to 255 characters).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, ClassVar, cast

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    column,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.visitors import InternalTraversal

from scoring.money import to_minor
from storage.engine import write_cache
from storage.ingest.encoding import (
    CURRENCY,
    ORDER_COLS,
    ORDER_TIMES,
    SQLITE_DATETIME_FORMAT,
    UPDATED,
    EncodedOrder,
    OrderEncoder,
    clean_name,
    cut,
    naive_utc,
    sqlite_utc_text,
)
from storage.ingest.records import (
    AdSpendRecord,
    AffiliateRecord,
    LiveRecord,
    OrderRecord,
    PostRecord,
    ProductRecord,
    Record,
    RefundRecord,
    ReturnRecord,
    ShipmentRecord,
    Visit,
)
from storage.models import (
    AdSpend,
    AffiliateLine,
    ContentPost,
    InventorySnapshot,
    LiveSession,
    Member,
    Order,
    OrderLine,
    OrderVisit,
    PendingReturn,
    PendingShipment,
    Product,
    Refund,
    Shop,
    Sku,
)
from storage.types import UTCDateTime, table_of
from storage.upsert import dialect_insert

log = logging.getLogger(__name__)


ORDER, LINE, REFUND, VISIT = table_of(Order), table_of(OrderLine), table_of(Refund), table_of(OrderVisit)
PRODUCT, SKU, PENDING, SHOP = table_of(Product), table_of(Sku), table_of(PendingReturn), table_of(Shop)
STOCK, PENDING_SHIP = table_of(InventorySnapshot), table_of(PendingShipment)
SHIPPED = ORDER_COLS.index("shipped_at")   # EncodedOrder values[SHIPPED]
AFFILIATE, LIVE, POST, ADS, MEMBER = (table_of(AffiliateLine), table_of(LiveSession), table_of(ContentPost),
                                      table_of(AdSpend), table_of(Member))

# The columns the writer owns, compared with the stored row and then written (orders: ORDER_COLS); everything
# else on a row (attribution, costs, stock) is left alone.
LINE_COLS = ("product_id", "sku_id", "quantity", "currency", "unit_price_minor", "amount_minor")
REFUND_COLS = ("kind", "status", "currency", "amount_minor", "returned_units", "requested_at", "completed_at")
VISIT_COLS = ("at", "utm_source", "utm_medium", "utm_campaign", "utm_content", "landing_page")
AFFILIATE_COLS = ("content_type", "content_id", "commission_rate", "currency", "amount_minor", "quantity",
                  "refunded_quantity", "status", "created_at", "updated_at")
LIVE_COLS = ("title", "started_at", "ended_at", "viewers", "views", "watch_seconds", "interactions",
             "new_followers", "currency", "gmv_minor", "host_handle")
POST_COLS = ("kind", "published_at", "views", "likes", "comments", "shares", "add_to_cart", "orders",
             "new_followers", "author_handle")
ADS_COLS = ("currency", "spend_minor", "clicks", "impressions", "live_room_visitors", "attributed_gmv_minor")

# PostgreSQL, for the writer's transactions only. synchronous_commit off: the commit returns before its WAL is
# flushed, so a crash of the database server (not of this process) may lose the last moment's pages, but
# always together with their cursor, so the next sync fetches them again: nothing is lost or doubled.
# The writer's own statements are never prepared on the server (the driver's prepare_threshold is None for the
# transaction): a plan cached while a table was small must not stay in use for the rest of a long sync, by then
# over millions of rows; planning a page's statements costs ~0.2 ms. (Not `plan_cache_mode force_custom_plan`:
# that also re-plans the foreign-key checks' cached queries, once per row and key, ~20 us each: three quarters
# of an order line's insert.)
PG_PAGE_SETTINGS = "SET LOCAL synchronous_commit TO OFF"

# PostgreSQL plans by table statistics, which autovacuum refreshes only now and then: during a first sync
# the order tables grow from nothing to millions of rows in minutes, and with stale statistics the planner
# reads all of a shop's orders (the shop_id index) to find a page's 100. So a writer analyzes the tables
# it grows after 5,000 new rows, then at every tenfold (50,000, 500,000 ...), as after any bulk load.
PG_ANALYZE = "ANALYZE shop_order, order_line, refund, order_visit, affiliate_line"
PG_ANALYZE_FIRST = 5_000

IN_CHUNK = 5000   # values per IN (...) list, far below both backends' bound-parameter limits


@dataclass(slots=True)
class WriteCounts:
    """What a write did, one count per record: `pending` returns and shipped times wait for their order."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    pending: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(self.inserted + other.inserted, self.updated + other.updated,
                           self.unchanged + other.unchanged, self.pending + other.pending)

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.pending


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _chunk_sizes(n: int, per: int) -> Iterable[int]:
    """Rows per statement: full chunks of `per`, then the rest in powers of two, so that a table's statements
    come in a few sizes that SQLite prepares once and reuses (any count of rows would make a new one each time)."""
    while n >= per:
        yield per
        n -= per
    bit = 1 << max(0, per.bit_length() - 1)
    while n:
        if n >= bit:
            yield bit
            n -= bit
        bit >>= 1


# --- bulk statements ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Upsert:
    """INSERT (cols) VALUES (..), (..) ON CONFLICT (keys) DO UPDATE SET `update` [WHERE not older] [RETURNING].
    No `update`: DO NOTHING. With `newer`, the stored row is only replaced by one whose `newer` column is not
    older (a stored NULL is older than anything). SQLite (>= 3.35) and PostgreSQL read the same SQL. No `keys`:
    a plain INSERT, for rows that cannot conflict (the lines of an order this transaction created)."""

    table: Table
    cols: tuple[str, ...]
    keys: tuple[str, ...]
    update: tuple[str, ...] = ()
    newer: str | None = None
    returning: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()   # `update` columns a NULL does not overwrite (the stored value stays)
    encoded: bool = False   # rows come with values as the driver takes them (EncodedOrder.values ...): no processing


class Bulk:
    """Runs `Upsert`s of many rows as one statement through the driver, skipping SQLAlchemy's per-row work:
    the hot path of a sync.
    - SQLite gets one multi-row VALUES list, run on the driver's own cursor (SQLAlchemy's per-statement work and
      its Row objects for the RETURNING ids cost ~3 us per order).
    - PostgreSQL gets the rows by binary COPY into a temporary staging table (made in the transaction, dropped
      at its end) and one INSERT .. SELECT from it. psycopg formats COPY rows in C; adapting the same rows as
      one array per column for `unnest` cost ~24 ms of Python per 1,000 order rows against ~1 ms (a
      1,000,000-order sync: 89 s of this process's CPU before, 48.5 s after; tests/benchmarks/bench_sync.py).
    Values go through each column's own bind processor (UTCDateTime, ExactDecimal, SQLite's date format ...),
    so rows are stored exactly as the ORM stores them."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
            raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old for the store writer (needs 3.35+)")
        self.dialect = dialect
        self.postgres = dialect.name == "postgresql"
        if self.postgres and dialect.driver != "psycopg":
            raise RuntimeError(f"the store writer needs the psycopg driver on PostgreSQL, not {dialect.driver}")
        self.mark = "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"
        self.max_params: int | None = None   # SQLite's bound-value limit, read from the first connection
        self._sql: dict[tuple[Upsert, int], str] = {}
        self._copy_types: dict[Upsert, list[int]] = {}   # PostgreSQL: the column type oids of a COPY's rows
        self._procs: dict[Upsert, list[tuple[int, Callable[[Any], Any]]]] = {}

    def run(self, conn: Connection, spec: Upsert, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Write `rows` (values in `spec.cols` order); the RETURNING rows, if any."""
        procs = self._procs.get(spec)
        if procs is None:
            procs = self._procs[spec] = [] if spec.encoded else [
                (i, p) for i, c in enumerate(spec.cols) if (p := self._processor(spec.table.c[c].type)) is not None]
        out: list[Any] = []
        if not rows:
            return out
        if self.postgres:
            if procs:
                columns = [list(column) for column in zip(*rows, strict=True)]
                for i, p in procs:
                    columns[i] = [None if v is None else p(v) for v in columns[i]]
                rows = list(zip(*columns, strict=True))
            if not spec.keys and not spec.returning:   # nothing to merge: straight into the table
                self._copy(conn, spec, spec.table.name, rows)
                return out
            self._stage(conn, spec, rows)
            result = conn.exec_driver_sql(self._text(spec, 0))
            return result.all() if spec.returning else out
        raw = cast(sqlite3.Connection, conn.connection.driver_connection)
        if self.max_params is None:   # 32,766 by default since SQLite 3.32; builds may differ
            self.max_params = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per = max(1, min(1000, self.max_params // len(spec.cols)))
        start = 0
        for size in _chunk_sizes(len(rows), per):
            chunk = rows[start:start + size]
            start += size
            if procs:   # column by column, then back into one flat row-major tuple
                columns = list(zip(*chunk, strict=True))
                for i, p in procs:
                    columns[i] = tuple([None if v is None else p(v) for v in columns[i]])
                params = tuple(chain.from_iterable(zip(*columns, strict=True)))
            else:
                params = tuple(chain.from_iterable(chunk))
            cursor = raw.execute(self._text(spec, len(chunk)), params)
            if spec.returning:
                out.extend(cursor.fetchall())
        return out

    def _stage(self, conn: Connection, spec: Upsert, rows: Sequence[Sequence[Any]]) -> None:
        """PostgreSQL: `rows` alone in the transaction's staging table of `spec` (made on first use)."""
        q = self.dialect.identifier_preparer.quote
        stage, cols = _stage_name(spec), ", ".join(q(c) for c in spec.cols)
        # client_min_messages: "already exists, skipping" is not worth a notice on every page
        conn.exec_driver_sql(f"SET LOCAL client_min_messages TO warning; "
                             f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
                             f"SELECT {cols} FROM {q(spec.table.name)} WITH NO DATA; TRUNCATE {stage}")
        self._copy(conn, spec, stage, rows)

    def _copy(self, conn: Connection, spec: Upsert, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """PostgreSQL: `rows` (`spec.cols`) added to `table` by binary COPY (the table's keys and checks apply)."""
        q = self.dialect.identifier_preparer.quote
        cols, table = ", ".join(q(c) for c in spec.cols), q(table)
        raw = cast(Any, conn.connection.driver_connection)   # a psycopg Connection
        with raw.cursor() as cur:
            types = self._copy_types.get(spec)
            if types is None:
                cur.execute(f"SELECT {cols} FROM {table} LIMIT 0")
                types = self._copy_types[spec] = [d.type_code for d in cur.description]
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    def _processor(self, type_: Any) -> Callable[[Any], Any] | None:
        """The column type's bind processor; UTCDateTime gets a faster equivalent (the hot path's most frequent
        value: the same text on SQLite, the same naive UTC datetime on PostgreSQL; tests/test_sync_batches.py
        compares them)."""
        generic = type_.dialect_impl(self.dialect).bind_processor(self.dialect)
        if not isinstance(type_, UTCDateTime):
            return generic
        if self.postgres:
            return naive_utc
        stored = getattr(type_.impl_instance.dialect_impl(self.dialect), "_storage_format", None)
        return sqlite_utc_text if stored == SQLITE_DATETIME_FORMAT else generic

    def _text(self, spec: Upsert, n: int) -> str:
        sql = self._sql.get((spec, n))
        if sql is None:
            q = self.dialect.identifier_preparer.quote
            table = q(spec.table.name)
            head = f"INSERT INTO {table} ({', '.join(q(c) for c in spec.cols)}) "
            if self.postgres:
                sql = head + f"SELECT {', '.join(q(c) for c in spec.cols)} FROM {_stage_name(spec)}"
            else:
                one = "(" + ", ".join([self.mark] * len(spec.cols)) + ")"
                sql = head + "VALUES " + ", ".join([one] * n)
            if spec.keys:
                sql += f" ON CONFLICT ({', '.join(q(k) for k in spec.keys)}) "
                if spec.update:
                    sql += "DO UPDATE SET " + ", ".join(
                        f"{q(c)} = COALESCE(excluded.{q(c)}, {table}.{q(c)})" if c in spec.keep else
                        f"{q(c)} = excluded.{q(c)}" for c in spec.update)
                    if spec.newer:
                        col = f"{table}.{q(spec.newer)}"
                        sql += f" WHERE {col} IS NULL OR excluded.{q(spec.newer)} >= {col}"
                else:
                    sql += "DO NOTHING"
            if spec.returning:
                sql += " RETURNING " + ", ".join(q(c) for c in spec.returning)
            if len(self._sql) > 256:   # row counts vary (file imports): keep the cache small
                self._sql.clear()
            self._sql[spec, n] = sql
        return sql


def _stage_name(spec: Upsert) -> str:
    """The PostgreSQL staging table of an Upsert: named by its table and columns (one per shape)."""
    digest = hashlib.sha1(",".join(spec.cols).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"kpibot_stage_{spec.table.name}_{digest}"


ORDER_UPSERT = Upsert(ORDER, ("shop_id", "platform_order_id", *ORDER_COLS, "refunded_minor", "attribution_due"),
                      ("shop_id", "platform_order_id"), (*ORDER_COLS, "attribution_due"), newer="platform_updated_at",
                      returning=("id", "platform_order_id"), keep=("shipped_at",), encoded=True)
# An order that was not stored goes in by ORDER_NEW: the rows it returns are the orders this transaction created,
# whose lines cannot be stored yet, so they go in by LINE_NEW, a plain insert (on PostgreSQL a COPY straight into
# order_line: no staging table, no conflict check; about 6 us an order of the server's work on a first sync). An
# order ORDER_NEW did not return was stored by another writer meanwhile: it takes the ORDER_UPSERT path, and when
# its version is the newer one its lines (if it lists any) and visits replace the other writer's whole.
ORDER_NEW = Upsert(ORDER, ORDER_UPSERT.cols, ORDER_UPSERT.keys, returning=ORDER_UPSERT.returning, encoded=True)
LINE_UPSERT = Upsert(LINE, ("order_id", "platform_line_id", *LINE_COLS), ("order_id", "platform_line_id"), LINE_COLS)
LINE_NEW = Upsert(LINE, LINE_UPSERT.cols, ())
REFUND_UPSERT = Upsert(REFUND, ("order_id", "platform_refund_id", *REFUND_COLS), ("order_id", "platform_refund_id"),
                       REFUND_COLS)
VISIT_UPSERT = Upsert(VISIT, ("order_id", "position", *VISIT_COLS), ("order_id", "position"), VISIT_COLS)
PENDING_UPSERT = Upsert(PENDING, ("shop_id", "platform_order_id", "platform_refund_id", *REFUND_COLS, "updated_at"),
                        ("shop_id", "platform_order_id", "platform_refund_id"), (*REFUND_COLS, "updated_at"),
                        newer="updated_at")
PRODUCT_INSERT = Upsert(PRODUCT, ("shop_id", "platform_product_id", "name", "units_received"),
                        ("shop_id", "platform_product_id"))
SKU_INSERT = Upsert(SKU, ("product_id", "platform_sku_id", "seller_sku", "name", "currency", "unit_cost_minor"),
                    ("product_id", "platform_sku_id"))


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one non-order record type is stored: keyed by (shop_id, *keys), compared and updated on `cols`;
    `insert_only` columns (the member mapping) are set when the row is created and then left alone."""

    table: Table
    keys: tuple[str, ...]
    cols: tuple[str, ...]
    insert_only: tuple[str, ...] = ()
    newer: str | None = None

    @property
    def upsert(self) -> Upsert:
        return Upsert(self.table, ("shop_id", *self.keys, *self.cols, *self.insert_only), ("shop_id", *self.keys),
                      self.cols, newer=self.newer)


AFFILIATE_KIND = _Kind(AFFILIATE, ("platform_order_id", "platform_product_id", "platform_sku_id", "creator_handle"),
                       AFFILIATE_COLS, newer="updated_at")
LIVE_KIND = _Kind(LIVE, ("platform_session_id",), LIVE_COLS, ("host_member_id",))
POST_KIND = _Kind(POST, ("platform_post_id",), POST_COLS, ("member_id",))
ADS_KIND = _Kind(ADS, ("campaign_id", "day"), ADS_COLS, ("member_id",))

class _AnyOf(ColumnElement[bool]):
    """`column IN (:name...)` with a list of values; on PostgreSQL `column = ANY(:name)`, one array parameter, so
    a read of a thousand keys is planned as fast as a read of one (a thousand-value IN list took ~10 ms to plan,
    once per write: tests/benchmarks/bench_sync.py)."""

    inherit_cache = True
    type = NullType()
    _traverse_internals: ClassVar[Any] = [("column", InternalTraversal.dp_clauseelement),
                                          ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column, self.name = column, name


class _JsonList(TypeDecorator[list[Any]]):
    """A list of keys or ids bound as one JSON array text (SQLite's json_each reads it)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value))


@compiles(_AnyOf)
def _any_of(element: _AnyOf, compiler: Any, **kw: Any) -> str:
    """SQLite: `column IN (SELECT value FROM json_each(:name))`, one JSON text parameter. An expanding IN list
    rendered a thousand parameters on every execution: about 1.5 us of SQLAlchemy per order in a first sync
    (tests/benchmarks/bench_sync.py). The planner still looks each value up in the column's index."""
    keys = select(column("value")).select_from(func.json_each(bindparam(element.name, type_=_JsonList())))
    return compiler.process(element.column.in_(keys.scalar_subquery()), **kw)


@compiles(_AnyOf, "postgresql")
def _any_of_array(element: _AnyOf, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column == any_(bindparam(element.name, type_=ARRAY(element.column.type))), **kw)


# The page's reads, built once ("keys" and "ids" take lists of at most IN_CHUNK values).
_SHOP = bindparam("shop")
STORED_ORDERS = (select(ORDER.c.id, ORDER.c.platform_order_id, *(ORDER.c[c] for c in ORDER_COLS))
                 .where(ORDER.c.shop_id == _SHOP, _AnyOf(ORDER.c.platform_order_id, "keys")))
ORDER_IDS = (select(ORDER.c.id, ORDER.c.platform_order_id, ORDER.c.currency)
             .where(ORDER.c.shop_id == _SHOP, _AnyOf(ORDER.c.platform_order_id, "keys")))
STORED_LINES = (select(LINE.c.order_id, LINE.c.platform_line_id, LINE.c.id, *(LINE.c[c] for c in LINE_COLS))
                .where(_AnyOf(LINE.c.order_id, "ids")))
STORED_REFUNDS = (select(REFUND.c.order_id, REFUND.c.platform_refund_id, REFUND.c.id,
                         *(REFUND.c[c] for c in REFUND_COLS)).where(_AnyOf(REFUND.c.order_id, "ids")))
STORED_VISITS = (select(VISIT.c.order_id, *(VISIT.c[c] for c in VISIT_COLS))
                 .where(_AnyOf(VISIT.c.order_id, "ids")).order_by(VISIT.c.order_id, VISIT.c.position))
PENDING_FOR = (select(PENDING.c.id, PENDING.c.platform_order_id, PENDING.c.platform_refund_id, PENDING.c.updated_at,
                      *(PENDING.c[c] for c in REFUND_COLS))
               .where(PENDING.c.shop_id == _SHOP, _AnyOf(PENDING.c.platform_order_id, "keys")))
# returns parked before their order that can move now (their order arrived through another writer)
PENDING_READY = (select(PENDING.c.id, ORDER.c.id, PENDING.c.platform_refund_id, PENDING.c.updated_at,
                        ORDER.c.platform_updated_at, *(PENDING.c[c] for c in REFUND_COLS))
                 .join(ORDER, (ORDER.c.shop_id == PENDING.c.shop_id)
                       & (ORDER.c.platform_order_id == PENDING.c.platform_order_id))
                 .where(PENDING.c.shop_id == _SHOP))
ANY_PENDING = select(PENDING.c.id).where(PENDING.c.shop_id == _SHOP).limit(1)
# shipped times parked before their order (pending_shipment), read like the returns above
PENDING_SHIP_FOR = (select(PENDING_SHIP.c.id, PENDING_SHIP.c.platform_order_id, PENDING_SHIP.c.shipped_at)
                    .where(PENDING_SHIP.c.shop_id == _SHOP, _AnyOf(PENDING_SHIP.c.platform_order_id, "keys")))
PENDING_SHIP_READY = (select(PENDING_SHIP.c.id, ORDER.c.id, PENDING_SHIP.c.shipped_at)
                      .join(ORDER, (ORDER.c.shop_id == PENDING_SHIP.c.shop_id)
                            & (ORDER.c.platform_order_id == PENDING_SHIP.c.platform_order_id))
                      .where(PENDING_SHIP.c.shop_id == _SHOP))
ANY_PENDING_SHIP = select(PENDING_SHIP.c.id).where(PENDING_SHIP.c.shop_id == _SHOP).limit(1)
STORED_SHIPPED = (select(ORDER.c.id, ORDER.c.platform_order_id, ORDER.c.shipped_at)
                  .where(ORDER.c.shop_id == _SHOP, _AnyOf(ORDER.c.platform_order_id, "keys")))
# the order's shipped time, unless it has one already that is not later
SHIP_ORDER = (update(ORDER).where(ORDER.c.id == bindparam("b_id"),
                                  or_(ORDER.c.shipped_at.is_(None), ORDER.c.shipped_at > bindparam("b_at")))
              .values(shipped_at=bindparam("b_at")))
REFUNDED = (update(ORDER).where(_AnyOf(ORDER.c.id, "ids"))
            .values(refunded_minor=select(func.coalesce(func.sum(REFUND.c.amount_minor), 0))
                    .where(REFUND.c.order_id == ORDER.c.id, REFUND.c.status == "completed",
                           REFUND.c.currency == ORDER.c.currency)
                    .scalar_subquery()))
PENDING_RECHECK_S = 60.0   # how long a writer trusts that a shop has no parked returns


# --- the writer -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Shop:
    id: int
    org_id: int
    platform: str
    currency: str = ""   # new SKUs from catalogue records take it


@dataclass(slots=True)
class _Tx:
    """One shop's part of a writer transaction: the connection, and the catalogue ids it created (cached after
    commit)."""

    conn: Connection
    bulk: Bulk
    shop: _Shop
    products: dict[str, int] = field(default_factory=dict)
    skus: dict[tuple[int, str], int] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    """What one order needs written; lines, refunds and visits are value tuples in *_COLS order."""

    updated: Any                                  # the record's platform update time, encoded
    values: tuple[Any, ...]                       # ORDER_COLS, encoded (see ORDER_UPSERT)
    write_order: bool                             # the order row itself is new or changed
    lines: dict[str, tuple[Any, ...]]             # to upsert, by platform line id
    stale_lines: list[int] = field(default_factory=list)
    refunds: dict[str, tuple[Any, ...]] = field(default_factory=dict)   # to upsert, by platform refund id
    visits: list[tuple[Any, ...]] | None = None   # the new visit list; None keeps the stored one
    stored: bool = False                          # the order was in the store before this page


class WriteTransaction:
    """An open transaction of a StoreWriter (StoreWriter.transaction): `write` as many pages as belong together;
    `conn` is the transaction's connection, for what the caller writes with them (the sync cursor)."""

    def __init__(self, writer: StoreWriter, conn: Connection) -> None:
        self.writer, self.conn = writer, conn
        self.shops: dict[int, _Tx] = {}   # per shop: the catalogue ids this transaction created
        self.inserted = 0

    def write(self, shop_id: int, records: Sequence[Record | EncodedOrder]) -> WriteCounts:
        writer = self.writer
        tx = self.shops.get(shop_id)
        if tx is None:
            tx = self.shops[shop_id] = _Tx(self.conn, writer._bulk, writer._shop(self.conn, shop_id))
        writer._check_pending(tx)
        counts = writer._write(tx, records)
        self.inserted += counts.inserted
        return counts


class StoreWriter:
    """Writes pages of records for shops. Keep one per process (or sync run): it caches catalogue ids and
    member look-ups. Not thread-safe."""

    def __init__(self, engine: Engine, buyer_key: bytes | None = None) -> None:
        self.engine = engine
        self._buyer_key = buyer_key
        self._bulk = Bulk(engine.dialect)
        self._shops: dict[int, _Shop] = {}
        self._products: dict[int, dict[str, int]] = defaultdict(dict)
        self._skus: dict[int, dict[tuple[int, str], int]] = defaultdict(dict)
        self._members: dict[tuple[int, str], int | None] = {}
        self._encoders: dict[str, OrderEncoder] = {}   # per platform
        if self._bulk._processor(UTCDateTime()) not in (sqlite_utc_text, naive_utc):
            raise RuntimeError("the store keeps datetimes in a format the order encoder does not make")
        self._pending: dict[int, tuple[bool, float]] = {}   # shop -> (has parked returns, when checked)
        self._inserted, self._analyze_at = 0, PG_ANALYZE_FIRST

    def encoder(self, shop_id: int) -> OrderEncoder:
        """What encodes this shop's OrderRecords for this store (a source in another process encodes with a copy)."""
        with self.engine.connect() as conn:
            return self._encoder(self._shop(conn, shop_id))

    def _encoder(self, shop: _Shop) -> OrderEncoder:
        encoder = self._encoders.get(shop.platform)
        if encoder is None:
            encoder = self._encoders[shop.platform] = OrderEncoder(self._bulk.postgres, shop.platform, self._buyer_key)
        return encoder

    def write_page(self, shop_id: int, records: Sequence[Record | EncodedOrder]) -> WriteCounts:
        """Write `records` of shop `shop_id` in one transaction of their own (file imports, tests)."""
        with self.transaction() as txn:
            return txn.write(shop_id, records)

    @contextmanager
    def transaction(self) -> Iterator[WriteTransaction]:
        """One transaction for several writes (a sync batch): committed when the block ends, rolled back when it
        raises. Catalogue ids it creates are remembered only once it committed."""
        with self.engine.connect() as conn, write_cache(conn), conn.begin():
            raw, threshold = None, None
            if self._bulk.postgres:
                conn.exec_driver_sql(PG_PAGE_SETTINGS)
                raw = conn.connection.driver_connection
                threshold, raw.prepare_threshold = raw.prepare_threshold, None   # type: ignore[union-attr]
            txn = WriteTransaction(self, conn)
            try:
                yield txn
            finally:
                if raw is not None:
                    raw.prepare_threshold = threshold   # type: ignore[union-attr]
        for shop_id, tx in txn.shops.items():   # committed: these ids exist now
            self._products[shop_id].update(tx.products)
            self._skus[shop_id].update(tx.skus)
        self._inserted += txn.inserted
        if self._bulk.postgres and self._inserted >= self._analyze_at:
            self._analyze_at *= 10
            try:   # only for the planner: the transaction above has committed, whatever happens here
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(PG_ANALYZE)
            except Exception as exc:
                log.warning("ANALYZE after a sync batch failed (%s); the sync goes on", type(exc).__name__)

    def _write(self, tx: _Tx, records: Sequence[Record | EncodedOrder]) -> WriteCounts:
        groups: dict[type, list[Any]] = defaultdict(list)
        for record in records:
            groups[type(record)].append(record)
        unknown = set(groups) - {tuple, OrderRecord, ReturnRecord, ShipmentRecord, AffiliateRecord, LiveRecord,
                                 PostRecord, AdSpendRecord, ProductRecord}
        if unknown:
            raise TypeError(f"cannot store records of type {', '.join(sorted(t.__name__ for t in unknown))}")
        counts = WriteCounts()
        orders: list[EncodedOrder] = groups[tuple]   # encoded orders are plain tuples (records are NamedTuples)
        if groups[OrderRecord]:
            encode = self._encoder(tx.shop).encode
            orders = [encode(r) for r in groups[OrderRecord]] if not orders else \
                [r if type(r) is tuple else encode(r) for r in records if type(r) in (tuple, OrderRecord)]
        if orders:   # orders first: a return in the same page then finds its order
            counts += self._orders(tx, orders)
        if groups[ReturnRecord]:
            counts += self._returns(tx, groups[ReturnRecord])
        if groups[ShipmentRecord]:
            counts += self._shipments(tx, groups[ShipmentRecord])
        if groups[AffiliateRecord]:
            counts += self._merge(tx, AFFILIATE_KIND, [self._affiliate(tx, r) for r in groups[AffiliateRecord]])
        if groups[LiveRecord]:
            counts += self._merge(tx, LIVE_KIND, [self._live(tx, r) for r in groups[LiveRecord]])
        if groups[PostRecord]:
            counts += self._merge(tx, POST_KIND, [self._post(tx, r) for r in groups[PostRecord]])
        if groups[AdSpendRecord]:
            counts += self._merge(tx, ADS_KIND, [self._ads(tx, r) for r in groups[AdSpendRecord]])
        if groups[ProductRecord]:
            counts += self._product_records(tx, groups[ProductRecord])
        return counts

    # --- orders ---------------------------------------------------------------------------------------------------

    def _orders(self, tx: _Tx, records: list[EncodedOrder]) -> WriteCounts:
        counts = WriteCounts()
        latest: dict[str, EncodedOrder] = {}
        for r in records:   # an order listed twice in one page (updated while paging): keep the newest
            seen = latest.get(r[0])
            if seen is None or r[1][UPDATED] >= seen[1][UPDATED]:
                latest[r[0]] = r
        counts.unchanged += len(records) - len(latest)
        self._catalogue(tx, latest.values())
        conn, shop = tx.conn, tx.shop

        stored: dict[str, Any] = {}
        for keys in _chunks(list(latest)):
            stored.update((row[1], row) for row in conn.execute(STORED_ORDERS, {"shop": shop.id, "keys": keys}))
        lines, refunds, visits = self._children(conn, [row[0] for row in stored.values()])
        plans: dict[str, _Plan] = {}
        for pid, record in latest.items():
            old = stored.get(pid)
            plan = self._plan(tx, record, old, lines, refunds, visits)
            if plan is None:
                counts.unchanged += 1
            else:
                plans[pid] = plan
                if old is None:
                    counts.inserted += 1
                else:
                    counts.updated += 1
        if not plans:
            return counts
        if self._pending[shop.id][0]:
            self._take_pending(tx, plans)

        ids = {pid: stored[pid][0] for pid in plans if pid in stored}
        rows = [(shop.id, pid, *plan.values, 0, True) for pid, plan in plans.items() if plan.stored and
                plan.write_order]
        new = [(shop.id, pid, *plan.values, 0, True) for pid, plan in plans.items() if not plan.stored]
        created: set[int] = set()   # orders this transaction created (ORDER_NEW): their lines go in plainly
        raced: set[int] = set()     # orders another writer stored meanwhile, replaced here by a newer version
        if new:
            for oid, pid in tx.bulk.run(conn, ORDER_NEW, new):
                ids[pid] = oid
                created.add(oid)
            rows.extend(row for row in new if row[1] not in ids)   # stored by another writer meanwhile
        if rows:
            written = {pid: oid for oid, pid in tx.bulk.run(conn, ORDER_UPSERT, rows)}
            for row in rows:
                if row[1] in written:
                    ids[row[1]] = written[row[1]]
                    if not plans[row[1]].stored:
                        raced.add(written[row[1]])
                else:   # another writer stored a newer version meanwhile: leave that one whole
                    ids.pop(row[1], None)
        line_rows, new_line_rows, stale, refund_rows, visit_rows, visit_orders, due = [], [], [], [], [], [], []
        relined = []   # raced orders whose lines this version lists: the other writer's are replaced whole
        for pid, plan in plans.items():
            oid = ids.get(pid)
            if oid is None:
                continue
            if oid in raced:   # as an update of a stored order would: lines if it lists any, visits always
                if plan.lines:
                    relined.append(oid)
                visit_orders.append(oid)
            (new_line_rows if oid in created or oid in raced else line_rows).extend(
                (oid, lid, *values) for lid, values in plan.lines.items())
            stale.extend(plan.stale_lines)
            refund_rows.extend((oid, rid, *values) for rid, values in plan.refunds.items())
            if plan.visits is not None:
                if plan.stored:
                    visit_orders.append(oid)
                    if not plan.write_order:   # new visits may change the tracked-link credit
                        due.append(oid)
                visit_rows.extend((oid, i, *values) for i, values in enumerate(plan.visits))
        # the lines the other writer stored were never read, so none is known stale: they are all replaced
        for chunk in _chunks(relined):
            conn.execute(delete(LINE).where(LINE.c.order_id.in_(chunk)))
        if new_line_rows:
            tx.bulk.run(conn, LINE_NEW, new_line_rows)
        if line_rows:
            tx.bulk.run(conn, LINE_UPSERT, line_rows)
        for chunk in _chunks(stale):
            conn.execute(delete(LINE).where(LINE.c.id.in_(chunk)))
        if refund_rows:
            tx.bulk.run(conn, REFUND_UPSERT, refund_rows)
            _refunded(conn, sorted({row[0] for row in refund_rows}))
        for chunk in _chunks(visit_orders):
            conn.execute(delete(VISIT).where(VISIT.c.order_id.in_(chunk)))
        if visit_rows:
            tx.bulk.run(conn, VISIT_UPSERT, visit_rows)
        for chunk in _chunks(due):
            conn.execute(update(ORDER).where(ORDER.c.id.in_(chunk)).values(attribution_due=True))
        return counts

    def _plan(self, tx: _Tx, r: EncodedOrder, old: Any, old_lines: dict[int, dict[str, Any]],
              old_refunds: dict[int, dict[str, Any]], old_visits: dict[int, list[tuple[Any, ...]]]) -> _Plan | None:
        """What to write for one order; None when the store holds it already (or a newer version). The hot path
        of a sync: kept to plain look-ups."""
        pid, values, encoded_lines, encoded_refunds, encoded_visits = r
        cur, updated = values[CURRENCY], values[UPDATED]
        products, skus, new_products, new_skus = self._products[tx.shop.id], self._skus[tx.shop.id], tx.products, \
            tx.skus
        lines: dict[str, tuple[Any, ...]] = {}
        for line_id, ppid, psid, _, _, quantity, unit_minor, amount_minor in encoded_lines:
            # a line listed twice: the last one counts (and its units once: OrderEncoder.encode)
            product_id = products.get(ppid) or new_products[ppid]
            sku_id = skus.get((product_id, psid)) or new_skus[product_id, psid]
            lines[line_id] = (product_id, sku_id, quantity, cur, unit_minor, amount_minor)
        refunds = {f.platform_refund_id: _refund_values(f) for f in encoded_refunds} if encoded_refunds else {}
        for rid, f in refunds.items():
            if f[2] != cur:
                log.warning("order %s: refund %s is in %s, not %s; it is not counted in refunded_minor", pid, rid,
                            f[2], cur)
        visits = [_visit_values(v) for v in encoded_visits]
        if old is None:
            return _Plan(updated, values, True, lines, [], refunds, visits or None)
        dt = self._encoder(tx.shop).encode_datetime
        if old.platform_updated_at is not None and updated < dt(old.platform_updated_at):
            return None   # older than the stored version: never go backwards
        oid = old[0]
        stored_values = list(old[2:])
        for i in ORDER_TIMES:
            if stored_values[i] is not None:
                stored_values[i] = dt(stored_values[i])
        if values[SHIPPED] is None and stored_values[SHIPPED] is not None:   # not known here: keep the stored one
            values = (*values[:SHIPPED], stored_values[SHIPPED], *values[SHIPPED + 1:])
        stored_lines = old_lines.get(oid, {})
        plan = _Plan(updated, values, values != tuple(stored_values),
                     {lid: v for lid, v in lines.items() if (s := stored_lines.get(lid)) is None or s[3:] != v},
                     [s[2] for lid, s in stored_lines.items() if lid not in lines] if lines else [], stored=True)
        stored_refunds = old_refunds.get(oid, {})
        plan.refunds = {rid: v for rid, v in refunds.items()
                        if (s := stored_refunds.get(rid)) is None or s[3:] != v}
        if visits != old_visits.get(oid, []):
            plan.visits = visits
        if plan.write_order or plan.lines or plan.stale_lines or plan.refunds or plan.visits is not None:
            return plan
        return None

    def _children(self, conn: Connection, order_ids: list[int]) -> tuple[dict[int, dict[str, Any]],
                                                                          dict[int, dict[str, Any]],
                                                                          dict[int, list[tuple[Any, ...]]]]:
        """The stored lines, refunds and visits of orders already stored (read only when a page has any)."""
        lines: dict[int, dict[str, Any]] = defaultdict(dict)
        refunds: dict[int, dict[str, Any]] = defaultdict(dict)
        visits: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for chunk in _chunks(order_ids):
            for row in conn.execute(STORED_LINES, {"ids": chunk}):
                lines[row[0]][row[1]] = row
            for row in conn.execute(STORED_REFUNDS, {"ids": chunk}):
                refunds[row[0]][row[1]] = row
            for row in conn.execute(STORED_VISITS, {"ids": chunk}):
                visits[row[0]].append(row[1:])
        return lines, refunds, visits

    def _check_pending(self, tx: _Tx) -> None:
        """Learn whether the shop has parked returns (again after PENDING_RECHECK_S, in case another writer
        parked some), and move those whose order has arrived meanwhile."""
        known = self._pending.get(tx.shop.id)
        if known is not None and (known[0] or time.monotonic() - known[1] < PENDING_RECHECK_S):
            return
        has = self._any_pending(tx)
        if has:
            ready = tx.conn.execute(PENDING_READY, {"shop": tx.shop.id}).all()
            stored: set[tuple[int, str]] = set()
            for chunk in _chunks(sorted({row[1] for row in ready})):
                stored.update((row[0], row[1]) for row in tx.conn.execute(STORED_REFUNDS, {"ids": chunk}))
            rows = [(oid, rid, *values) for _, oid, rid, updated, order_updated, *values in ready
                    if (oid, rid) not in stored or order_updated is None or updated > order_updated]
            if rows:
                tx.bulk.run(tx.conn, REFUND_UPSERT, rows)
                _refunded(tx.conn, sorted({row[0] for row in rows}))
            for chunk in _chunks([row[0] for row in ready]):
                tx.conn.execute(delete(PENDING).where(PENDING.c.id.in_(chunk)))
            ships = tx.conn.execute(PENDING_SHIP_READY, {"shop": tx.shop.id}).all()
            if ships:
                tx.conn.execute(SHIP_ORDER, [{"b_id": oid, "b_at": at} for _, oid, at in ships])
            for chunk in _chunks([row[0] for row in ships]):
                tx.conn.execute(delete(PENDING_SHIP).where(PENDING_SHIP.c.id.in_(chunk)))
            has = self._any_pending(tx)
        self._pending[tx.shop.id] = (has, time.monotonic())

    @staticmethod
    def _any_pending(tx: _Tx) -> bool:
        """Whether the shop has parked returns or shipped times."""
        return (tx.conn.execute(ANY_PENDING, {"shop": tx.shop.id}).first() is not None
                or tx.conn.execute(ANY_PENDING_SHIP, {"shop": tx.shop.id}).first() is not None)

    def _take_pending(self, tx: _Tx, plans: dict[str, _Plan]) -> None:
        """Move the returns that arrived before these orders onto them; of two reports of one refund, the
        newer wins (the order's update time against the return's). Parked shipped times are set where the
        order has none or a later one."""
        conn, taken, dt = tx.conn, [], self._encoder(tx.shop).encode_datetime
        for keys in _chunks(list(plans)):
            for row in conn.execute(PENDING_FOR, {"shop": tx.shop.id, "keys": keys}):
                taken.append(row[0])
                plan = plans[row[1]]
                if row[2] not in plan.refunds or dt(row[3]) > plan.updated:
                    plan.refunds[row[2]] = row[4:]
        for chunk in _chunks(taken):
            conn.execute(delete(PENDING).where(PENDING.c.id.in_(chunk)))
        taken = []
        for keys in _chunks(list(plans)):
            for sid, pid, at in conn.execute(PENDING_SHIP_FOR, {"shop": tx.shop.id, "keys": keys}):
                taken.append(sid)
                plan, shipped = plans[pid], dt(at)
                if plan.values[SHIPPED] is None or shipped < plan.values[SHIPPED]:
                    plan.values = (*plan.values[:SHIPPED], shipped, *plan.values[SHIPPED + 1:])
                    plan.write_order = True
        for chunk in _chunks(taken):
            conn.execute(delete(PENDING_SHIP).where(PENDING_SHIP.c.id.in_(chunk)))

    # --- returns ----------------------------------------------------------------------------------------------------

    def _returns(self, tx: _Tx, records: list[ReturnRecord]) -> WriteCounts:
        counts = WriteCounts()
        latest: dict[tuple[str, str], ReturnRecord] = {}
        for r in records:
            key = (r.platform_order_id, r.refund.platform_refund_id)
            seen = latest.get(key)
            if seen is None or r.updated_at >= seen.updated_at:
                latest[key] = r
        counts.unchanged += len(records) - len(latest)
        conn, shop = tx.conn, tx.shop
        orders: dict[str, tuple[int, str]] = {}
        for keys in _chunks(sorted({pid for pid, _ in latest})):
            rows = conn.execute(ORDER_IDS, {"shop": shop.id, "keys": keys})
            orders.update((pid, (oid, cur)) for oid, pid, cur in rows)
        stored: dict[tuple[int, str], Any] = {}
        for chunk in _chunks(sorted({oid for oid, _ in orders.values()})):
            stored.update(((row[0], row[1]), row) for row in conn.execute(STORED_REFUNDS, {"ids": chunk}))
        refunds, pending = [], []
        for (pid, rid), r in latest.items():
            values = _refund_values(r.refund)
            if pid not in orders:
                pending.append((shop.id, pid, rid, *values, r.updated_at))
                continue
            oid, cur = orders[pid]
            if values[2] != cur:
                log.warning("order %s: refund %s is in %s, not %s; it is not counted in refunded_minor", pid, rid,
                            values[2], cur)
            old = stored.get((oid, rid))
            if old is not None and old[3:] == values:
                counts.unchanged += 1
                continue
            if old is None:
                counts.inserted += 1
            else:
                counts.updated += 1
            refunds.append((oid, rid, *values))
        if refunds:
            tx.bulk.run(conn, REFUND_UPSERT, refunds)
            _refunded(conn, sorted({row[0] for row in refunds}))
        if pending:
            tx.bulk.run(conn, PENDING_UPSERT, pending)
            self._pending[shop.id] = (True, time.monotonic())
            counts.pending += len(pending)
            log.info("shop %s: %d returns wait for their orders in pending_return", shop.id, len(pending))
        return counts

    # --- shipped times learnt apart from their orders -------------------------------------------------------------

    def _shipments(self, tx: _Tx, records: list[ShipmentRecord]) -> WriteCounts:
        """The earliest shipped time per order: set on a stored order that has none or a later one (updated),
        else unchanged; parked in pending_shipment (earliest kept) while the order is not stored."""
        counts = WriteCounts()
        earliest: dict[str, ShipmentRecord] = {}
        for r in records:
            seen = earliest.get(r.platform_order_id)
            if seen is None or r.shipped_at < seen.shipped_at:
                earliest[r.platform_order_id] = r
        counts.unchanged += len(records) - len(earliest)
        conn, shop = tx.conn, tx.shop
        stored: dict[str, tuple[int, Any]] = {}
        for keys in _chunks(sorted(earliest)):
            stored.update((pid, (oid, at)) for oid, pid, at in conn.execute(STORED_SHIPPED,
                                                                             {"shop": shop.id, "keys": keys}))
        ship, pending = [], []
        for pid, r in earliest.items():
            if pid not in stored:
                pending.append({"shop_id": shop.id, "platform_order_id": pid, "shipped_at": r.shipped_at})
                continue
            oid, at = stored[pid]
            if at is not None and at <= r.shipped_at:
                counts.unchanged += 1
                continue
            counts.updated += 1
            ship.append({"b_id": oid, "b_at": r.shipped_at})
        if ship:
            conn.execute(SHIP_ORDER, ship)
        if pending:
            ins = dialect_insert(conn, PENDING_SHIP)
            conn.execute(ins.on_conflict_do_update(index_elements=["shop_id", "platform_order_id"],
                                                   set_={"shipped_at": ins.excluded.shipped_at},
                                                   where=ins.excluded.shipped_at < PENDING_SHIP.c.shipped_at), pending)
            self._pending[shop.id] = (True, time.monotonic())
            counts.pending += len(pending)
            log.info("shop %s: %d shipped times wait for their orders in pending_shipment", shop.id, len(pending))
        return counts

    # --- affiliate lines, lives, posts, ads ---------------------------------------------------------------------------

    def _affiliate(self, tx: _Tx, r: AffiliateRecord) -> tuple[Any, ...]:
        return (tx.shop.id, r.platform_order_id, r.platform_product_id, r.platform_sku_id, r.creator_handle,
                cut(r.content_type, 32),
                r.content_id, r.commission_rate, r.currency, to_minor(r.amount, r.currency), r.quantity,
                r.refunded_quantity, cut(r.status, 32), r.created_at, r.updated_at)

    def _live(self, tx: _Tx, r: LiveRecord) -> tuple[Any, ...]:
        return (tx.shop.id, r.platform_session_id, cut(r.title, 500), r.started_at, r.ended_at, r.viewers, r.views,
                r.watch_seconds, r.interactions, r.new_followers, r.currency, to_minor(r.gmv, r.currency),
                cut(r.host_handle, 128), self._member(tx, r.host_handle))

    def _post(self, tx: _Tx, r: PostRecord) -> tuple[Any, ...]:
        return (tx.shop.id, r.platform_post_id, cut(r.kind, 16), r.published_at, r.views, r.likes, r.comments,
                r.shares, r.add_to_cart, r.orders, r.new_followers, cut(r.author_handle, 128),
                self._member(tx, r.author_handle))

    def _ads(self, tx: _Tx, r: AdSpendRecord) -> tuple[Any, ...]:
        return (tx.shop.id, r.campaign_id, r.day, r.currency, to_minor(r.spend, r.currency), r.clicks, r.impressions,
                r.live_room_visitors, to_minor(r.attributed_gmv, r.currency), self._member(tx, r.buyer_ref))

    def _merge(self, tx: _Tx, kind: _Kind, rows: list[tuple[Any, ...]]) -> WriteCounts:
        """Upsert rows laid out as `kind.upsert.cols`, writing only new or changed ones."""
        counts = WriteCounts()
        nk, nc = 1 + len(kind.keys), len(kind.cols)
        newer = None if kind.newer is None else nk + kind.cols.index(kind.newer)
        latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in rows:
            key = row[1:nk]
            seen = latest.get(key)
            if seen is None or newer is None or row[newer] >= seen[newer]:
                latest[key] = row
        counts.unchanged += len(rows) - len(latest)
        stored: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        table = kind.table
        for chunk in _chunks(list(latest)):
            where = [table.c.shop_id == tx.shop.id,
                     *(table.c[k].in_(sorted({key[i] for key in chunk})) for i, k in enumerate(kind.keys))]
            for row in tx.conn.execute(select(*(table.c[k] for k in kind.keys), *(table.c[c] for c in kind.cols))
                                       .where(*where)):
                stored[row[:nk - 1]] = row[nk - 1:]
        todo = []
        for key, row in latest.items():
            old = stored.get(key)
            values = row[nk:nk + nc]
            if old is not None and (values == old or (newer is not None and row[newer] < old[newer - nk])):
                counts.unchanged += 1
                continue
            if old is None:
                counts.inserted += 1
            else:
                counts.updated += 1
            todo.append(row)
        if todo:
            tx.bulk.run(tx.conn, kind.upsert, todo)
            if kind is AFFILIATE_KIND:   # the platform's affiliate data decides the order's creator
                for chunk in _chunks(sorted({row[1] for row in todo})):
                    tx.conn.execute(update(ORDER).where(ORDER.c.shop_id == tx.shop.id,
                                                        ORDER.c.platform_order_id.in_(chunk))
                                    .values(attribution_due=True))
        return counts

    # --- catalogue records (products and stock) ---------------------------------------------------------------------

    def _product_records(self, tx: _Tx, records: list[ProductRecord]) -> WriteCounts:
        """Create or fill products and SKUs, and store their stock (the rule: module docstring). A record counts
        as updated when anything of it was written to a stored product."""
        counts = WriteCounts()
        latest = {r.platform_product_id: r for r in records}   # listed twice: the last one
        counts.unchanged += len(records) - len(latest)
        conn, shop = tx.conn, tx.shop
        stored: dict[str, Any] = {}
        for keys in _chunks(list(latest)):
            stored.update((row.platform_product_id, row) for row in conn.execute(
                select(PRODUCT.c.id, PRODUCT.c.platform_product_id, PRODUCT.c.name, PRODUCT.c.launched_on)
                .where(PRODUCT.c.shop_id == shop.id, PRODUCT.c.platform_product_id.in_(keys))))
        changed: set[str] = set()
        new = [{"shop_id": shop.id, "platform_product_id": ppid, "name": clean_name(r.name) or "",
                "launched_on": r.launched_on, "units_received": 0} for ppid, r in latest.items() if ppid not in stored]
        if new:
            conn.execute(dialect_insert(conn, PRODUCT).on_conflict_do_nothing(), new)
        for ppid, old in stored.items():
            r = latest[ppid]
            fill: dict[str, Any] = {}
            name = clean_name(r.name)
            if not old.name and name:
                fill["name"] = name
            if old.launched_on is None and r.launched_on is not None:
                fill["launched_on"] = r.launched_on
            if fill:   # the WHERE keeps a value another writer (an import) set meanwhile
                for col, value in fill.items():
                    empty = PRODUCT.c[col] == "" if col == "name" else PRODUCT.c[col].is_(None)
                    conn.execute(update(PRODUCT).where(PRODUCT.c.id == old.id, empty).values({col: value}))
                changed.add(ppid)
        ids: dict[str, int] = {}
        for keys in _chunks(list(latest)):
            ids.update((ppid, pid) for pid, ppid in conn.execute(
                select(PRODUCT.c.id, PRODUCT.c.platform_product_id)
                .where(PRODUCT.c.shop_id == shop.id, PRODUCT.c.platform_product_id.in_(keys))))
        tx.products.update(ids)
        skus: dict[tuple[int, str], Any] = {}
        for chunk in _chunks(sorted(ids.values())):
            skus.update(((row.product_id, row.platform_sku_id), row) for row in conn.execute(
                select(SKU.c.id, SKU.c.product_id, SKU.c.platform_sku_id, SKU.c.seller_sku, SKU.c.name)
                .where(SKU.c.product_id.in_(chunk))))
        new_skus = []
        for ppid, r in latest.items():
            pid = ids[ppid]
            for s in r.skus:
                old = skus.get((pid, s.platform_sku_id))
                if old is None:
                    new_skus.append({"product_id": pid, "platform_sku_id": s.platform_sku_id,
                                     "seller_sku": cut(s.seller_sku, 128), "name": clean_name(s.name) or "",
                                     "currency": shop.currency, "unit_cost_minor": 0})
                    changed.add(ppid)
                    continue
                if old.seller_sku is None and s.seller_sku:
                    conn.execute(update(SKU).where(SKU.c.id == old.id, SKU.c.seller_sku.is_(None))
                                 .values(seller_sku=cut(s.seller_sku, 128)))
                    changed.add(ppid)
                name = clean_name(s.name)
                if not old.name and name:
                    conn.execute(update(SKU).where(SKU.c.id == old.id, SKU.c.name == "").values(name=name))
                    changed.add(ppid)
        if new_skus:
            conn.execute(dialect_insert(conn, SKU).on_conflict_do_nothing(), new_skus)
            for chunk in _chunks(sorted(ids.values())):
                tx.skus.update(((row.product_id, row.platform_sku_id), row.id) for row in conn.execute(
                    select(SKU.c.id, SKU.c.product_id, SKU.c.platform_sku_id).where(SKU.c.product_id.in_(chunk))))
        sku_ids = {**{key: row.id for key, row in skus.items()}, **tx.skus}
        stock = {(sku_ids[ids[ppid], s.platform_sku_id], r.stock_day): (s.units_on_hand, ppid)
                 for ppid, r in latest.items() for s in r.skus
                 if s.units_on_hand is not None and (ids[ppid], s.platform_sku_id) in sku_ids}
        old_stock: dict[tuple[int, Any], tuple[int, bool]] = {}
        for chunk in _chunks(sorted({sid for sid, _ in stock})):
            old_stock.update(((row.sku_id, row.day), (row.units_on_hand, row.imported)) for row in conn.execute(
                select(STOCK.c.sku_id, STOCK.c.day, STOCK.c.units_on_hand, STOCK.c.imported)
                .where(STOCK.c.sku_id.in_(chunk), STOCK.c.day.in_(sorted({day for _, day in stock})))))
        writes = []
        for (sid, day), (units, ppid) in stock.items():
            old_units = old_stock.get((sid, day))
            if old_units is not None and (old_units[1] or old_units[0] == units):
                continue   # an import's figure stays; the same figure needs no write
            writes.append({"sku_id": sid, "day": day, "units_on_hand": units, "imported": False})
            changed.add(ppid)
        if writes:   # one statement for the day's SKUs, an import's figure never overwritten
            ins = dialect_insert(conn, STOCK)
            conn.execute(ins.on_conflict_do_update(index_elements=["sku_id", "day"],
                                                   set_={"units_on_hand": ins.excluded.units_on_hand},
                                                   where=STOCK.c.imported.is_(False)), writes)
        for ppid in latest:
            if ppid not in stored:
                counts.inserted += 1
            elif ppid in changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
        return counts

    # --- catalogue, shops, members -----------------------------------------------------------------------------------

    def _catalogue(self, tx: _Tx, orders: Iterable[EncodedOrder]) -> None:
        """Create the products and SKUs of these orders that the shop does not have yet."""
        shop_id, conn = tx.shop.id, tx.conn
        known_p, known_s = self._products[shop_id], self._skus[shop_id]
        products: dict[str, str] = {}
        skus: dict[tuple[str, str], tuple[str, str | None, str]] = {}
        for _, values, lines, _, _ in orders:
            for _, ppid, psid, name, seller_sku, *_ in lines:
                pid = known_p.get(ppid) or tx.products.get(ppid)
                if pid is None or ((pid, psid) not in known_s and (pid, psid) not in tx.skus):
                    products.setdefault(ppid, name)
                    skus.setdefault((ppid, psid), (name, seller_sku, values[CURRENCY]))
        if not skus:
            return
        new = [(shop_id, ppid, cut(name, 500), 0) for ppid, name in products.items()
               if ppid not in known_p and ppid not in tx.products]
        if new:
            tx.bulk.run(conn, PRODUCT_INSERT, new)
        for keys in _chunks(list(products)):
            tx.products.update((ppid, pid) for pid, ppid in conn.execute(
                select(PRODUCT.c.id, PRODUCT.c.platform_product_id)
                .where(PRODUCT.c.shop_id == shop_id, PRODUCT.c.platform_product_id.in_(keys))))
        rows = [(tx.products[ppid], psid, cut(seller, 128), cut(name, 500), currency, 0)
                for (ppid, psid), (name, seller, currency) in skus.items()]
        tx.bulk.run(conn, SKU_INSERT, rows)
        psids = sorted({psid for _, psid in skus})
        for chunk in _chunks(sorted({row[0] for row in rows})):
            tx.skus.update(((pid, psid), sid) for sid, pid, psid in conn.execute(
                select(SKU.c.id, SKU.c.product_id, SKU.c.platform_sku_id)
                .where(SKU.c.product_id.in_(chunk), SKU.c.platform_sku_id.in_(psids))))

    def _shop(self, conn: Connection, shop_id: int) -> _Shop:
        shop = self._shops.get(shop_id)
        if shop is None:
            row = conn.execute(select(SHOP.c.org_id, SHOP.c.platform, SHOP.c.currency)
                               .where(SHOP.c.id == shop_id)).first()
            if row is None:
                raise ValueError(f"no shop with id {shop_id}")
            shop = self._shops[shop_id] = _Shop(shop_id, row[0], row[1], row[2])
        return shop

    def _member(self, tx: _Tx, code: str | None) -> int | None:
        if not code:
            return None
        key = (tx.shop.org_id, code)
        if key not in self._members:
            self._members[key] = tx.conn.execute(
                select(MEMBER.c.id).where(MEMBER.c.org_id == tx.shop.org_id, MEMBER.c.code == code)).scalar()
        return self._members[key]


def _refunded(conn: Connection, order_ids: list[int]) -> None:
    """Order.refunded_minor := the sum of its completed refunds in the order's currency."""
    for chunk in _chunks(order_ids):
        conn.execute(REFUNDED, {"ids": chunk})


def _refund_values(f: RefundRecord) -> tuple[Any, ...]:
    return (str(f.kind), str(f.status), f.currency, to_minor(f.amount, f.currency), f.returned_units,
            f.requested_at, f.completed_at)


def _visit_values(v: Visit) -> tuple[Any, ...]:
    return (v.at, cut(v.utm_source, 255), cut(v.utm_medium, 255), cut(v.utm_campaign, 255),
            cut(v.utm_content, 255), cut(v.landing_page, 2000))
