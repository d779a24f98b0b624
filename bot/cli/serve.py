"""kpibot run: the long-running bot process (every configured platform, the scheduler and the console)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.dispatch import Dispatcher
from bot.platforms.console import Console
from services.container import Services


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    dispatcher = Dispatcher(services, clock)
    return serve(services, config, Console(dispatcher, Path(config.charts.dir), sys.stdout), dispatcher)


def serve(services: Services, config: Config, console: Console, dispatcher: Dispatcher) -> int:
    """The long-running process: every configured chat platform at once until SIGTERM or Ctrl-C; the console
    when none is configured. If any connection ends for good, the process stops and exits non-zero."""
    from bot.scheduler import start_scheduler, stop_scheduler  # APScheduler: for this process only

    adapters: list[Any] = []
    if config.feishu is not None:
        from bot.platforms.feishu import FeishuAdapter

        adapters.append(FeishuAdapter(config.feishu, dispatcher, services.engine))
    if config.dingtalk is not None:
        from bot.platforms.dingtalk import DingTalkAdapter

        adapters.append(DingTalkAdapter(config.dingtalk, dispatcher, services.engine))
    if not adapters:
        console.repl("host1")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started: list[Any] = []
    try:
        for adapter in adapters:
            adapter.start()
            started.append(adapter)
            print(f"kpibot: connected to {_where(adapter.platform, config)}", flush=True)
    except ConnectionError as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        for adapter in adapters:
            adapter.stop()
        return 1
    scheduler = start_scheduler(services, {a.platform: a for a in started}, dispatcher.clock,
                                refresh_every=timedelta(minutes=config.schedule.refresh_minutes),
                                platforms=config.platforms, cache=dispatcher.cache,
                                score_time=config.schedule.score_time, fx=config.fx)
    print("kpibot: serving; stop with Ctrl-C or SIGTERM", flush=True)
    code = 0
    while not stop.wait(2):
        dead = [a.platform for a in started if not a.alive()]
        if dead:
            print(f"kpibot: the {', '.join(dead)} connection ended for good (see the log); exiting", file=sys.stderr)
            code = 1
            break
    stop_scheduler(scheduler)   # a digest being sent finishes first; a refresh stops after its page
    for adapter in started:
        adapter.pool.close()   # every platform stops taking events before any of them drains its work
    for adapter in started:
        adapter.stop()
    print("kpibot: stopped", flush=True)
    return code


def _where(platform: str, config: Config) -> str:
    if platform == "feishu" and config.feishu is not None:
        return f"Feishu at {config.feishu.domain} as app {config.feishu.app_id}"
    if platform == "dingtalk" and config.dingtalk is not None:
        return f"DingTalk at {config.dingtalk.endpoint} as app {config.dingtalk.client_id}"
    return platform
