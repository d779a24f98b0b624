"""Shop data into the STORE, exact to the cent (issue 6), on SQLite and PostgreSQL.

The real sources (TikTok Shop, Shopee, Amazon, Shopify) talk to the platform fakes and the real `sync_shop` writes
what they fetch into a freshly migrated store. The store is then read back in plain SQL and compared with totals
the fakes sum from their seed integers (never from the JSON they serve):

* full sync, a second sync that changes nothing (counts and a full-content fingerprint), then changes in the
  fake (status changes, refunds, cancellations, new orders) updated in place;
* faults: a persistent one in the middle of a first sync and at the start of an incremental one (the resource
  fails, the cursor stays, the shop health counts it, the next clean sync is exact); every fault kind of each
  fake once plus seeded random ones during a full sync, random ones during an incremental sync: the store ends
  equal to a fault-free sync of the same data (a second shop in the same store);
* kill -9 of a TikTok sync running in another process (tests/sync_worker.py), then resume here: nothing lost or
  doubled, the store equal to an uninterrupted sync;
* a seller-center file imported twice: the second run changes nothing;
* TikTok affiliate lines of two SKUs of one product in one order are both kept;
* products from the shop APIs create or fill the catalogue and store the day's stock, and never change what
  `kpibot products import` set (launch date, selector, cost, the imported day's stock).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.shops.amazon import AmazonSource
from bot.shops.files import read_file
from bot.shops.shopee import ShopeeSource
from bot.shops.shopify import ShopifySource
from bot.shops.tiktok_shop import TikTokShopSource
from storage.ingest.records import OrderRecord, Page, Source
from storage.ingest.sync import SyncReport, sync_shop
from storage.ingest.writer import StoreWriter, WriteCounts
from storage.models import Member, Order, Organisation, Shop, SyncCursor
from storage.product_import import import_products
from tests.conftest import ROOT
from tests.fakes.amazon import ORDERS_PATH, FakeAmazon
from tests.fakes.shop_seed import ExpectedTotals
from tests.fakes.shopee import FakeShopee
from tests.fakes.shopify import FAULTS as SHOPIFY_FAULTS
from tests.fakes.shopify import FakeShopify
from tests.fakes.tiktok_shop import ORDERS_SEARCH, PRODUCTS_SEARCH, FakeTikTokShop, Fault
from tests.memory_tokens import MemoryTokens

IMPORTS = Path(__file__).parent / "data" / "imports"
TT_NOW = datetime(2026, 3, 1, tzinfo=UTC)     # after every base order, return, affiliate order and live of the fake

# The platforms' statuses as the metrics must see them, written out here (not imported from the clients).
TIKTOK_STATUS = {"UNPAID": "unpaid", "ON_HOLD": "paid", "AWAITING_SHIPMENT": "paid", "AWAITING_COLLECTION": "paid",
                 "PARTIALLY_SHIPPING": "shipped", "IN_TRANSIT": "shipped", "DELIVERED": "delivered",
                 "COMPLETED": "completed", "CANCELLED": "cancelled"}
SHOPEE_STATUS = {"UNPAID": "unpaid", "READY_TO_SHIP": "paid", "PROCESSED": "paid", "IN_CANCEL": "paid",
                 "SHIPPED": "shipped", "TO_CONFIRM_RECEIVE": "delivered", "TO_RETURN": "delivered",
                 "COMPLETED": "completed", "CANCELLED": "cancelled"}
AMAZON_STATUS = {"Pending": "unpaid", "Unshipped": "paid", "PartiallyShipped": "paid", "Shipped": "shipped",
                 "Canceled": "cancelled", "Unfulfillable": "cancelled"}
SHOPIFY_UNPAID = frozenset({"PENDING", "AUTHORIZED", "EXPIRED", "VOIDED"})

# Totals of a shop that has nothing but orders; each platform fills in what it has.
NOTHING = {"orders": 0, "subtotal": 0, "discount": 0, "merchandise": 0, "shipping": 0, "tax": 0, "total": 0,
           "units": 0, "samples": 0, "with_codes": 0, "by_status": {}, "lines": 0, "line_units": 0, "line_amount": 0,
           "refunds": 0, "cancellations": 0, "refunds_requested": 0, "refunds_completed": 0, "refunded": 0,
           "returned_units": 0, "pending": 0, "visits": 0, "affiliate_lines": 0, "affiliate_orders": 0,
           "affiliate_units": 0, "affiliate_by_creator": {}, "lives": 0, "live_gmv": 0, "live_viewers": 0,
           "live_watch_seconds": 0}

# Every table the writer fills, for "nothing changed" (ids and all).
WRITTEN_TABLES = ("shop_order", "order_line", "refund", "order_visit", "pending_return", "product", "sku",
                  "affiliate_line", "live_session")


# ---------------------------------------------------------------------------------------------- the store
def make_shops(engine: Engine, platform: str, currency: str, codes: tuple[str, ...] = ("a",)) -> list[int]:
    with Session(engine) as s:
        org = Organisation(code="o", name="Org")
        s.add(org)
        s.flush()
        shops = [Shop(org_id=org.id, code=code, name=f"Shop {code}", platform=platform, region="US",
                      currency=currency, timezone="UTC") for code in codes]
        s.add_all(shops)
        s.commit()
        return [shop.id for shop in shops]  # type: ignore[misc]


def _ints(row: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in row)


def store_totals(engine: Engine, shop: int) -> dict[str, Any]:
    """The shop's totals, read back in plain SQL."""
    with engine.connect() as c:
        def one(sql: str) -> tuple[int, ...]:
            return _ints(c.execute(text(sql), {"s": shop}).one())

        def pairs(sql: str) -> dict[str, int]:
            return {k: int(v) for k, v in c.execute(text(sql), {"s": shop})}

        (orders, subtotal, discount, merchandise, shipping, tax, total, units, refunded, samples,
         with_codes) = one(
            "SELECT COUNT(*), COALESCE(SUM(subtotal_minor), 0), COALESCE(SUM(discount_minor), 0),"
            " COALESCE(SUM(merchandise_minor), 0), COALESCE(SUM(shipping_minor), 0), COALESCE(SUM(tax_minor), 0),"
            " COALESCE(SUM(total_minor), 0), COALESCE(SUM(units), 0), COALESCE(SUM(refunded_minor), 0),"
            " COALESCE(SUM(CASE WHEN is_sample THEN 1 ELSE 0 END), 0), COUNT(promo_code)"
            " FROM shop_order WHERE shop_id = :s")
        lines, line_units, line_amount = one(
            "SELECT COUNT(*), COALESCE(SUM(l.quantity), 0), COALESCE(SUM(l.amount_minor), 0)"
            " FROM order_line l JOIN shop_order o ON o.id = l.order_id WHERE o.shop_id = :s")
        refunds, cancellations, requested, completed, returned = one(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN r.kind = 'cancellation' THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(r.amount_minor), 0),"
            " COALESCE(SUM(CASE WHEN r.status = 'completed' THEN r.amount_minor ELSE 0 END), 0),"
            " COALESCE(SUM(r.returned_units), 0)"
            " FROM refund r JOIN shop_order o ON o.id = r.order_id WHERE o.shop_id = :s")
        (pending,) = one("SELECT COUNT(*) FROM pending_return WHERE shop_id = :s")
        (visits,) = one("SELECT COUNT(*) FROM order_visit v JOIN shop_order o ON o.id = v.order_id"
                        " WHERE o.shop_id = :s")
        aff_lines, aff_orders, aff_units = one(
            "SELECT COUNT(*), COUNT(DISTINCT platform_order_id), COALESCE(SUM(quantity), 0)"
            " FROM affiliate_line WHERE shop_id = :s")
        lives, gmv, viewers, watch = one(
            "SELECT COUNT(*), COALESCE(SUM(gmv_minor), 0), COALESCE(SUM(viewers), 0),"
            " COALESCE(SUM(watch_seconds), 0) FROM live_session WHERE shop_id = :s")
        return {
            "orders": orders, "subtotal": subtotal, "discount": discount, "merchandise": merchandise,
            "shipping": shipping, "tax": tax, "total": total, "units": units, "samples": samples,
            "with_codes": with_codes,
            "by_status": pairs("SELECT status, COUNT(*) FROM shop_order WHERE shop_id = :s GROUP BY status"),
            "lines": lines, "line_units": line_units, "line_amount": line_amount,
            "refunds": refunds, "cancellations": cancellations, "refunds_requested": requested,
            "refunds_completed": completed, "refunded": refunded, "returned_units": returned, "pending": pending,
            "visits": visits, "affiliate_lines": aff_lines, "affiliate_orders": aff_orders,
            "affiliate_units": aff_units,
            "affiliate_by_creator": pairs("SELECT creator_handle, SUM(amount_minor) FROM affiliate_line"
                                          " WHERE shop_id = :s GROUP BY creator_handle"),
            "lives": lives, "live_gmv": gmv, "live_viewers": viewers, "live_watch_seconds": watch,
        }


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the writer fills, ids included: the fingerprint of "nothing changed"."""
    with engine.connect() as c:
        return {t: [tuple(r) for r in c.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in WRITTEN_TABLES}


SHOP_CONTENT = {   # one shop's data by platform ids (no row ids): two shops synced differently must agree
    "orders": "SELECT platform_order_id, status, currency, subtotal_minor, discount_minor, merchandise_minor,"
              " shipping_minor, tax_minor, total_minor, refunded_minor, units, created_at, paid_at, shipped_at,"
              " delivered_at, cancelled_at, platform_updated_at, promo_code, buyer_ref, is_sample"
              " FROM shop_order WHERE shop_id = :s ORDER BY platform_order_id",
    "lines": "SELECT o.platform_order_id, l.platform_line_id, p.platform_product_id, k.platform_sku_id, l.quantity,"
             " l.currency, l.unit_price_minor, l.amount_minor FROM order_line l"
             " JOIN shop_order o ON o.id = l.order_id LEFT JOIN product p ON p.id = l.product_id"
             " LEFT JOIN sku k ON k.id = l.sku_id WHERE o.shop_id = :s ORDER BY 1, 2",
    "refunds": "SELECT o.platform_order_id, r.platform_refund_id, r.kind, r.status, r.currency, r.amount_minor,"
               " r.returned_units, r.requested_at, r.completed_at FROM refund r"
               " JOIN shop_order o ON o.id = r.order_id WHERE o.shop_id = :s ORDER BY 1, 2",
    "visits": "SELECT o.platform_order_id, v.position, v.at, v.utm_source, v.utm_medium, v.utm_campaign,"
              " v.utm_content, v.landing_page FROM order_visit v JOIN shop_order o ON o.id = v.order_id"
              " WHERE o.shop_id = :s ORDER BY 1, 2",
    "pending": "SELECT platform_order_id, platform_refund_id, kind, status, amount_minor FROM pending_return"
               " WHERE shop_id = :s ORDER BY 1, 2",
    # names left out: a product or SKU keeps the name of whichever first named it, an order line or the catalogue
    # (TikTok product search), and a fault changes which resource that is
    "products": "SELECT platform_product_id FROM product WHERE shop_id = :s ORDER BY 1",
    "skus": "SELECT p.platform_product_id, k.platform_sku_id, k.seller_sku, k.currency FROM sku k"
            " JOIN product p ON p.id = k.product_id WHERE p.shop_id = :s ORDER BY 1, 2",
    "affiliate": "SELECT platform_order_id, platform_product_id, creator_handle, content_type, content_id,"
                 " commission_rate, currency, amount_minor, quantity, refunded_quantity, status, created_at,"
                 " updated_at FROM affiliate_line WHERE shop_id = :s ORDER BY 1, 2, 3",
    "lives": "SELECT platform_session_id, title, started_at, ended_at, viewers, views, watch_seconds, interactions,"
             " new_followers, currency, gmv_minor FROM live_session WHERE shop_id = :s ORDER BY 1",
}


def shop_content(engine: Engine, shop: int) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as c:
        return {name: [tuple(r) for r in c.execute(text(sql), {"s": shop})] for name, sql in SHOP_CONTENT.items()}


def stored_shipped(engine: Engine, shop: int) -> dict[str, datetime]:
    """The shop's orders that have a shipped time, and that time."""
    with engine.connect() as conn:
        rows = conn.execute(select(Order.platform_order_id, Order.shipped_at)
                            .where(Order.shop_id == shop, Order.shipped_at.is_not(None)))  # type: ignore[union-attr]
        return {pid: _utc(at) for pid, at in rows}  # type: ignore[misc]


