"""Benchmark: /mykpi over the DingTalk Stream connection, against a bare dingtalk-stream handler. Prints figures.

    python -m tests.benchmarks.bench_dingtalk [--events 100] [--orders 100000]

The same store as bench_feishu (the demo grown to about --orders orders) and the fake DingTalk. Measures the
time from pushing a bot message to its answer reaching the chat: first for the SDK's own client with a
`ChatbotHandler` that replies a fixed text through the sessionWebhook (the floor), then for kpibot's adapter
(an interactive card: chart uploaded once, card created and delivered; the card kept for the minute as in
production), then with the card cache cleared before every message (every answer computed from the store).
Messages are pushed at most PACE_PER_S a second: DingTalk allows 20 calls a second per API and services, and the
adapter keeps to it, so a faster push would measure the wait for the limit rather than the answer.
`against_bare` is what the benchmark suite imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dingtalk_stream
from dingtalk_stream import AckMessage, ChatbotHandler, ChatbotMessage, DingTalkStreamClient
from sqlalchemy.engine import Engine

from bot.config import DingTalkConfig
from bot.dispatch import Dispatcher
from bot.platforms.dingtalk import DingTalkAdapter
from cards.chart_cache import ChartCache
from scoring.rules import Rules
from services.container import Services
from storage.ingest.heap import freeze_for_life
from tests.benchmarks.bench_feishu import run_against_bare
from tests.fakes.dingtalk import FakeDingTalk

PACE_PER_S = 15


class _BareHandler(ChatbotHandler):
    async def process(self, callback: Any) -> tuple[int, str]:
        message = ChatbotMessage.from_dict(callback.data)
        await asyncio.to_thread(self.reply_text, "ok", message)
        return AckMessage.STATUS_OK, "OK"


class BareSdk:
    """The SDK's client as its README runs it, in a thread of its own; stop() cancels its loop's tasks."""

    def __init__(self, fake: FakeDingTalk) -> None:
        DingTalkStreamClient.OPEN_CONNECTION_API = fake.base_url + "/v1.0/gateway/connections/open"
        self.client = DingTalkStreamClient(dingtalk_stream.Credential(fake.client_id, fake.client_secret))
        self.client.register_callback_handler(ChatbotMessage.TOPIC, _BareHandler())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            self.loop.run_until_complete(self.client.start())

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """The SDK's start() catches the first CancelledError and sleeps 10 s before reconnecting, so cancel
        until its loop ends."""
        def cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
        while self.thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(cancel_all)
            self.thread.join(0.2)


def measure(fake: FakeDingTalk, bot: Any, events: int, tag: str, reset: Any = None) -> list[float]:
    before = fake.connections
    bot.start()
    fake.wait_for(lambda: fake.connections > before, timeout=30)
    freeze_for_life()   # as `kpibot run` does once serving (bot.cli.serve)
    latencies = []
    for i in range(events + 1):
        if reset is not None:
            reset()
        message = fake.bot_message("host1", "/mykpi", msg_id=f"msg_{tag}_{i}")
        seen = len(fake.delivered)   # the answer can only be among the deliveries from now on
        started = time.perf_counter()
        fake.push_message_nowait(message)
        fake.wait_for(lambda n=seen: any(d.target == "host1" for d in fake.delivered[n:]), timeout=30)
        if i:  # the first one draws and uploads the chart
            latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, 1 / PACE_PER_S - (time.perf_counter() - started)))
    bot.stop()
    return latencies


def against_bare(engine: Engine, clock: Callable[[], datetime], events: int) -> tuple[list[float], list[float],
                                                                                         list[float]]:
    """Latencies in ms of /mykpi over the fake DingTalk on `engine`'s store, as of `clock()`: the SDK's client with
    a bare handler replying a fixed text, kpibot with its card cache (as in production), kpibot with the cache
    cleared before every message (max(10, events // 5) of those)."""
    with FakeDingTalk(group_limit=10 ** 6) as fake:
        config = DingTalkConfig(fake.client_id, fake.client_secret, endpoint=fake.base_url,
                                media_endpoint=fake.base_url, card_template_id="kpibot_card.schema")

        def adapter() -> DingTalkAdapter:
            services = Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache())
            return DingTalkAdapter(config, Dispatcher(services, clock=clock), engine)

        bare = measure(fake, BareSdk(fake), events, "bare")
        ours = measure(fake, adapter(), events, "kpibot")
        cold_bot = adapter()
        cold = measure(fake, cold_bot, max(10, events // 5), "cold", reset=cold_bot.dispatcher.cache.clear)
    return bare, ours, cold


def main() -> None:
    run_against_bare(against_bare, "bare dingtalk-stream")


if __name__ == "__main__":
    main()
