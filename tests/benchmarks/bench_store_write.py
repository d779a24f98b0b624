"""Benchmark: how fast shop data goes into the store through the real sync path. Prints figures; asserts nothing.

    python -m tests.benchmarks.bench_store_write [--orders 1000000] [--store URL]

Generates orders in-process (pages of 100 orders, 2 lines each, 5 % with a completed refund, 10 % with a
visit, a pool of 5,000 products with 2 SKUs each) and syncs them with `sync_shop` as in production: pages are
written 10 at a time into one transaction that commits with the cursor every 2 s (storage/ingest/sync.py).
Prints orders/s for the writer alone (generation time taken out) and end to end, peak RSS and the RSS along the
way (it must stay flat), then the speed of a re-sync of the first tenth of the pages (all unchanged: the overlap path).

--store takes the SQLAlchemy URL of an EMPTY store (default: a temporary SQLite file); it is migrated here.
For SQLite, --sqlite-pragma NAME=VALUE (repeatable) and --sqlite-checkpointer (WAL checkpoints from a
background thread instead of inside the writer's commits) try engine settings without changing storage/engine.py.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session

from storage.ingest.records import (
    LineRecord,
    OrderRecord,
    OrderStatus,
    Page,
    RefundKind,
    RefundRecord,
    RefundStatus,
    Visit,
)
from storage.ingest.sync import sync_shop
from storage.models import Order, OrderLine
from tests.benchmarks.common import bench_shop, empty_store, rss_mb

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PER_PAGE = 100
PRODUCTS = 5000
PRICES = [Decimal(f"{p}.{c:02d}") for p in range(3, 60, 7) for c in (0, 49, 99)]




class GeneratedSource:
    """Pages of generated orders; `first`..`last` page numbers; the time spent generating is kept apart."""

    resources = ("orders",)

    def __init__(self, pages: int, first: int = 0) -> None:
        self.first, self.last, self.gen_s = first, first + pages, 0.0
        self.rss: list[tuple[int, float]] = []

    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        start = int(resume) if resume else self.first
        step = max(1, (self.last - start) // 10)
        for n in range(start, self.last):
            t = time.perf_counter()
            page = self.page(n)
            self.gen_s += time.perf_counter() - t
            if (n - start) % step == 0:
                self.rss.append((n - start, rss_mb()))
            yield page

    def page(self, n: int) -> Page:
        rnd = random.Random(n)
        orders = []
        for i in range(PER_PAGE):
            number = n * PER_PAGE + i
            at = T0 + timedelta(seconds=number)
            lines = []
            for j in range(2):
                product = rnd.randrange(PRODUCTS)
                qty = rnd.randint(1, 3)
                price = rnd.choice(PRICES)
                lines.append(LineRecord(f"{number}-{j}", f"P{product}", f"P{product}-{rnd.randrange(2)}",
                                        f"Product {product}", qty, price, price * qty))
            merchandise = sum((line.amount for line in lines), Decimal(0))
            refunds = ()
            if number % 20 == 7:
                refunds = (RefundRecord(f"R{number}", RefundKind.REFUND, RefundStatus.COMPLETED, "USD",
                                        lines[0].amount, at, at),)
            visits = (Visit(at, "tiktok", "social", f"c{number % 50}"),) if number % 10 == 3 else ()
            orders.append(OrderRecord(
                f"O{number:09d}", OrderStatus.PAID, "USD", merchandise, Decimal(0), merchandise, Decimal("4.99"),
                Decimal(0), merchandise + Decimal("4.99"), at, at, paid_at=at, lines=tuple(lines), refunds=refunds,
                buyer_ref=f"buyer{rnd.randrange(200_000)}", promo_codes=("SAVE5",) if number % 33 == 0 else (),
                visits=visits))
        return Page("orders", orders, resume=str(n + 1) if n + 1 < self.last else None,
                    high_water=orders[-1].updated_at)

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--store", help="SQLAlchemy URL of an EMPTY store (default: a temporary SQLite file)")
    parser.add_argument("--sqlite-pragma", action="append", default=[],
                        help="extra PRAGMA for each SQLite connection, to try settings (e.g. cache_size=-65536)")
    parser.add_argument("--sqlite-checkpointer", action="store_true",
                        help="checkpoint the WAL from a background thread (with wal_autocheckpoint=0 for the writer)")
    args = parser.parse_args()
    if args.sqlite_checkpointer:
        args.sqlite_pragma.append("wal_autocheckpoint=0")
    engine = empty_store(args.store, False, args.sqlite_pragma)
    shop_id = bench_shop(engine)

    stop = threading.Event()
    if args.sqlite_checkpointer:
        checkpointer = sqlite3.connect(engine.url.database or "", check_same_thread=False)

        def checkpoint() -> None:
            while not stop.wait(0.5):
                checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

        threading.Thread(target=checkpoint, daemon=True).start()
    pages = max(1, args.orders // PER_PAGE)
    source = GeneratedSource(pages)
    now = T0 + timedelta(days=400)
    started = time.perf_counter()
    report = sync_shop(engine, shop_id, source, ["orders"], now)
    wall = time.perf_counter() - started
    assert report.ok, report
    orders = pages * PER_PAGE
    with Session(engine) as session:
        stored = session.execute(select(func.count()).select_from(Order)).scalar_one()
        lines = session.execute(select(func.count()).select_from(OrderLine)).scalar_one()
    print(f"store: {engine.dialect.name}  orders: {orders:,} ({stored:,} stored, {lines:,} lines)")
    print(f"write: {orders / (wall - source.gen_s):,.0f} orders/s (generation excluded; "
          f"{wall - source.gen_s:.1f} s)  end to end: {orders / wall:,.0f} orders/s ({wall:.1f} s)")
    print("rss along the way (page: MB): " + ", ".join(f"{p}: {mb:.0f}" for p, mb in source.rss))
    print(f"peak rss: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    again = GeneratedSource(max(1, pages // 10))
    with engine.begin() as conn:   # forget the cursor so the same window is fetched again
        conn.exec_driver_sql("UPDATE sync_cursor SET high_water = NULL")
    started = time.perf_counter()
    report = sync_shop(engine, shop_id, again, ["orders"], now)
    wall = time.perf_counter() - started
    counts = report.counts
    assert (counts.inserted, counts.updated) == (0, 0), counts
    print(f"re-sync of {counts.unchanged:,} unchanged orders: "
          f"{counts.unchanged / (wall - again.gen_s):,.0f} orders/s (generation excluded)")
    stop.set()
    engine.dispose()


if __name__ == "__main__":
    main()