def order_ids(engine: Engine, shop: int) -> dict[str, int]:
    with engine.connect() as c:
        return {pid: oid for oid, pid in c.execute(
            text("SELECT id, platform_order_id FROM shop_order WHERE shop_id = :s"), {"s": shop})}


def duplicates(engine: Engine, shop: int) -> list[tuple[Any, ...]]:
    """Rows stored twice under one platform key (the unique constraints forbid it; checked anyway)."""
    queries = (
        "SELECT platform_order_id, COUNT(*) FROM shop_order WHERE shop_id = :s GROUP BY platform_order_id"
        " HAVING COUNT(*) > 1",
        "SELECT o.platform_order_id, l.platform_line_id, COUNT(*) FROM order_line l JOIN shop_order o"
        " ON o.id = l.order_id WHERE o.shop_id = :s GROUP BY o.platform_order_id, l.platform_line_id"
        " HAVING COUNT(*) > 1",
        "SELECT r.platform_refund_id, COUNT(*) FROM refund r JOIN shop_order o ON o.id = r.order_id"
        " WHERE o.shop_id = :s GROUP BY r.platform_refund_id HAVING COUNT(*) > 1",
        "SELECT platform_order_id, platform_product_id, creator_handle, COUNT(*) FROM affiliate_line"
        " WHERE shop_id = :s GROUP BY platform_order_id, platform_product_id, creator_handle HAVING COUNT(*) > 1",
        "SELECT platform_session_id, COUNT(*) FROM live_session WHERE shop_id = :s GROUP BY platform_session_id"
        " HAVING COUNT(*) > 1")
    with engine.connect() as c:
        return [tuple(r) for q in queries for r in c.execute(text(q), {"s": shop})]


@dataclass(frozen=True)
class CursorRow:
    high_water: datetime | None
    cursor: str | None
    run_until: datetime | None
    failures: int
    last_error: str | None


def cursor_of(engine: Engine, shop: int, resource: str = "orders") -> CursorRow:
    with engine.connect() as c:   # through the model: its UTC datetime type reads SQLite's text
        row = c.execute(select(SyncCursor.high_water, SyncCursor.cursor, SyncCursor.run_until,  # type: ignore[call-overload]
                               SyncCursor.failures, SyncCursor.last_error)
                        .where(SyncCursor.shop_id == shop, SyncCursor.resource == resource)).one()
    return CursorRow(_utc(row[0]), row[1], _utc(row[2]), row[3], row[4])


