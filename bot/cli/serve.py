"""kpibot run: the long-running bot process (every configured platform and the scheduler; never the console:
with no platform configured it refuses, so a typo in .env is not a process that "runs" as a demo member)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.dispatch import Dispatcher
from services.container import Services
from storage.ingest.heap import freeze_for_life

log = logging.getLogger(__name__)
# the process's status lines ("kpibot: serving" ...) as log records too, with [ops] log_format = "json"
status_log = logging.getLogger("bot.status")
STOPPED_EARLY = "kpibot: stopped before the store could be reached"
NO_PLATFORM = ("kpibot: run needs a chat platform: set [feishu] app_id (KPIBOT_FEISHU_APP_ID) or [dingtalk] "
               "client_id (KPIBOT_DINGTALK_CLIENT_ID); the console is kpibot demo")


def no_platform(config: Config) -> bool:
    """True when neither Feishu nor DingTalk is configured: `kpibot run` then refuses (exit 2) before its store."""
    return config.feishu is None and config.dingtalk is None


class OpsUnavailable(Exception):
    """The [ops] endpoint cannot listen where it is configured (the port in use, say): one line, exit 2."""


@dataclass
class Startup:
    """What `kpibot run` sets up before its first try of the store (bot.cli.router): the log format, so the
    retry warnings are already JSON in json mode, and SIGTERM/SIGINT handling, so a stop while waiting for the
    store exits 0 with one line. A signal only sets `stop`: the store's retry ends its wait on it
    (bot.app.build_services_waiting), and serve() watches it."""

    json_logs: bool
    stop: threading.Event = field(default_factory=threading.Event)
    previous: dict[int, Any] = field(default_factory=dict)
    ops: Any = None   # bot.ops.OpsServer when [ops] port is set: the process's one, started before the store

    @classmethod
    def begin(cls, config: Config) -> Startup:
        """Also starts the ops endpoint, so a liveness probe passes while the store is waited for (minutes, at
        worst): /healthz 200, /readyz 503 with the store "waiting" until serve() hands it the real checks."""
        startup = cls(json_logs=config.ops.log_format == "json")
        if startup.json_logs:
            from bot.logs import use_json_logs

            use_json_logs()
            status_log.setLevel(logging.INFO)
        if config.ops.port:   # before the signal handlers: a port in use leaves nothing behind
            from bot.ops import OpsServer

            try:
                startup.ops = OpsServer(config.ops.host, config.ops.port, {"store": lambda: False},
                                        waiting={"store": "waiting"}).start()
            except OSError as exc:
                raise OpsUnavailable(f"kpibot: cannot serve [ops] on {config.ops.host}:{config.ops.port}: "
                                     f"{exc.strerror or exc}") from None
            host, port = startup.ops.address
            status(f"kpibot: health and metrics on http://{host}:{port}/", startup.json_logs)
        for sig in (signal.SIGTERM, signal.SIGINT):
            startup.previous[sig] = signal.signal(sig, startup._signalled)
        return startup

    def _signalled(self, *_: object) -> None:
        self.stop.set()   # never raises: an exception from a handler would land anywhere, a migration included

    def reached(self) -> None:
        if self.ops is not None:
            self.ops.waiting = {"store": "reached", "platforms": "connecting"}

    def close(self) -> None:
        """At any exit of `kpibot run`: the ops endpoint stopped if it still runs (serve() stops it first) and the
        signal handlers as they were (main may run again in the same process)."""
        if self.ops is not None:
            self.ops.stop()
            self.ops = None
        self.restore()

    def stopped_early(self) -> int:
        self.restore()
        status(STOPPED_EARLY, self.json_logs)
        return 0

    def restore(self) -> None:
        """The signal handlers as they were (the console's Ctrl-C)."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def status(line: str, json_logs: bool) -> None:
    """A status line: printed on stdout in both log formats (tests/bot_process.py and operators' scripts wait
    for "kpibot: serving" there) and, in json mode, also logged as a JSON record on stderr."""
    print(line, flush=True)
    if json_logs:
        status_log.info(line)


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return serve(services, config, Dispatcher(services, clock), args.startup)


def serve(services: Services, config: Config, dispatcher: Dispatcher, startup: Startup) -> int:
    """The long-running process: every configured chat platform at once (bot.cli.router refused a config with
    none) until SIGTERM or Ctrl-C. If any connection ends for good, the process stops and exits non-zero.
    `startup`: the signal handling, log format and ops endpoint set up before the store was reached (a stop then
    is not lost)."""
    from bot.scheduler import start_scheduler, stop_scheduler  # APScheduler: for this process only

    json_logs = startup.json_logs
    adapters: list[Any] = []
    watchdog_s = float(config.ops.watchdog_seconds)
    if config.feishu is not None:
        from bot.platforms.feishu import FeishuAdapter

        adapters.append(FeishuAdapter(config.feishu, dispatcher, services.engine, watchdog_s=watchdog_s))
    if config.dingtalk is not None:
        from bot.platforms.dingtalk import DingTalkAdapter

        adapters.append(DingTalkAdapter(config.dingtalk, dispatcher, services.engine, watchdog_s=watchdog_s))
    stop = startup.stop
    started: list[Any] = []
    try:
        for adapter in adapters:
            adapter.start()
            started.append(adapter)
            status(f"kpibot: connected to {_where(adapter.platform, config)}", json_logs)
    except ConnectionError as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        for adapter in adapters:
            adapter.stop()
        return 1
    refresh_every = timedelta(minutes=config.schedule.refresh_minutes)
    ops, startup.ops = startup.ops, None   # stopped below, by this function
    if ops is not None:
        ops.ready_when(_ready_checks(services, started, refresh_every, dispatcher.clock))
    # what start-up made (modules, SDK clients, the schema) lives as long as the process: out of the collector's
    # full passes, which otherwise walk all of it on the thread of whichever answer is running (100-300 ms)
    freeze_for_life()
    scheduler = start_scheduler(services, {a.platform: a for a in started}, dispatcher.clock,
                                refresh_every=refresh_every,
                                platforms=config.platforms, cache=dispatcher.cache,
                                score_time=config.schedule.score_time, fx=config.fx)
    status("kpibot: serving; stop with Ctrl-C or SIGTERM", json_logs)
    code = 0
    while not stop.wait(2):
        dead = [a.platform for a in started if not a.alive()]
        if dead:
            print(f"kpibot: the {', '.join(dead)} connection ended for good (see the log); exiting", file=sys.stderr)
            code = 1
            break
    finished = _drain(scheduler, started, float(config.ops.drain_seconds), stop_scheduler)
    if ops is not None:
        ops.stop()
    status("kpibot: stopped", json_logs)
    if not finished:
        # the interpreter would wait at exit for the worker threads still sending: the bound holds only by leaving
        sys.stderr.flush()
        os._exit(code)
    return code


def _drain(scheduler: Any, started: list[Any], bound_s: float, stop_scheduler: Callable[[Any], None]) -> bool:
    """Stop within `bound_s` in all ([ops] drain_seconds; orchestrators kill 30 s after SIGTERM): first every
    platform stops taking events at once (refused, so the platform delivers them again, to the next process),
    then the scheduler stops (a digest being sent finishes first; a refresh stops after its page), then each
    adapter closes its connection and finishes its answers in flight with what is left of the bound. The pools
    close first because the scheduler may take the whole bound: events acked meanwhile could not be answered.
    What could not finish is logged. True when everything finished in time."""
    deadline = time.monotonic() + bound_s
    for adapter in started:
        adapter.pool.close()
    stopping = threading.Thread(target=stop_scheduler, args=(scheduler,), name="stop-scheduler", daemon=True)
    stopping.start()
    stopping.join(max(deadline - time.monotonic(), 0.0))
    if stopping.is_alive():
        log.error("the scheduler's running job did not finish within the %.0f s drain; it is abandoned", bound_s)
    for adapter in started:
        adapter.stop(deadline=deadline)
    return not stopping.is_alive() and all(adapter.pool.idle() for adapter in started)


def _ready_checks(services: Services, adapters: list[Any], refresh_every: timedelta,
                  clock: Callable[[], datetime]) -> dict[str, Callable[[], bool]]:
    """What /readyz checks once the process serves: the store answers, every platform connection is up, and
    refresh_leader: some replica took, renewed or finished the refresh lease within two refresh intervals."""
    from storage.health import lease_current, store_answers

    checks: dict[str, Callable[[], bool]] = {"store": lambda: store_answers(services.engine)}
    for adapter in adapters:
        checks[adapter.platform] = adapter.connected
    checks["refresh_leader"] = lambda: lease_current(services.engine, clock(), 2 * refresh_every)
    return checks


def _where(platform: str, config: Config) -> str:
    if platform == "feishu" and config.feishu is not None:
        return f"Feishu at {config.feishu.domain} as app {config.feishu.app_id}"
    if platform == "dingtalk" and config.dingtalk is not None:
        return f"DingTalk at {config.dingtalk.endpoint} as app {config.dingtalk.client_id}"
    return platform
