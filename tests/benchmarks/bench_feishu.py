"""Benchmark: /mykpi over the Feishu long connection, against a bare lark-oapi handler. Prints figures.

    python -m tests.benchmarks.bench_feishu [--events 100] [--orders 100000]

Builds a SQLite store with the demo organisation grown to about --orders orders (the demo's orders copied
with new ids), starts the fake Feishu, and measures the time from pushing an event to the reply arriving:
first for a bare handler that replies a fixed text, then for kpibot's adapter (chart uploaded once, the
card kept for the minute as in production), then with the card cache cleared before every event (every
answer computed from the store). Prints p50/p99 and the ratio to the bare handler.

Events are pushed at most PACE_PER_S a second: Feishu allows an app 50 calls a second and 1,000 a minute, and the
adapter keeps to both, so a faster push would measure the wait for the limit rather than the answer (the bare
handler calls the SDK directly, without limits). `against_bare` is what the benchmark suite imports.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lark_oapi.api.im.v1 import P2ImMessageReceiveV1, ReplyMessageRequest, ReplyMessageRequestBody
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import FeishuConfig
from bot.dispatch import Dispatcher
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from scoring.rules import Rules
from services.container import Services
from storage.demo import seed_demo
from storage.engine import make_engine
from storage.ingest.heap import freeze_for_life
from storage.migrate import upgrade
from tests.benchmarks.bench_mykpi import percentile
from tests.fakes.feishu import FakeFeishu

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PACE_PER_S = 15   # under Feishu's 1,000 calls a minute per app (16.7 a second), which the adapter keeps to
ORDER_COLUMNS = ("shop_id, status, currency, subtotal_minor, discount_minor, merchandise_minor, shipping_minor, "
                 "tax_minor, total_minor, refunded_minor, units, created_at, paid_at, shipped_at, delivered_at, "
                 "cancelled_at, platform_updated_at, member_id, live_session_id, content_post_id, creator_id, "
                 "attribution_rule, promo_code, buyer_ref, is_sample")


def build_store(orders: int) -> Any:
    engine = make_engine(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    upgrade(engine)
    with Session(engine) as s:
        seed_demo(s, date(2026, 11, 22))
        s.commit()
    with engine.begin() as c:
        base = c.execute(text("SELECT COUNT(*) FROM shop_order")).scalar_one()
        copy = 1
        while c.execute(text("SELECT COUNT(*) FROM shop_order")).scalar_one() < orders:
            c.execute(text(f"INSERT INTO shop_order (platform_order_id, {ORDER_COLUMNS}) "
                           f"SELECT platform_order_id || '-c{copy}', {ORDER_COLUMNS} FROM shop_order "
                           f"WHERE id <= :base"), {"base": base})
            copy += 1
        total = c.execute(text("SELECT COUNT(*) FROM shop_order")).scalar_one()
    return engine, total


class BareAdapter(FeishuAdapter):
    """The same SDK clients and thread model, replying a fixed text: the floor for any handler."""

    def handle_message(self, data: P2ImMessageReceiveV1) -> None:
        body = (ReplyMessageRequestBody.builder().msg_type("text").content(json.dumps({"text": "ok"}))
                .uuid(data.event.message.message_id).build())
        self.rest.im.v1.message.reply(ReplyMessageRequest.builder().message_id(data.event.message.message_id)
                                      .request_body(body).build())


def measure(fake: FakeFeishu, adapter: FeishuAdapter, events: int, text_: str, tag: str,
            cold: bool = False) -> list[float]:
    before = fake.connections
    adapter.start()
    fake.wait_for(lambda: fake.connections > before, timeout=30)
    freeze_for_life()   # as `kpibot run` does once serving (bot.cli.serve)
    latencies = []
    for i in range(events + 1):
        message_id = f"om_{tag}_{i}"
        if cold:
            adapter.dispatcher.cache.clear()
        # one person in many one-to-one chats (a single chat is throttled to 5 answers a second)
        event = fake.message_event("ou_host1", text_, chat_id=f"oc_p2p_{i % 50}", message_id=message_id)
        seen = len(fake.messages)   # the reply can only be among the messages sent from now on
        started = time.perf_counter()
        fake.push_event_nowait(event)
        fake.wait_for(lambda m=message_id, n=seen: any(x.get("reply_to") == m for x in fake.messages[n:]),
                      timeout=30)
        if i:  # the first one draws and uploads the chart
            latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, 1 / PACE_PER_S - (time.perf_counter() - started)))
    adapter.stop()
    return latencies


def against_bare(engine: Engine, clock: Callable[[], datetime], events: int) -> tuple[list[float], list[float],
                                                                                         list[float]]:
    """Latencies in ms of /mykpi over the fake Feishu on `engine`'s store, as of `clock()`: a bare lark-oapi
    handler replying a fixed text, kpibot with its card cache (as in production), kpibot with the cache cleared
    before every event (max(10, events // 5) of those)."""
    with FakeFeishu(check_cards=False) as fake:   # checked after the runs: the fake's checks are not kpibot's time
        config = FeishuConfig(fake.app_id, fake.app_secret, fake.base_url)

        def dispatcher() -> Dispatcher:
            return Dispatcher(Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache()), clock=clock)

        bare = measure(fake, BareAdapter(config, dispatcher(), engine), events, "/mykpi", "bare")
        ours = measure(fake, FeishuAdapter(config, dispatcher(), engine), events, "/mykpi", "kpibot")
        cold = measure(fake, FeishuAdapter(config, dispatcher(), engine), max(10, events // 5), "/mykpi",
                       "cold", cold=True)
        fake.check_sent_cards()
    return bare, ours, cold


def print_against_bare(bare_name: str, bare: list[float], ours: list[float], cold: list[float]) -> None:
    """The three latency rows and kpibot's ratio to the bare SDK handler (shared with bench_dingtalk)."""
    for name, values in ((bare_name, bare), ("kpibot /mykpi", ours), ("kpibot /mykpi, no cache", cold)):
        print(f"{name:24} p50 {percentile(values, 0.5):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms  "
              f"mean {statistics.mean(values):7.1f} ms  ({len(values)} events)")
    p50_ratio = percentile(ours, 0.5) / percentile(bare, 0.5)
    p99_ratio = percentile(ours, 0.99) / percentile(bare, 0.99)
    print(f"ratio kpibot/bare: p50 {p50_ratio:.1f}x  p99 {p99_ratio:.1f}x  (target: p99 within 1.5x and under 300 ms)")


def run_against_bare(against: Callable[[Any, Callable[[], datetime], int], tuple[list[float], ...]],
                     bare_name: str) -> None:
    """The command line of bench_feishu and bench_dingtalk: a grown demo store, then `against` it, printed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    engine, total = build_store(args.orders)
    print(f"store: {total} orders (SQLite) built in {time.perf_counter() - t0:.1f} s")
    bare, ours, cold = against(engine, lambda: NOW, args.events)
    print_against_bare(bare_name, bare, ours, cold)


def main() -> None:
    run_against_bare(against_bare, "bare lark-oapi handler")


if __name__ == "__main__":
    main()