def health_of(engine: Engine, shop: int) -> tuple[int, str | None]:
    with engine.connect() as c:
        return tuple(c.execute(text("SELECT consecutive_failures, last_error FROM shop_health WHERE shop_id = :s"),
                               {"s": shop}).one())  # type: ignore[return-value]


def _utc(value: datetime | None) -> datetime | None:
    """The store's UTC datetimes compared as aware ones, whatever the backend hands back."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def totals_of(engine: Engine, shop: int, expected: dict[str, Any]) -> dict[str, Any]:
    """The store's totals that `expected` names (every one but what a platform cannot know exactly)."""
    found = store_totals(engine, shop)
    return {k: found[k] for k in expected}


def counts_by_resource(report: SyncReport) -> dict[str, WriteCounts]:
    return {r.resource: r.counts for r in report.resources}


def nothing_written(report: SyncReport) -> bool:
    return report.ok and report.counts.inserted == 0 and report.counts.updated == 0 and report.counts.pending == 0


# ---------------------------------------------------------------------------------------------- platforms
@dataclass
class Harness:
    """One platform fake and what the tests need of it; `source(shop, **options)` builds the real client."""

    platform: str
    currency: str
    fake: Any
    source: Callable[..., Source]
    now: Callable[[], datetime]
    expected: Callable[[datetime], dict[str, Any]]            # the store's totals, from the seed
    newest_update: Callable[[datetime], datetime]             # the orders cursor's high water, from the seed
    change: Callable[[], tuple[list[str], list[str]]]         # change the data: (changed, added) order ids
    kinds: tuple[str, ...]                                    # every fault kind of the fake
    inject: Callable[[str], None]                             # the next call fails with that kind, once
    persist: Callable[[], None]                               # every orders call fails from now on
    clear: Callable[[], None]
    set_rate: Callable[[float], None]                         # seeded random faults
    faults_seen: Callable[[], set[str]]
    reset_calls: Callable[[], None]

    def sync(self, engine: Engine, shop: int, tap: Callable[[str, int], None] | None = None,
             **options: Any) -> SyncReport:
        src = self.source(shop, **options)
        try:
            return sync_shop(engine, shop, src if tap is None else Tapped(src, tap), None, self.now())
        finally:
            src.close()


class Tapped:
    """A source that calls `tap(resource, n)` as it hands over the n-th page of a listing (the test acts on the
    fake there: faults from then on), whenever the sync commits what it was given."""

    def __init__(self, source: Source, tap: Callable[[str, int], None]) -> None:
        self.source, self.tap = source, tap

    @property
    def resources(self) -> tuple[str, ...]:
        return self.source.resources

    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        listing = self.source.pages(resource, since, until, resume)
        try:
            for n, page in enumerate(listing, 1):
                self.tap(resource, n)
                yield page
        finally:
            close = getattr(listing, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        self.source.close()


def tiktok_expected(e: ExpectedTotals) -> dict[str, Any]:
    by_status: Counter[str] = Counter()
    for status, n in e.by_status.items():
        by_status[TIKTOK_STATUS[status]] += n
    return {**NOTHING, "orders": e.orders, "subtotal": e.subtotal_minor, "discount": e.discount_minor,
            "merchandise": e.merchandise_minor, "shipping": e.shipping_minor, "tax": e.tax_minor,
            "total": e.total_minor, "units": e.units, "samples": e.samples, "by_status": dict(by_status),
            # TikTok has no quantity: one line item per unit, at its price after discounts
            "lines": e.units, "line_units": e.units, "line_amount": e.merchandise_minor,
            "refunds": e.returns + e.cancellations, "cancellations": e.cancellations,
            "refunds_requested": e.refund_requested_minor, "refunds_completed": e.refunded_minor,
            "refunded": e.refunded_minor, "returned_units": e.returned_units,
            "affiliate_lines": e.affiliate_lines, "affiliate_orders": e.affiliate_orders,
            "affiliate_units": e.affiliate_units, "affiliate_by_creator": e.affiliate_amount_minor_by_creator,
            "lives": e.lives, "live_gmv": e.live_gmv_minor, "live_viewers": e.live_viewers,
            "live_watch_seconds": e.live_watch_seconds}


@contextmanager
def tiktok(n_orders: int = 400, seed: int = 2) -> Iterator[Harness]:
    with FakeTikTokShop(seed=seed, n_orders=n_orders, timeout_delay_s=0.5) as fake:
        clock = [TT_NOW]
        tokens: dict[int, MemoryTokens] = {}

        def source(shop: int, **kw: Any) -> TikTokShopSource:
            store = tokens.setdefault(shop, MemoryTokens(fake.initial_tokens()))
            options: dict[str, Any] = {"currency": "USD", "shop_tz": "America/Los_Angeles", "page_size": 25,
                                       "returns_page_size": 20, "timeout_s": 0.25, "attempts": 12,
                                       "backoff_s": 0.01, "max_wait_s": 0.05}
            options.update(kw)
            return TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret, tokens=store,
                                    base_url=fake.base_url, auth_base_url=fake.auth_base_url, **options)

        def newest(until: datetime) -> datetime:
            tl = fake.timeline
            latest = max(tl.current(i).update_time for i in range(tl.total_orders))
            assert latest < until.timestamp()
            return datetime.fromtimestamp(latest, UTC)

        def change() -> tuple[list[str], list[str]]:
            done = fake.advance(3600, changes=6, refunds=4, cancels=3, new_orders=5)
            clock[0] += timedelta(days=1)
            assert same_product_skus(fake) == []
            return list(done.changed), list(done.added)

        assert same_product_skus(fake) == []

        def set_rate(rate: float) -> None:
            fake.fault_rate = rate

        yield Harness(
            "tiktok_shop", "USD", fake, source, lambda: clock[0],
            lambda until: tiktok_expected(fake.expected_totals(None, until)), newest, change,
            tuple(str(k) for k in Fault), lambda kind: fake.fail_next(1, Fault(kind)),
            lambda: fake.fail_next(10**6, Fault.HTTP_5XX, path_contains=ORDERS_SEARCH), fake.clear_faults,
            set_rate, lambda: {str(c.fault) for c in fake.calls if c.fault is not None}, fake.reset_calls)


