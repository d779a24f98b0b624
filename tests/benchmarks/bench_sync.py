"""Benchmark: a whole TikTok Shop order sync, end to end: fake platform -> HTTP -> client -> store. Prints figures.

    python -m tests.benchmarks.bench_sync [--orders 1000000] [--store URL] [--reset] [--page-size 100]
                                          [--batch-pages 20] [--profile FILE] [--sqlite-pragma NAME=VALUE]
                                          [--in-process]

The fake TikTok Shop (tests/fakes/tiktok_shop.py) serves --orders seeded orders from a CHILD process (it stands
for the outside world: its CPU is not this process's), and this process syncs them with the real `sync_shop` and
`TikTokShopSource` (signed HTTP, prefetch thread, JSON, exact money), run as `kpibot sync` runs it: in a process
of its own that encodes the orders for the store (storage.ingest.fetch_process; --in-process runs it in this
process, as the scheduled refresh does). The store is a temporary SQLite file by default, or --store URL (e.g.
postgresql+psycopg://kpibot:kpibot@127.0.0.1:5432/kpibot_test_h1). The store must be empty; --reset first drops
and recreates a PostgreSQL store's `public` schema (everything in it is lost). It is migrated here.

Prints orders/s end to end (the sync call's wall time: first request to last commit; the source process's
start-up is before it), the CPU seconds of this process, of the source's and of the fake's, this process's RSS
every 10 % of the way and its peak RSS. Memory must stay flat (pages stream, nothing accumulates): "flat" means
at most 16 MB of growth over the second half. On SQLite the RSS first climbs by up to the connection's page cache
(64 MiB, storage/engine.py) and then stays put. Then checks the store against the fake's seed (`expected_totals`,
summed from the seed integers in the child): order count, units, merchandise, subtotal, discount, shipping, tax
and total, to the cent, and exits non-zero when anything differs. --profile FILE writes a cProfile of the sync
(this process's main thread: writing) for `python -m pstats FILE`. --batch-pages sets sync_shop's pages per
transaction; --sqlite-pragma NAME=VALUE (repeatable) tries SQLite settings.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.shops.tiktok_shop import TikTokShopSource
from storage.ingest.fetch_process import ProcessSource
from storage.ingest.records import Source
from storage.ingest.sync import BATCH_PAGES, sync_shop
from storage.ingest.writer import StoreWriter
from storage.models import Order, OrderLine
from tests.benchmarks.common import bench_shop, empty_store, rss_mb
from tests.fakes.tiktok_shop import FakeTikTokShop
from tests.memory_tokens import MemoryTokens

SEED = 20260101


def _serve(n_orders: int, conn: Connection) -> None:
    """The child: serve the fake until told to sum the expected totals, send them, then stop."""
    fake = FakeTikTokShop(seed=SEED, n_orders=n_orders, record_calls=False)
    fake.prerender()   # before the clock: the platform's own CPU is not this machine's
    fake.start()
    conn.send((fake.base_url, fake.app_key, fake.app_secret, fake.initial_tokens(), fake.timeline.gen.end_time))
    while (message := conn.recv()) != "stop":
        if message == "totals":
            conn.send(fake.expected_totals())
    fake.stop()


def _stored(engine: Engine, shop_id: int) -> dict[str, int]:
    o = Order.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(select(func.count(), func.sum(o.units), func.sum(o.merchandise_minor),
                                  func.sum(o.subtotal_minor), func.sum(o.discount_minor), func.sum(o.shipping_minor),
                                  func.sum(o.tax_minor), func.sum(o.total_minor))
                           .where(o.shop_id == shop_id)).one()
        lines = conn.execute(select(func.count()).select_from(OrderLine)).scalar_one()
    keys = ("orders", "units", "merchandise_minor", "subtotal_minor", "discount_minor", "shipping_minor",
            "tax_minor", "total_minor")
    return {**{k: int(v or 0) for k, v in zip(keys, row, strict=True)}, "lines": int(lines)}


def run(n_orders: int, url: str | None, reset: bool, page_size: int, profile: str | None,
        pragmas: list[str], batch_pages: int, in_process: bool = False) -> dict[str, Any]:
    engine = empty_store(url, reset, pragmas)
    shop_id = bench_shop(engine)
    parent, child_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(n_orders, child_end), daemon=True)
    child.start()
    try:
        base_url, app_key, app_secret, tokens, data_end = parent.recv()
        # the sync's `now`: after the last seeded update (the signed calls carry the real clock whatever this is)
        now = max(datetime.now(UTC), datetime.fromtimestamp(data_end, UTC) + timedelta(days=1))
        factory = partial(TikTokShopSource, app_key=app_key, app_secret=app_secret, tokens=MemoryTokens(tokens),
                          base_url=base_url, auth_base_url=base_url, currency="USD", shop_tz="America/Los_Angeles",
                          page_size=page_size, timeout_s=60.0)
        writer = StoreWriter(engine)
        source: Source = factory() if in_process else ProcessSource(factory, writer.encoder(shop_id))
        step = max(1, n_orders // 10)
        marks: list[tuple[int, float]] = [(0, rss_mb())]

        def progress(_resource: str, _pages: int, records: int) -> None:
            if records >= marks[-1][0] + step or (records >= n_orders and marks[-1][0] < records):
                marks.append((records, rss_mb()))

        profiler = cProfile.Profile() if profile else None
        cpu0 = time.process_time()
        started = time.perf_counter()
        try:
            if profiler is not None:
                profiler.enable()
            report = sync_shop(engine, shop_id, source, ["orders"], now, progress=progress, batch_pages=batch_pages,
                               writer=writer)
            if profiler is not None:
                profiler.disable()
        finally:
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu0
            source.close()   # the source's process has ended: its CPU is in RUSAGE_CHILDREN now, the fake's not yet
            source_cpu = _children_cpu()
        if profiler is not None and profile:
            profiler.dump_stats(profile)
        parent.send("totals")
        expected = parent.recv()
    finally:
        parent.send("stop")
        child.join(30)
    fake_cpu = _children_cpu() - source_cpu
    if not report.ok:
        raise SystemExit(f"the sync failed: {report}")
    stored = _stored(engine, shop_id)
    engine.dispose()
    return {"store": engine.dialect.name, "orders": report.resources[0].records, "pages": report.resources[0].pages,
            "counts": report.counts, "wall_s": wall, "cpu_s": cpu,
            "fake_cpu_s": fake_cpu, "source_cpu_s": None if in_process else source_cpu, "rss": marks,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "stored": stored,
            "expected": expected}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check(stored: dict[str, int], expected: Any) -> list[str]:
    """The differences between the store and the seed's totals (none when the sync was exact)."""
    wanted = {"orders": expected.orders, "units": expected.units, "lines": expected.units,
              "merchandise_minor": expected.merchandise_minor, "subtotal_minor": expected.subtotal_minor,
              "discount_minor": expected.discount_minor, "shipping_minor": expected.shipping_minor,
              "tax_minor": expected.tax_minor, "total_minor": expected.total_minor}
    return [f"{k}: stored {stored[k]:,}, expected {v:,}" for k, v in wanted.items() if stored[k] != v]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--store", help="SQLAlchemy URL of an empty store (default: a temporary SQLite file)")
    parser.add_argument("--reset", action="store_true", help="PostgreSQL: drop and recreate the public schema first")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--profile", help="write a cProfile of the sync (main thread) to this file")
    parser.add_argument("--sqlite-pragma", action="append", default=[],
                        help="extra PRAGMA for each SQLite connection, to try settings (e.g. cache_size=-65536)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the source in this process (as the scheduled refresh does), not in its own")
    parser.add_argument("--batch-pages", type=int, default=BATCH_PAGES,
                        help=f"at most this many pages per transaction (sync_shop's batch_pages: {BATCH_PAGES})")
    args = parser.parse_args()
    r = run(args.orders, args.store, args.reset, args.page_size, args.profile, args.sqlite_pragma, args.batch_pages,
            args.in_process)
    c = r["counts"]
    print(f"store: {r['store']}  orders: {r['orders']:,} in {r['pages']:,} pages "
          f"({c.inserted:,} inserted, {c.updated:,} updated, {c.unchanged:,} unchanged)")
    print(f"sync end to end: {r['orders'] / r['wall_s']:,.0f} orders/s ({r['wall_s']:.1f} s wall)")
    where = "fetch thread included" if r["source_cpu_s"] is None else \
        f"writing); the source's process {r['source_cpu_s']:.1f} s (fetching, mapping, binding; incl. start-up"
    print(f"CPU: this process {r['cpu_s']:.1f} s ({where}); the fake's process {r['fake_cpu_s']:.1f} s (incl. "
          "start-up and expected totals)")
    rss = r["rss"]
    print("RSS every 10 % (orders: MB): " + ", ".join(f"{n:,}: {mb:.0f}" for n, mb in rss))
    second_half = [mb for n, mb in rss if n >= r["orders"] // 2]
    growth = max(second_half) - second_half[0] if second_half else 0.0
    print(f"peak RSS: {r['peak_rss_mb']:.0f} MB; growth over the second half: {growth:.0f} MB "
          f"({'flat' if growth <= 16 else 'NOT FLAT'})")
    problems = check(r["stored"], r["expected"])
    s = r["stored"]
    if problems:
        print("STORE DIFFERS FROM THE SEED: " + "; ".join(problems))
        sys.exit(1)
    print(f"store checked against the seed: {s['orders']:,} orders, {s['units']:,} units, merchandise "
          f"{s['merchandise_minor'] / 100:,.2f} USD, total {s['total_minor'] / 100:,.2f} USD: exact")


if __name__ == "__main__":
    main()
