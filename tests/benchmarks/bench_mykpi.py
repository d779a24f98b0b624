"""Benchmark: how fast the console answers, on the demo store. Prints figures; asserts nothing.

    python -m tests.benchmarks.bench_mykpi [--runs 50] [--store URL]

Measures seeding, chart rendering, and end-to-end dispatcher latency (parse -> identity -> store ->
scoring -> card, chart cached after the first, card computed every time) for /mykpi, /team and /rank.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming
from cards.chart_cache import ChartCache
from cards.charts import ProgressChart, render_progress_chart
from scoring.rules import Rules
from services.container import Services
from storage.demo import seed_demo
from storage.engine import make_engine
from storage.migrate import upgrade

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def render_times(render: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds of `runs` calls after one warm-up call (fonts loaded, caches filled)."""
    render()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        render()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--store", help="SQLAlchemy URL of an EMPTY store (default: a temporary SQLite file)")
    args = parser.parse_args()
    url = args.store or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)

    started = time.perf_counter()
    with Session(engine) as session:
        summary = seed_demo(session, date(2026, 11, 22))
        session.commit()
    print(f"seed: {summary.orders} orders in {time.perf_counter() - started:.2f} s ({url.split(':')[0]})")
    with engine.connect() as conn:
        print(f"store rows: {conn.execute(text('SELECT COUNT(*) FROM order_line')).scalar()} order lines")

    chart = ProgressChart("林小雨 · 2026-11 Net GMV", tuple(str(d) for d in range(1, 31)),
                          tuple(float(i * 1000) if i <= 22 else None for i in range(1, 31)), 40000.0, "USD")
    times = render_times(lambda: render_progress_chart(chart), 20)
    print(f"chart render: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")

    services = Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache())
    dispatcher = Dispatcher(services, clock=lambda: NOW)
    for user, command in (("host1", "/mykpi"), ("host1", "/mykpi week"), ("lead1", "/team"), ("host1", "/rank")):
        dispatcher.handle_message(Incoming("console", user, command))  # warm: chart drawn and cached
        latencies = []
        for _ in range(args.runs):
            dispatcher.cache.clear()  # measure the computed answer, not the minute's cached card
            t0 = time.perf_counter()
            dispatcher.handle_message(Incoming("console", user, command))
            latencies.append((time.perf_counter() - t0) * 1000)
        tracemalloc.start()  # a separate pass: tracing slows Python several times over
        for _ in range(3):
            dispatcher.cache.clear()
            dispatcher.handle_message(Incoming("console", user, command))
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"{user:6} {command:12} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  peak traced memory {peak:.1f} MB"
              f"  ({args.runs} runs)")


if __name__ == "__main__":
    main()