@contextmanager
def shopee(orders: int = 180) -> Iterator[Harness]:
    with FakeShopee(orders=orders, days=40, seed=5, hang_s=0.5, fault_seed=4) as fake:
        tokens: dict[int, MemoryTokens] = {}

        def source(shop: int, **kw: Any) -> ShopeeSource:
            store = tokens.setdefault(shop, MemoryTokens(fake.initial_tokens()))
            options: dict[str, Any] = {"page_size": 20, "timeout_s": 0.25, "attempts": 12, "backoff_s": 0.01,
                                       "max_wait_s": 0.05}
            options.update(kw)
            return ShopeeSource(partner_id=fake.partner_id, partner_key=fake.partner_key, shop_id=fake.shop_id,
                                currency=fake.currency, tokens=store, base_url=fake.base_url, clock=fake.now,
                                **options)

        def expected(until: datetime) -> dict[str, Any]:
            e, r = fake.expected_totals(None, until), fake.expected_returns(until)
            by_status: Counter[str] = Counter()
            for status, n in e["by_status"].items():
                by_status[SHOPEE_STATUS[status]] += n
            # get_order_detail does not split shipping and tax out of total_amount: the store has them as 0
            return {**NOTHING, "orders": e["count"], "subtotal": e["subtotal_minor"],
                    "discount": e["subtotal_minor"] - e["merchandise_minor"], "merchandise": e["merchandise_minor"],
                    "total": e["total_minor"], "units": e["units"], "by_status": dict(by_status),
                    "lines": e["lines"], "line_units": e["units"], "line_amount": e["merchandise_minor"],
                    "refunds": r["count"], "refunds_requested": r["requested_minor"],
                    "refunds_completed": r["completed_minor"], "refunded": r["completed_minor"],
                    "returned_units": r["returned_units"]}

        def newest(until: datetime) -> datetime:
            latest = max(o.update_time for o in fake.orders.values())
            assert latest < until.timestamp()
            return datetime.fromtimestamp(latest, UTC)

        def change() -> tuple[list[str], list[str]]:
            fake.advance(3600)
            moves = {"READY_TO_SHIP": "SHIPPED", "UNPAID": "READY_TO_SHIP", "SHIPPED": "COMPLETED",
                     "PROCESSED": "CANCELLED"}
            picked = {sn: moves[old] for old in moves for sn in fake.order_sns(status=old)[:2]}
            for sn, new in picked.items():
                fake.update_order(sn, new)
            fake.advance(60)
            return list(picked), []

        def set_rate(rate: float) -> None:
            fake.fault_rate = rate

        yield Harness(
            "shopee", fake.currency, fake, source, fake.now, expected, newest, change,
            tuple(sorted(FakeShopee.fault_kinds)), lambda kind: fake.fail_next(1, kind),
            lambda: fake.fail_next(10**6, "http5xx", "/api/v2/order/"), fake.clear_faults, set_rate,
            lambda: {c.fault for c in fake.calls if c.fault}, fake.reset_calls)


@contextmanager
def amazon(orders: int = 150) -> Iterator[Harness]:
    with FakeAmazon(orders=orders, seed=13, restore_per_s=20, hang_s=0.5, fault_seed=6) as fake:
        def source(shop: int, **kw: Any) -> AmazonSource:
            options: dict[str, Any] = {"page_size": 20, "burst": fake.burst, "rate_per_s": fake.restore_per_s * 0.9,
                                       "timeout_s": 0.25, "attempts": 12, "backoff_s": 0.01, "max_wait_s": 0.05}
            options.update(kw)
            return AmazonSource(client_id=fake.client_id, client_secret=fake.client_secret,
                                refresh_token=fake.refresh_token, marketplace_ids=[fake.marketplace_id],
                                currency=fake.currency, endpoint=fake.base_url, lwa_url=fake.lwa_url,
                                clock=fake.now, **options)

        def expected(until: datetime) -> dict[str, Any]:
            e = fake.expected_totals(None, until)
            by_status: Counter[str] = Counter()
            for status, n in e["by_status"].items():
                by_status[AMAZON_STATUS[status]] += n
            # getOrderItems: goods after promotions are the merchandise, shipping and tax apart, OrderTotal the total
            r = fake.expected_refunds(until)       # refund events: the goods' money back, completed when posted
            return {**NOTHING, "orders": e["count"], "subtotal": e["subtotal_minor"],
                    "discount": e["discount_minor"], "merchandise": e["merchandise_minor"],
                    "shipping": e["shipping_minor"], "tax": e["tax_minor"], "total": e["total_minor"],
                    "units": e["items"], "lines": e["lines"], "line_units": e["items"],
                    "line_amount": e["merchandise_minor"], "by_status": dict(by_status),
                    "refunds": r["count"], "refunds_requested": r["principal_minor"],
                    "refunds_completed": r["principal_minor"], "refunded": r["principal_minor"]}

        def newest(until: datetime) -> datetime:
            latest = max(o.update_s for o in fake.orders.values())
            assert latest < until.timestamp()
            return datetime.fromtimestamp(latest, UTC)

        def change() -> tuple[list[str], list[str]]:
            at = fake.advance(3600) - timedelta(minutes=30)   # Amazon serves updates older than 2 minutes
            moves = {"Pending": "Unshipped", "Unshipped": "Shipped", "Shipped": "Canceled"}
            picked = {oid: moves[old] for old in moves for oid in fake.order_ids(status=old)[:2]}
            for oid, new in picked.items():
                fake.update_order(oid, new, at=at)
            return list(picked), []

        def set_rate(rate: float) -> None:
            fake.fault_rate = rate

        yield Harness(
            "amazon", fake.currency, fake, source, fake.now, expected, newest, change,
            tuple(sorted(FakeAmazon.fault_kinds)), lambda kind: fake.fail_next(1, kind),
            lambda: fake.fail_next(10**6, "http5xx", ORDERS_PATH), fake.clear_faults, set_rate,
            lambda: {c.fault for c in fake.calls if c.fault}, fake.reset_calls)


@contextmanager
def shopify(orders: int = 40) -> Iterator[Harness]:
    with FakeShopify(seed=9, orders=orders, restore_rate=100_000.0, fault_seed=8, fault_delay_s=0.5) as fake:
        def source(shop: int, **kw: Any) -> ShopifySource:
            options: dict[str, Any] = {"timeout_s": 0.25, "attempts": 12, "backoff_s": 0.01, "max_wait_s": 0.05,
                                       "sleep": lambda s: time.sleep(min(s, 0.02))}
            options.update(kw)
            return ShopifySource(fake.shop, fake.token, base_url=fake.base_url, **options)

        def expected(until: datetime) -> dict[str, Any]:
            e, d = fake.expected_totals(None, until), fake.expected_details(None, until)
            by_status: Counter[str] = Counter()
            for o in fake.orders.values():
                if o.updated_at < until:
                    by_status["cancelled" if o.cancelled_at is not None else "unpaid" if o.financial in SHOPIFY_UNPAID
                              else "shipped" if o.fulfillment == "FULFILLED" else "paid"] += 1

            def cents(amount: Any) -> int:
                return int(amount * 100)

            # line amounts are Shopify's approximate after-all-discount prices, rounded: not summed here
            totals = {**NOTHING, "orders": e["orders"], "subtotal": cents(e["subtotal"]),
                      "discount": cents(e["discount"]), "merchandise": cents(e["merchandise"]),
                      "shipping": cents(e["shipping"]), "tax": cents(e["tax"]), "total": cents(e["total"]),
                      "units": e["units"], "with_codes": e["with_codes"], "by_status": dict(by_status),
                      "lines": e["lines"], "line_units": e["units"], "refunds": e["refunds"],
                      "cancellations": d["cancellation_refunds"], "refunds_requested": cents(e["refunded"]),
                      "refunds_completed": cents(e["refunded"]), "refunded": cents(e["refunded"]),
                      "returned_units": d["returned_units"], "visits": d["visits"]}
            del totals["line_amount"]
            return totals

        def newest(until: datetime) -> datetime:
            latest = max(o.updated_at for o in fake.orders.values())
            assert latest < until
            return latest

        def change() -> tuple[list[str], list[str]]:
            fake.now += timedelta(hours=1)
            paid = [i for i in sorted(fake.orders) if fake.orders[i].financial == "PAID"
                    and fake.orders[i].cancelled_at is None and not fake.orders[i].refunds]
            fake.cancel_order(paid[0])
            line = fake.orders[paid[1]].lines[0]
            fake.refund_order(paid[1], line.unit_cents, lines=[(line.id, 1, "RETURN")])
            fake.refund_order(paid[2], 150, lines=[(fake.orders[paid[2]].lines[0].id, 1, "NO_RESTOCK")])
            added = fake.add_order(lines=[("SKU-101", 1999, 2), ("SKU-107", 2450, 1, 250)], codes=["WELCOME10"],
                                   discount_percent=10, shipping_cents=499, customer_id=7_000_123,
                                   first_visit={"occurredAt": fake.now - timedelta(hours=3), "landingPage": "https://x",
                                                "referralCode": None, "utm": None})
            fake.now += timedelta(hours=1)
            return [str(i) for i in paid[:3]], [str(added)]

        def set_rate(rate: float) -> None:
            fake.fault_rate = rate

        def reset_calls() -> None:
            fake.calls.clear()

        yield Harness(
            "shopify", fake.currency, fake, source, lambda: fake.now, expected, newest, change, SHOPIFY_FAULTS,
            lambda kind: fake.fail_next(1, kind, delay_s=0.5), lambda: fake.fail_next(10**6, "server"),
            fake.clear_faults, set_rate, lambda: {c.fault for c in fake.calls if c.fault}, reset_calls)


