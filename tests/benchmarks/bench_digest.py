"""Benchmark: 200 digest subscriptions due in the same minute, delivered through the fake Feishu and the fake
DingTalk by the real adapters. Prints the total time, the busiest second of calls per platform against its
limit, what the fakes refused, and the chart render time per chart.

    python -m tests.benchmarks.bench_digest [--subscriptions 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from bot.config import DingTalkConfig, FeishuConfig
from bot.dispatch import Dispatcher
from bot.jobs.digests import run_due_digests
from bot.platforms.dingtalk import DingTalkAdapter
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from cards.digest_chart import DigestChart, render_digest_chart
from scoring.rules import Rules
from services.container import Services
from storage.models import DigestSubscription, Team
from tests.benchmarks.bench_mykpi import render_times
from tests.conftest import seeded_demo
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.feishu import FakeFeishu

DUE = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)        # 09:00 in Asia/Shanghai


def busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, at in enumerate(stamps):
        while stamps[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=200)
    args = parser.parse_args()
    engine = seeded_demo(Path(tempfile.mkdtemp()) / "bench.db")
    charts = ChartCache()
    services = Services(engine, Rules(), "Asia/Shanghai", "en", charts)
    with Session(engine) as session:
        teams = list(session.execute(select(Team)).scalars())
        for i in range(args.subscriptions):
            platform = "feishu" if i % 2 == 0 else "dingtalk"
            chat = f"oc_bench_{i}" if platform == "feishu" else f"cid_bench_{i}"
            session.add(DigestSubscription(team_id=teams[i % len(teams)].id or 0, platform=platform, chat_id=chat,
                                           send_time="09:00", timezone="Asia/Shanghai",
                                           locale="zh" if i % 4 < 2 else "en", finance=i % 8 == 0, weekly=False))
        session.commit()
    with FakeFeishu() as feishu, FakeDingTalk() as dingtalk:
        fs = FeishuAdapter(FeishuConfig(feishu.app_id, feishu.app_secret, feishu.base_url), Dispatcher(services),
                           engine)
        dt = DingTalkAdapter(DingTalkConfig(dingtalk.client_id, dingtalk.client_secret, endpoint=dingtalk.base_url,
                                            media_endpoint=dingtalk.base_url, card_template_id="kpibot_card.schema"),
                             Dispatcher(services), engine)
        fs.start()
        dt.start()
        started = time.perf_counter()
        results = run_due_digests(services, {"feishu": fs, "dingtalk": dt}, DUE, "bench")
        total = time.perf_counter() - started
        fs.stop()
        dt.stop()
        feishu_sends = [m for m in feishu.messages if m.get("kind") == "create"]
        per_chat = Counter(m["chat_id"] for m in feishu_sends) + Counter(d.target for d in dingtalk.delivered)
        feishu_calls = [c.at for c in feishu.calls if "/im/v1/" in c.path]
        dingtalk_calls = Counter(c.path for c in dingtalk.calls if c.path.startswith("/v1.0/card"))
        dingtalk_peak = max(busiest_second([c.at for c in dingtalk.calls if c.path == p]) for p in dingtalk_calls)
        print(f"subscriptions due: {len(results)}; delivered {sum(r.ok for r in results)}; "
              f"chats reached {len(per_chat)}, most messages in one chat {max(per_chat.values())}")
        print(f"total {total:.2f} s ({total / max(1, len(results)) * 1000:.1f} ms per subscription)")
        print(f"busiest second: Feishu {busiest_second(feishu_calls)} calls (limit 50/s per app); "
              f"DingTalk {dingtalk_peak} calls to one card API (limit 20/s per API)")
        print(f"refused by the fakes: DingTalk throttled {len(dingtalk.throttled)}, "
              f"Feishu rate-limit answers {sum(1 for c in feishu.calls if c.code in (99991400, 230020))}")
    print(f"charts drawn: {charts.renders} for {len(results)} digests (one per team, language and kind)")
    sample = DigestChart(title="直播一组 Live US/UK · 2026-11", day_labels=tuple(str(d) for d in range(1, 31)),
                         cumulative=tuple(float(d * 2000) if d <= 22 else None for d in range(1, 31)),
                         target_total=88800.0, unit="USD",
                         members=tuple((f"成员 Member {i}", 0.5 + i / 40, i % 3 == 0) for i in range(12)))
    times = render_times(lambda: render_digest_chart(sample), 10)
    print(f"digest chart render: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (10 renders)")


if __name__ == "__main__":
    main()
