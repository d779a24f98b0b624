"""Benchmark: the TikTok Shop client's fetch+parse path, fake -> records, no store. Prints figures.

    python -m tests.benchmarks.bench_tiktok_fetch [--orders 1000000] [--page-size 100] [--in-process]

Serves --orders seeded orders from the fake TikTok Shop and streams them all through
`TikTokShopSource.pages("orders", ...)` (signing, HTTP keep-alive, JSON, Decimal money, OrderRecords), counting
records; up to 200,000 orders the merchandise total and units are also checked against the fake's expected
totals (a full extra generation pass). By default the fake runs in a child process, so this process's CPU time
is the client's alone (fetch thread included): "orders per CPU-second" is the client's cost, while the wall
figure is bounded by the slower side and by whatever else the machine runs. --in-process runs both in one
process (shared GIL) and reports their joint figures. Also prints the RSS of this process every 10 % of the
way (it must stay flat: pages stream, nothing accumulates) and the peak RSS.
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from bot.shops.tiktok_shop import TikTokShopSource
from storage.ingest.records import OrderRecord
from tests.benchmarks.common import rss_mb
from tests.fakes.tiktok_shop import FakeTikTokShop
from tests.memory_tokens import MemoryTokens

SEED = 20260101


def _serve(n_orders: int, conn: Connection) -> None:
    fake = FakeTikTokShop(seed=SEED, n_orders=n_orders, record_calls=False)
    fake.prerender()   # before the clock: the platform's own CPU is not this machine's
    fake.start()
    totals = fake.expected_totals() if n_orders <= 200_000 else None
    conn.send((fake.base_url, fake.app_key, fake.app_secret, fake.initial_tokens(), totals))
    conn.recv()
    fake.stop()


def run(n_orders: int, page_size: int, in_process: bool) -> dict[str, Any]:
    child = None
    fake = None
    if in_process:
        fake = FakeTikTokShop(seed=SEED, n_orders=n_orders, record_calls=False).start()
        base_url, app_key, app_secret, tokens = fake.base_url, fake.app_key, fake.app_secret, fake.initial_tokens()
        totals = fake.expected_totals() if n_orders <= 200_000 else None
    else:
        parent, child_end = multiprocessing.Pipe()
        child = multiprocessing.get_context("fork").Process(target=_serve, args=(n_orders, child_end), daemon=True)
        child.start()
        base_url, app_key, app_secret, tokens, totals = parent.recv()
    source = TikTokShopSource(app_key=app_key, app_secret=app_secret, tokens=MemoryTokens(tokens), base_url=base_url,
                              auth_base_url=base_url, page_size=page_size, timeout_s=60.0)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    count = units = pages = 0
    merchandise = Decimal(0)
    rss = [rss_mb()]
    step = max(1, n_orders // 10)
    next_mark = step
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        for page in source.pages("orders", None, until):
            pages += 1
            for record in page.records:
                assert isinstance(record, OrderRecord)
                merchandise += record.merchandise
                units += len(record.lines)
            count += len(page.records)
            if count >= next_mark:
                rss.append(rss_mb())
                next_mark += step
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        source.close()
        if fake is not None:
            fake.stop()
        if child is not None:
            parent.send("stop")
            child.join(10)
    if count != n_orders:
        raise AssertionError(f"fetched {count} orders, expected {n_orders}")
    if totals is not None and (merchandise * 100 != totals.merchandise_minor or units != totals.units):
        raise AssertionError("fetched totals differ from the fake's expected totals")
    fake_cpu = None
    if child is not None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        fake_cpu = usage.ru_utime + usage.ru_stime
    return {"orders": count, "pages": pages, "seconds": elapsed, "orders_per_s": count / elapsed,
            "cpu_s": cpu, "orders_per_cpu_s": count / cpu, "fake_cpu_s": fake_cpu,
            "rss_mb": rss, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checked": totals is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--in-process", action="store_true", help="run the fake in this process (shared GIL)")
    args = parser.parse_args()
    result = run(args.orders, args.page_size, args.in_process)
    where = "fake in this process" if args.in_process else "fake in a child process"
    print(f"TikTok fetch+parse ({where}): {result['orders']:,} orders in {result['pages']:,} pages, "
          f"{result['seconds']:.1f} s -> {result['orders_per_s']:,.0f} orders/s"
          + (" (totals checked against the fake)" if result["checked"] else ""))
    who = "client and fake" if args.in_process else "client only (fetch thread included)"
    print(f"CPU time of this process ({who}): {result['cpu_s']:.1f} s -> "
          f"{result['orders_per_cpu_s']:,.0f} orders per CPU-second")
    if result["fake_cpu_s"] is not None:
        print(f"CPU time of the fake's process (incl. start-up): {result['fake_cpu_s']:.1f} s")
    print("RSS of this process every 10 %, MB: " + " ".join(f"{v:.0f}" for v in result["rss_mb"]))
    print(f"peak RSS of this process: {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