def same_product_skus(fake: FakeTikTokShop) -> list[str]:
    """Orders credited to a creator that hold two SKUs of one product. The store keeps one affiliate line of
    them (test_two_skus_of_one_product_are_two_affiliate_lines); the other tests' seeds have none, so that
    each test shows its own property."""
    tl = fake.timeline
    found = []
    for i in range(tl.total_orders):
        order = tl.current(i)
        if order.affiliate is not None:
            skus: dict[str, set[str]] = {}
            for line in order.lines:
                skus.setdefault(line.sku.product_id, set()).add(line.sku.sku_id)
            found += [order.order_id for ids in skus.values() if len(ids) > 1]
    return found


HARNESSES = {"tiktok_shop": tiktok, "shopee": shopee, "amazon": amazon, "shopify": shopify}


# ---------------------------------------------------------------------------------------------- full and incremental
@pytest.mark.parametrize("platform", list(HARNESSES))
def test_full_and_incremental_sync_store_the_seed_to_the_cent(engine: Engine, platform: str) -> None:
    with HARNESSES[platform]() as h:
        [shop] = make_shops(engine, h.platform, h.currency)
        first_now = h.now()
        expected = h.expected(first_now)

        # full sync: every record inserted once, the store's totals are the seed's
        report = h.sync(engine, shop)
        assert report.ok, report.resources
        assert totals_of(engine, shop, expected) == expected
        inserted = {r: c.inserted for r, c in counts_by_resource(report).items()}
        assert inserted == first_inserts(h, expected)
        others = [r.counts for r in report.resources if r.resource != "products"
                  and (h.platform, r.resource) != ("amazon", "returns")]
        assert sum(c.updated + c.pending + c.unchanged for c in others) == 0
        if h.platform == "amazon":   # each shipped order's first ShipmentEvent sets its shipped time (updated)
            shipped = {pid: datetime.fromtimestamp(at, UTC) for pid, at in h.fake.expected_shipped(first_now).items()}
            returns = counts_by_resource(report)["returns"]
            assert (len(shipped), returns.updated, returns.pending) == (106, 106, 0)
            assert stored_shipped(engine, shop) == shipped
            # counted at shipment, an order counts on its first shipment's day (counting_moment reads shipped_at)
            days = Counter(at.date() for at in stored_shipped(engine, shop).values())
            assert (first_now.date(), days[first_now.date() - timedelta(days=1)], days[date(2026, 11, 15)]) == \
                (date(2026, 11, 22), 3, 3)
        if h.platform == "tiktok_shop":   # the orders created every product; the catalogue fills each of them
            assert counts_by_resource(report)["products"] == WriteCounts(updated=len(h.fake.products))
        if h.platform == "shopee":   # 29 listed items (one is unlisted), each given its launch day and stock
            assert counts_by_resource(report)["products"] == WriteCounts(updated=29)
        assert cursor_of(engine, shop) == CursorRow(h.newest_update(first_now), None, None, 0, None)
        assert health_of(engine, shop) == (0, None)
        assert duplicates(engine, shop) == []

        # a second sync changes nothing
        rows = table_rows(engine)
        again = h.sync(engine, shop)
        assert nothing_written(again), again.resources
        assert table_rows(engine) == rows

        # changes in the platform: the changed orders are updated in place, new ones added, totals exact
        ids = order_ids(engine, shop)
        changed, added = h.change()
        new_expected = h.expected(h.now())
        assert new_expected != expected
        report = h.sync(engine, shop)
        assert report.ok, report.resources
        orders = counts_by_resource(report)["orders"]
        assert (orders.inserted, orders.updated, orders.pending) == (len(added), len(changed), 0)
        assert totals_of(engine, shop, new_expected) == new_expected
        now_ids = order_ids(engine, shop)
        assert {pid: now_ids[pid] for pid in ids} == ids                  # same rows, same ids
        assert sorted(set(now_ids) - set(ids)) == sorted(added)
        assert cursor_of(engine, shop).high_water == h.newest_update(h.now())
        assert duplicates(engine, shop) == []

        # and once more: nothing
        rows = table_rows(engine)
        assert nothing_written(h.sync(engine, shop))
        assert table_rows(engine) == rows


def first_inserts(h: Harness, expected: dict[str, Any]) -> dict[str, int]:
    """What a first sync inserts per resource: every order, refund fetched separately, affiliate line, live."""
    if h.platform == "tiktok_shop":
        return {"orders": expected["orders"], "returns": expected["refunds"],
                "affiliate_orders": expected["affiliate_lines"], "lives": expected["lives"], "products": 0}
    if h.platform == "shopee":   # the orders created every listed item; the catalogue fills them
        return {"orders": expected["orders"], "returns": expected["refunds"], "products": 0}
    if h.platform == "amazon":
        return {"orders": expected["orders"], "returns": expected["refunds"]}
    return {"orders": expected["orders"]}


def test_two_skus_of_one_product_are_two_affiliate_lines(engine: Engine) -> None:
    """TikTok reports affiliate orders per SKU: an order with two variants of one product credited to a creator
    has two SKUs with the same product id, and both are the creator's GMV."""
    [shop] = make_shops(engine, "tiktok_shop", "USD")
    with FakeTikTokShop(seed=21, n_orders=400) as fake:
        [order_id] = same_product_skus(fake)
        order = fake.timeline.current(fake.timeline.gen.index_of(order_id) or 0)
        assert order.affiliate is not None
        with TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret,
                              tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                              auth_base_url=fake.auth_base_url, currency="USD") as src:
            report = sync_shop(engine, shop, src, ["affiliate_orders"], TT_NOW)
        expected = fake.expected_totals(None, TT_NOW)
    assert report.ok
    with engine.connect() as c:
        stored = [tuple(r) for r in c.execute(text(
            "SELECT platform_product_id, quantity, amount_minor FROM affiliate_line WHERE shop_id = :s"
            " AND platform_order_id = :o"), {"s": shop, "o": order_id})]
    product = order.lines[0].sku.product_id
    assert sorted(stored) == sorted((product, 1, line.sale_minor) for line in order.lines)   # 18.90 and 19.99
    found = store_totals(engine, shop)
    assert (found["affiliate_lines"], found["affiliate_units"], found["affiliate_by_creator"]) == \
        (expected.affiliate_lines, expected.affiliate_units, expected.affiliate_amount_minor_by_creator)


def test_a_platform_that_cannot_be_reached_costs_one_resource_and_a_slow_one_costs_each(engine: Engine) -> None:
    """A shop whose API host refuses connections: the first resource fails after its retries and the others are
    failed as "not tried", each with its cursor's failure counted, instead of each waiting through the same
    retries. A platform that is reached but never answers in time (a read timeout) is no such sign: every
    resource is still tried."""
    [shop, slow] = make_shops(engine, "tiktok_shop", "USD", ("down", "slow"))
    with socket.socket() as closed:      # a port nothing listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with FakeTikTokShop(seed=5, n_orders=50, timeout_delay_s=1.0) as fake:
        options: dict[str, Any] = {"app_key": fake.app_key, "app_secret": fake.app_secret, "currency": "USD",
                                   "auth_base_url": fake.auth_base_url, "attempts": 3, "backoff_s": 0.01,
                                   "max_wait_s": 0.02, "timeout_s": 0.3}
        with TikTokShopSource(tokens=MemoryTokens(fake.initial_tokens()), base_url=dead, **options) as src:
            report = sync_shop(engine, shop, src, None, TT_NOW)
        assert fake.calls == []
        fake.fail_next(1000, Fault.TIMEOUT, path_contains=ORDERS_SEARCH)
        with TikTokShopSource(tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url, **options) as src:
            slow_report = sync_shop(engine, slow, src, None, TT_NOW)
        orders_calls = len(fake.calls_to(ORDERS_SEARCH))
        other_paths = {c.path for c in fake.calls} - {ORDERS_SEARCH}
    refused = "server: orders search: ConnectError"
    assert [(r.resource, r.error, r.error_kind) for r in report.resources] == [
        ("orders", refused, "server"),
        ("returns", f"not tried: orders: {refused}", "server"),
        ("affiliate_orders", f"not tried: orders: {refused}", "server"),
        ("lives", f"not tried: orders: {refused}", "server"),
        ("products", f"not tried: orders: {refused}", "server")]
    with engine.connect() as c:
        assert [tuple(r) for r in c.execute(text(
            "SELECT resource, failures, high_water FROM sync_cursor WHERE shop_id = :s ORDER BY resource"),
            {"s": shop})] == [("affiliate_orders", 1, None), ("lives", 1, None), ("orders", 1, None),
                              ("products", 1, None), ("returns", 1, None)]
    assert [(r.resource, r.ok) for r in slow_report.resources] == [
        ("orders", False), ("returns", True), ("affiliate_orders", True), ("lives", True), ("products", True)]
    assert slow_report.resources[0].error == "server: orders search: timed out"
    assert orders_calls == 3            # three tries of the orders, then the other resources all the same:
    assert other_paths == {"/return_refund/202309/returns/search", "/return_refund/202309/cancellations/search",
                           "/affiliate_seller/202410/orders/search", "/analytics/202508/shop_lives/performance",
                           "/product/202309/products/search"}


# ---------------------------------------------------------------------------------------------- faults
def orders_as_synced(engine: Engine, shop: int) -> list[tuple[Any, ...]]:
    """What only the orders resource writes: each order's status and platform update time."""
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT platform_order_id, status, platform_updated_at FROM shop_order WHERE shop_id = :s ORDER BY 1"),
            {"s": shop})]


@pytest.mark.parametrize("platform", list(HARNESSES))
def test_faults_leave_the_store_as_a_fault_free_sync_would(engine: Engine, platform: str) -> None:
    with HARNESSES[platform]() as h:
        ref, a, b = make_shops(engine, h.platform, h.currency, ("ref", "a", "b"))
        assert h.sync(engine, ref).ok                      # the fault-free reference, in the same store
        expected = h.expected(h.now())
        assert totals_of(engine, ref, expected) == expected

        # a persistent fault in the middle of a first sync: the resource fails and keeps what it wrote, the
        # cursor holds the token of the next page and no high water, the shop health counts the failure
        def break_after_two_pages(resource: str, page: int) -> None:
            if resource == "orders" and page == 2:
                h.persist()

        report = h.sync(engine, a, tap=break_after_two_pages, attempts=3)
        [orders] = [r for r in report.resources if r.resource == "orders"]
        assert (report.failed, orders.error_kind) == (["orders"], "server")
        assert orders.error is not None and orders.error.startswith("server: ")
        assert store_totals(engine, a)["orders"] == orders.records   # the pages committed before the fault
        cursor = cursor_of(engine, a)
        assert (cursor.high_water, cursor.run_until, cursor.failures, cursor.last_error) == \
            (None, h.now(), 1, orders.error)
        assert cursor.cursor is not None
        assert health_of(engine, a) == (1, f"orders: {orders.error}")
        if h.platform == "tiktok_shop":   # returns of orders not stored yet wait for them
            found = store_totals(engine, a)
            assert found["refunds"] + found["pending"] == expected["refunds"]
        h.clear()
        report = h.sync(engine, a)                         # the next clean sync resumes and completes
        assert report.ok, report.resources
        assert [r.resumed for r in report.resources if r.resource == "orders"] == [True]
        assert shop_content(engine, a) == shop_content(engine, ref)
        assert totals_of(engine, a, expected) == expected
        assert cursor_of(engine, a) == CursorRow(h.newest_update(h.now()), None, None, 0, None)
        assert health_of(engine, a) == (0, f"orders: {orders.error}")   # the streak ended; the last error kept

        # every fault kind of the fake (one after each of the first pages) and seeded random ones all along
        h.reset_calls()
        h.set_rate(0.2)

        def one_of_each(resource: str, page: int) -> None:
            if resource == "orders" and page <= len(h.kinds):
                h.inject(h.kinds[page - 1])

        report = h.sync(engine, b, tap=one_of_each)
        assert report.ok, report.resources
        assert h.faults_seen() == set(h.kinds)
        assert shop_content(engine, b) == shop_content(engine, ref)
        h.clear()

        # the platform changes; an incremental sync meets a persistent fault at its first call: the orders
        # resource fails without writing, its cursor stays where it was, the health counts it
        changed, added = h.change()
        new_expected = h.expected(h.now())
        synced, before, ids = orders_as_synced(engine, b), cursor_of(engine, b), order_ids(engine, b)
        h.persist()
        report = h.sync(engine, b, attempts=3)
        [orders] = [r for r in report.resources if r.resource == "orders"]
        assert (report.failed, orders.pages) == (["orders"], 0)
        assert orders_as_synced(engine, b) == synced
        assert cursor_of(engine, b) == CursorRow(before.high_water, None, None, 1, orders.error)
        assert health_of(engine, b) == (1, f"orders: {orders.error}")
        h.clear()

        # the reference syncs the changes cleanly, the faulty shop with random faults: the same store again
        assert h.sync(engine, ref).ok
        h.set_rate(0.2)
        report = h.sync(engine, b)
        h.clear()
        assert report.ok, report.resources
        assert shop_content(engine, b) == shop_content(engine, ref)
        assert totals_of(engine, b, new_expected) == new_expected
        now_ids = order_ids(engine, b)
        assert ({pid: now_ids[pid] for pid in changed}, sorted(set(now_ids) - set(ids))) == \
            ({pid: ids[pid] for pid in changed}, sorted(added))               # updated in place, new ones added
        assert cursor_of(engine, b) == CursorRow(h.newest_update(h.now()), None, None, 0, None)
        assert health_of(engine, b) == (0, f"orders: {orders.error}")
        assert duplicates(engine, b) == []


# ---------------------------------------------------------------------------------------------- kill -9
KILL_ORDERS, KILL_PAGE = 2000, 20


def stored_orders(engine: Engine, shop: int) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT COUNT(*) FROM shop_order WHERE shop_id = :s"), {"s": shop}).scalar_one())


def _position(resume: str) -> int:
    """The fake's position in the stored resume token: the source's token (base64 JSON, the platform's
    next_page_token under "t") wraps the fake's (base64 JSON, the position of the next order under "p")."""
    def unwrap(token: str) -> dict[str, Any]:
        return dict(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))))
    return int(unwrap(unwrap(resume)["t"])["p"])


def test_a_sync_killed_with_sigkill_resumes_without_loss_or_double_count(engine: Engine) -> None:
    shop, ref = make_shops(engine, "tiktok_shop", "USD", ("killed", "ref"))
    with FakeTikTokShop(seed=227, n_orders=KILL_ORDERS) as fake:
        assert same_product_skus(fake) == []
        tokens = fake.initial_tokens()
        assert tokens.refresh_token is not None and tokens.expires_at is not None
        job = {"url": engine.url.render_as_string(hide_password=False), "shop_id": shop, "now": TT_NOW.isoformat(),
               "base_url": fake.base_url, "app_key": fake.app_key, "app_secret": fake.app_secret,
               "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
               "expires_at": tokens.expires_at.isoformat(), "shop_cipher": fake.shop_cipher,
               "page_size": KILL_PAGE, "returns_page_size": 20}
        fake.request_delay_s = 0.02          # a slow platform: 100 order pages take seconds, the kill lands mid-run
        worker = subprocess.Popen([sys.executable, "-m", "tests.sync_worker", json.dumps(job)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while stored_orders(engine, shop) < 10 * KILL_PAGE:   # some pages committed
                assert worker.poll() is None, worker.communicate()
                assert time.monotonic() < deadline, "the worker wrote nothing for a minute"
                time.sleep(0.005)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        assert worker.returncode == -signal.SIGKILL
        fake.request_delay_s = 0.0

        # what the kill left: whole pages, and the cursor pointing exactly after them
        stored = stored_orders(engine, shop)
        assert stored % KILL_PAGE == 0 and stored < KILL_ORDERS
        cursor = cursor_of(engine, shop)
        assert (cursor.high_water, cursor.run_until, cursor.failures) == (None, TT_NOW, 0)
        assert cursor.cursor is not None and _position(cursor.cursor) == stored

        # resume here: the interrupted run continues from its token and fetches exactly what was missing
        with TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret,
                              tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                              auth_base_url=fake.auth_base_url, currency="USD", shop_tz="America/Los_Angeles",
                              page_size=KILL_PAGE) as src:
            report = sync_shop(engine, shop, src, None, TT_NOW)
        assert report.ok, report.resources
        [orders] = [r for r in report.resources if r.resource == "orders"]
        assert (orders.resumed, orders.records, orders.counts.inserted) == \
            (True, KILL_ORDERS - stored, KILL_ORDERS - stored)

        # an uninterrupted sync of the same data into another shop of the store
        with TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret,
                              tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                              auth_base_url=fake.auth_base_url, currency="USD", shop_tz="America/Los_Angeles",
                              page_size=100) as src:
            assert sync_shop(engine, ref, src, None, TT_NOW).ok
        expected = tiktok_expected(fake.expected_totals(None, TT_NOW))
        newest = datetime.fromtimestamp(fake.timeline.gen.update_time(KILL_ORDERS - 1), UTC)

        # and a sync after that finds nothing left to do
        rows = table_rows(engine)
        with TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret,
                              tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                              auth_base_url=fake.auth_base_url, currency="USD", shop_tz="America/Los_Angeles",
                              page_size=100) as src:
            assert nothing_written(sync_shop(engine, shop, src, None, TT_NOW))
        assert table_rows(engine) == rows

    assert duplicates(engine, shop) == []
    assert shop_content(engine, shop) == shop_content(engine, ref)
    assert totals_of(engine, shop, expected) == expected
    assert cursor_of(engine, shop) == CursorRow(newest, None, None, 0, None)


# ---------------------------------------------------------------------------------------------- file import
def test_an_import_run_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    [shop] = make_shops(engine, "tiktok_shop", "USD")

    def run() -> tuple[int, WriteCounts]:
        """One import run: read the file, write its records with a new writer (a new process would)."""
        result = read_file(IMPORTS / "tiktok_us_orders.csv", "tiktok_orders", tz="America/Los_Angeles")
        assert result.problems == ()
        return len(result.records), StoreWriter(engine).write_page(shop, result.records)

    count, first = run()
    records = read_file(IMPORTS / "tiktok_us_orders.csv", "tiktok_orders", tz="America/Los_Angeles").records
    orders = [r for r in records if isinstance(r, OrderRecord)]
    assert (first, len(orders)) == (WriteCounts(inserted=count), count)
    found = store_totals(engine, shop)
    assert (found["orders"], found["total"], found["units"], found["refunds"]) == \
        (count, int(sum(o.total for o in orders) * 100), sum(o.units for o in orders),
         sum(len(o.refunds) for o in orders))
    rows = table_rows(engine)
    assert run() == (count, WriteCounts(unchanged=count))
    assert table_rows(engine) == rows


# ---------------------------------------------------------------------------------------------- products
def test_products_fill_the_catalogue_and_an_import_keeps_winning(engine: Engine, tmp_path: Path) -> None:
    """TikTok product search into the store: new products and SKUs created with the launch day in the shop's zone
    and the sync day's stock; an imported launch date, selector, cost and that day's imported stock stay; a
    later sync of the same day replaces only its own stock figures."""
    [shop] = make_shops(engine, "tiktok_shop", "USD")
    with Session(engine) as s:
        stored = s.get(Shop, shop)
        assert stored is not None
        org_id, stored.timezone = stored.org_id, "America/Los_Angeles"
        s.add(Member(org_id=org_id, code="mia", name="Mia", role="selector", timezone="UTC", locale="en"))
        s.commit()
    first, second = "1729000000011000000", "1729000000011000100"
    sheet = tmp_path / "products.csv"
    sheet.write_text("shop,product,sku,name,unit_cost,launch_date,selector,stock\n"
                     f"a,{first},{first[:-1]}1,My serum,2.50,2026-01-05,mia,77\n")
    with Session(engine) as s:   # 07:00 UTC on 1 March is still 28 February in Los Angeles: that day's stock
        import_products(s, sheet, datetime(2026, 3, 1, 7, 0, tzinfo=UTC))
        s.commit()
    with FakeTikTokShop(seed=11, n_orders=5) as fake:
        def sync(now: datetime) -> SyncReport:
            fake.clock_offset_s = now.timestamp() - time.time()   # the platform's and the source's clock: now
            with TikTokShopSource(app_key=fake.app_key, app_secret=fake.app_secret, currency="USD",
                                  shop_tz="America/Los_Angeles", tokens=MemoryTokens(fake.initial_tokens()),
                                  base_url=fake.base_url, auth_base_url=fake.auth_base_url,
                                  clock=fake.server_time) as src:
                return sync_shop(engine, shop, src, ["products"], now)

        report = sync(datetime(2026, 3, 1, 7, 0, tzinfo=UTC))
        assert report.ok, report.resources
        assert counts_by_resource(report)["products"] == WriteCounts(inserted=39, updated=1)

        def catalogue() -> dict[str, Any]:
            with engine.connect() as c:
                rows = c.execute(text(
                    "SELECT p.platform_product_id, p.name, p.launched_on, m.code, s.platform_sku_id, s.seller_sku,"
                    " s.unit_cost_minor, s.currency, i.day, i.units_on_hand, i.imported FROM product p"
                    " JOIN sku s ON s.product_id = p.id LEFT JOIN member m ON m.id = p.selector_member_id"
                    " LEFT JOIN inventory_snapshot i ON i.sku_id = s.id WHERE p.shop_id = :s"), {"s": shop}).all()
            return {r[4]: (r[0], r[1], str(r[2]), r[3], r[5], r[6], r[7], str(r[8]), r[9], bool(r[10]))
                    for r in rows}

        found = catalogue()
        assert len(found) == sum(len(p.skus) for p in fake.products)
        # imported: name, launch date, selector, cost and stock of the day stay; the seller sku was empty: filled
        assert found[first[:-1] + "1"] == (first, "My serum", "2026-01-05", "mia", "TS-00-0", 250, "USD",
                                           "2026-02-28", 77, True)
        # the other SKUs of that product and a product the store did not have come from the API, without cost
        assert found[first[:-1] + "2"] == (first, "My serum", "2026-01-05", "mia", "TS-00-1", 0, "USD",
                                           "2026-02-28", 5, False)
        assert found[second[:-2] + "01"] == (second, "Pearl LED Mirror", "2025-12-20", None, "TS-01-0", 0, "USD",
                                             "2026-02-28", 9, False)

        # the cursor keeps the listing's time (23:00 in Los Angeles): the day is listed
        with Session(engine) as s:
            assert s.execute(select(SyncCursor.high_water).where(SyncCursor.resource == "products")).scalar_one() \
                == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)

        # the same day, later: the catalogue is not listed again (once a shop day), whatever moved on the platform
        sku_id, seller, _ = fake.products[1].skus[0]
        fake.products[1].skus[0] = (sku_id, seller, [3, 0])
        first_product = fake.products[0]
        first_product.skus[0] = (first_product.skus[0][0], first_product.skus[0][1], [500, 0])
        calls = len(fake.calls_to(PRODUCTS_SEARCH))
        report = sync(datetime(2026, 3, 1, 7, 59, tzinfo=UTC))
        assert (report.ok, counts_by_resource(report).get("products", WriteCounts()),
                len(fake.calls_to(PRODUCTS_SEARCH))) == (True, WriteCounts(), calls)
        found = catalogue()
        assert found[second[:-2] + "01"][7:] == ("2026-02-28", 9, False)
        assert found[first[:-1] + "1"][7:] == ("2026-02-28", 77, True)

        # the next day in Los Angeles: listed again, a new snapshot per SKU, the import's day kept as it was
        report = sync(datetime(2026, 3, 1, 8, 1, tzinfo=UTC))
        assert counts_by_resource(report)["products"] == WriteCounts(updated=40)
        assert len(fake.calls_to(PRODUCTS_SEARCH)) == calls + 1   # 40 products: one page
    with engine.connect() as c:
        days = dict(c.execute(text("SELECT day, count(*) FROM inventory_snapshot GROUP BY day")).all())
        imported_day = c.execute(text("SELECT units_on_hand FROM inventory_snapshot WHERE imported")).all()
    assert {str(k): v for k, v in days.items()} == {"2026-02-28": len(found), "2026-03-01": len(found)}
    assert [tuple(r) for r in imported_day] == [(77,)]


def test_shopee_items_fill_the_catalogue_with_launch_days_and_stock(engine: Engine, tmp_path: Path) -> None:
    """Shopee get_item_list + get_item_base_info + get_model_list into the store: items the orders did not sell
    created, launch days in the shop's zone, each model's (or model-less item's) stock as the sync day's; an
    imported launch date and the imported day's stock stay."""
    [shop] = make_shops(engine, "shopee", "SGD")
    sheet = tmp_path / "products.csv"
    sheet.write_text("shop,product,sku,name,unit_cost,launch_date,selector,stock\n"
                     "a,100005,1000051,Serum,2.50,2026-01-05,,77\n")
    with Session(engine) as s:
        import_products(s, sheet, datetime(2026, 11, 22, 4, tzinfo=UTC))   # noon in Singapore
        s.commit()
    with FakeShopee(orders=0) as fake:
        src = ShopeeSource(partner_id=fake.partner_id, partner_key=fake.partner_key, shop_id=fake.shop_id,
                           currency="SGD", tokens=MemoryTokens(fake.initial_tokens()), base_url=fake.base_url,
                           clock=fake.now, shop_tz="Asia/Singapore")
        try:
            report = sync_shop(engine, shop, src, ["products"], fake.now())
            first_calls = len(fake.calls_to("/api/v2/product/"))
            # the cursor keeps the listing's time (20:00 in Singapore): the day is listed
            with Session(engine) as s:
                assert s.execute(select(SyncCursor.high_water).where(SyncCursor.resource == "products")) \
                    .scalar_one() == datetime(2026, 11, 22, 12, tzinfo=UTC)
            # 23:59 in Singapore, the same day: no product call at all
            fake.set_now(datetime(2026, 11, 22, 15, 59, tzinfo=UTC))
            later = sync_shop(engine, shop, src, ["products"], fake.now())
            later_calls = len(fake.calls_to("/api/v2/product/"))
            # 00:01 on the 23rd in Singapore: listed again, a new snapshot per SKU
            fake.set_now(datetime(2026, 11, 22, 16, 1, tzinfo=UTC))
            next_day = sync_shop(engine, shop, src, ["products"], fake.now())
            next_day_calls = len(fake.calls_to("/api/v2/product/"))
        finally:
            src.close()
    assert report.ok, report.resources
    assert counts_by_resource(report)["products"] == WriteCounts(inserted=28, updated=1)
    assert (later.ok, counts_by_resource(later).get("products", WriteCounts()), first_calls, later_calls) == \
        (True, WriteCounts(), 1 + 1 + 19, 1 + 1 + 19)     # one list page (100 a page), one info call, 19 model lists
    assert (next_day.ok, counts_by_resource(next_day)["products"], next_day_calls) == \
        (True, WriteCounts(updated=29), 2 * (1 + 1 + 19))
    with engine.connect() as c:
        rows = c.execute(text(
            "SELECT s.platform_sku_id, p.platform_product_id, p.name, p.launched_on, s.seller_sku, s.unit_cost_minor,"
            " i.day, i.units_on_hand, i.imported FROM product p JOIN sku s ON s.product_id = p.id"
            " LEFT JOIN inventory_snapshot i ON i.sku_id = s.id AND i.day = :d WHERE p.shop_id = :s"),
            {"s": shop, "d": date(2026, 11, 22)}).all()
        days = dict(c.execute(text("SELECT day, count(*) FROM inventory_snapshot GROUP BY day")).all())
    assert {str(k): v for k, v in days.items()} == {"2026-11-22": 10 + 19 * 2, "2026-11-23": 10 + 19 * 2}
    found = {r[0]: (r[1], r[2], str(r[3]), r[4], r[5], str(r[6]), r[7], bool(r[8])) for r in rows}
    assert len(found) == 10 + 19 * 2
    assert found["1000051"] == ("100005", "Serum", "2026-01-05", "SKU-005-1", 250, "2026-11-22", 77, True)
    assert found["1000052"] == ("100005", "Serum", "2026-01-05", "SKU-005-2", 0, "2026-11-22", 41, False)
    assert found["100000"] == ("100000", "Product 0", "2026-11-21", None, 0, "2026-11-22", 0, False)
    assert found["1000131"] == ("100013", "Product 13", "2026-10-13", "SKU-013-1", 0, "2026-11-22", 44, False)
