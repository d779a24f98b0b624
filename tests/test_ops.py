"""kpibot run operated like a service, through the real process (tests/bot_process.py) against the fakes, on an
empty store: /healthz, /readyz and /metrics, JSON logs, the watchdog of deaf connections and the bounded drain at
SIGTERM. Waits are short here: a watchdog of 2-3 s stands for the default 300 s, a drain bound of 1 s for 25 s."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobExecutionEvent, JobSubmissionEvent
from lark_oapi.ws.pb.pbbp2_pb2 import Frame
from sqlalchemy.engine import Engine

from bot import metrics
from bot.config import FeishuConfig
from bot.jobs.refresh import release_lease, renew_lease, take_lease
from bot.logs import JsonFormatter, about_event
from bot.platforms.feishu import FeishuAdapter
from bot.scheduler import _record_lag
from storage.health import lease_current
from tests.bot_process import BotProcess
from tests.conftest import dispatcher_for, migrated_sqlite
from tests.conftest import settle as settle_pool
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.feishu import FakeFeishu

NO_FX = "[fx]\nenabled = false\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kpibot.db'}"


def ops(port: int, **keys: object) -> str:
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return f"{NO_FX}[ops]\nport = {port}\n{lines}"


def until(predicate: object, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def get(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def replied(feishu: FakeFeishu, message_id: str) -> bool:
    return any(m.get("reply_to") == message_id for m in feishu.messages)


def test_health_ready_and_metrics_then_not_ready_naming_feishu_when_its_connection_is_gone(tmp_path: Path) -> None:
    port = free_port()
    with FakeFeishu() as feishu, BotProcess(tmp_path, store_url(tmp_path), feishu=feishu, extra=ops(port)) as bot:
        bot.wait_serving()
        assert f"kpibot: health and metrics on http://127.0.0.1:{port}/" in bot.out
        health = get(port, "/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        # the refresh lease's holder is known once the first refresh ran (at once on an empty store)
        until(lambda: get(port, "/readyz").status_code == 200, what="/readyz 200")
        assert get(port, "/readyz").json() == {
            "status": "ready", "checks": {"store": True, "feishu": True, "refresh_leader": True}, "failed": []}

        feishu.push_event(feishu.message_event("ou_nobody", "/help", message_id="om_ops_1"))
        feishu.wait_for(lambda: replied(feishu, "om_ops_1"), timeout=30)
        until(lambda: 'kpibot_messages_handled_total{platform="feishu"} 1.0' in get(port, "/metrics").text,
              what="the message counted")
        text = get(port, "/metrics").text
        assert get(port, "/metrics").headers["content-type"].startswith("text/plain; version=")
        assert 'kpibot_answer_latency_seconds_count{platform="feishu"} 1.0' in text
        assert "kpibot_messages_failed_total" in text and "kpibot_job_lag_seconds{" in text

        feishu.refuse_connections()    # the SDK retries for ever: the process lives, but is not ready
        until(lambda: get(port, "/readyz").status_code == 503, what="/readyz 503")
        assert get(port, "/readyz").json() == {
            "status": "not ready", "checks": {"store": True, "feishu": False, "refresh_leader": True},
            "failed": ["feishu"]}
        assert get(port, "/healthz").status_code == 200
        assert bot.stop() == 0, bot.err


def test_a_deaf_feishu_connection_is_reconnected_and_then_answers_with_json_logs(tmp_path: Path) -> None:
    """The fake pings every 1 s and the watchdog allows 3 s of silence (standing for 300 s)."""
    with FakeFeishu(ping_interval=1) as feishu, \
            BotProcess(tmp_path, store_url(tmp_path), feishu=feishu,
                       extra=ops(0, watchdog_seconds=3, log_format="json")) as bot:
        bot.wait_serving()
        before = feishu.connections
        feishu.go_deaf()
        feishu.wait_for(lambda: feishu.connections > before and feishu.connected, timeout=20)
        feishu.push_event(feishu.message_event("ou_nobody", "/help", message_id="om_deaf_1"))
        feishu.wait_for(lambda: replied(feishu, "om_deaf_1"), timeout=30)
        assert bot.stop() == 0, bot.err
    lines = [json.loads(line) for line in bot.err.splitlines()]
    deaf = [line for line in lines if "the connection is deaf" in line["message"]]
    assert len(deaf) == 1, bot.err
    assert (deaf[0]["level"], deaf[0]["logger"]) == ("WARNING", "bot.platforms.common")
    assert set(deaf[0]) == {"time", "level", "logger", "message"}
    assert feishu.app_secret not in bot.err
    # the status lines: printed on stdout (bot_process waits there) and, in json mode, JSON records too
    status = [f"kpibot: connected to Feishu at {feishu.base_url} as app {feishu.app_id}",
              "kpibot: serving; stop with Ctrl-C or SIGTERM", "kpibot: stopped"]
    assert [line["message"] for line in lines if line["logger"] == "bot.status"] == status
    assert bot.out.splitlines() == status


def test_a_deaf_dingtalk_connection_is_reconnected_and_then_answers(tmp_path: Path) -> None:
    """A ping every 1 s and 1 s for its pong (watchdog_seconds = 2, standing for 300 s)."""
    with FakeDingTalk() as dingtalk, \
            BotProcess(tmp_path, store_url(tmp_path), dingtalk=dingtalk, extra=ops(0, watchdog_seconds=2)) as bot:
        bot.wait_serving()
        before = dingtalk.connections
        dingtalk.go_deaf()
        dingtalk.wait_for(lambda: dingtalk.connections > before and dingtalk.connected, timeout=20)
        since = len(dingtalk.delivered)
        dingtalk.push_message(dingtalk.bot_message("nobody1", "/help", msg_id="msg_deaf_1"))
        dingtalk.wait_for(lambda: any(d.target == "nobody1" for d in dingtalk.delivered[since:]), timeout=30)
        assert bot.stop() == 0, bot.err
    assert bot.err.count("no pong from the server for 1 s: the connection is deaf; reconnecting") == 1, bot.err


def test_sigterm_sends_the_slow_answer_in_flight_and_exits_0(tmp_path: Path) -> None:
    with FakeFeishu() as feishu, BotProcess(tmp_path, store_url(tmp_path), feishu=feishu, extra=NO_FX) as bot:
        bot.wait_serving()
        feishu.delay_next(1, 3.0, path_contains="/reply")
        feishu.push_event(feishu.message_event("ou_nobody", "/help", message_id="om_slow_1"))   # acked
        # stopped only once the reply is with Feishu, which holds it for 3 s: stopped earlier, the drain would
        # also wait for the card to be built
        feishu.wait_for(lambda: feishu.pending_delays() == 0, timeout=30, what="the reply to reach Feishu")
        started = time.monotonic()
        assert bot.stop(timeout=30) == 0, bot.err
        took = time.monotonic() - started
    assert 2.0 < took < 25, took
    assert replied(feishu, "om_slow_1")
    assert "unsent" not in bot.err


def test_the_drain_is_bounded_and_names_what_it_left(tmp_path: Path) -> None:
    """drain_seconds = 1 stands for 25 s; the fake holds the answer for 8 s."""
    with FakeFeishu() as feishu, \
            BotProcess(tmp_path, store_url(tmp_path), feishu=feishu, extra=ops(0, drain_seconds=1)) as bot:
        bot.wait_serving()
        feishu.delay_next(1, 8.0, path_contains="/reply")
        feishu.push_event(feishu.message_event("ou_nobody", "/help", message_id="om_slow_2"))
        # stopped only once the reply is with Feishu (held for 8 s), so the answer in flight is the one left unsent
        feishu.wait_for(lambda: feishu.pending_delays() == 0, timeout=30, what="the reply to reach Feishu")
        started = time.monotonic()
        assert bot.stop(timeout=30) == 0, bot.err
        took = time.monotonic() - started
    assert took < 4, took
    assert "feishu: stopped with 1 answers unsent (0 deferred)" in bot.err
    assert bot.out.endswith("kpibot: stopped\n")


def test_json_log_lines_name_the_event_they_are_about() -> None:
    record = logging.LogRecord("bot.dispatch", logging.INFO, __file__, 1, "answered %s", ("/help",), None)
    record.created = 1_796_000_000.25
    with about_event("ev_123"):
        inside = json.loads(JsonFormatter().format(record))
    outside = json.loads(JsonFormatter().format(record))
    assert inside == {"time": "2026-11-30T00:53:20.250+00:00", "level": "INFO", "logger": "bot.dispatch",
                      "message": "answered /help", "event_id": "ev_123"}
    assert "event_id" not in outside


def test_refresh_leader_is_ready_only_while_a_replica_took_renewed_or_released_the_lease_lately(
        engine: Engine) -> None:
    """Two refresh intervals (30 min each): a lease last touched longer ago than that means no replica refreshes."""
    every, at = timedelta(minutes=30), datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert lease_current(engine, at, 2 * every) is False                      # no replica ever refreshed
    assert take_lease(engine, "a", at, every) is True
    assert [lease_current(engine, at + d, 2 * every) for d in (2 * every, 2 * every + timedelta(seconds=1))] == \
        [True, False]
    assert renew_lease(engine, "a", at + every) is True                        # still running, renewed
    assert lease_current(engine, at + 3 * every, 2 * every) is True
    release_lease(engine, "a", at + every + timedelta(minutes=5))
    assert [lease_current(engine, at + d, 2 * every) for d in (timedelta(minutes=95), timedelta(minutes=96))] == \
        [True, False]


def test_job_lag_is_from_the_earliest_due_time_to_the_start_of_the_run() -> None:
    counted = metrics.reset()
    due = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    started = due + timedelta(seconds=4)
    _record_lag(JobSubmissionEvent(EVENT_JOB_SUBMITTED, "refresh", "default", [due, due + timedelta(seconds=2)]),
                now=lambda: started)
    _record_lag(JobExecutionEvent(EVENT_JOB_MISSED, "digests", "default", due), now=lambda: due + timedelta(minutes=2))
    assert (counted.job_lag.labels("refresh")._value.get(), counted.job_lag.labels("digests")._value.get()) == \
        (4.0, 120.0)


def test_a_replaced_feishu_client_that_comes_back_is_ignored_and_the_watchdog_ends_with_the_adapter(
        tmp_path: Path) -> None:
    """In process against the fake: after a watchdog reconnect, a frame reaching the old client (one stuck in the
    SDK's reconnect that comes back) is not handled and that client is closed for good; the new connection
    answers; stop() joins the watchdog's thread, and a reconnect asked for after it does nothing."""
    store = migrated_sqlite(tmp_path / "kpibot.db")
    with FakeFeishu() as fake:
        adapter = FeishuAdapter(FeishuConfig(fake.app_id, fake.app_secret, fake.base_url), dispatcher_for(store),
                                store, attempts=1, backoff_s=0.01, watchdog_s=600.0)
        adapter.start()
        try:
            old = adapter.ws
            adapter._reconnect()
            assert adapter.ws is not old and adapter.connected() is True
            stale = _event_frame(fake.message_event("ou_stranger", "/help", message_id="om_stale"))
            asyncio.run(old._handle_message(stale))
            fake.push_event(fake.message_event("ou_stranger", "/help", message_id="om_live"))
            fake.wait_for(lambda: replied(fake, "om_live"))
            settle_pool(fake, adapter.pool)
            assert (replied(fake, "om_stale"), old._auto_reconnect) == (False, False)
        finally:
            adapter.stop()
        live = adapter.ws
        adapter._reconnect()
        assert (adapter.ws is live, adapter.watchdog._thread is not None and adapter.watchdog._thread.is_alive()) \
            == (True, False)
    store.dispose()


def _event_frame(event: dict[str, object]) -> bytes:
    """A Feishu long-connection data frame carrying `event`, as the server sends it."""
    frame = Frame()
    frame.SeqID, frame.LogID, frame.service, frame.method = 1, 1, 1, 1
    for key, value in (("type", "event"), ("message_id", "m_stale"), ("sum", "1"), ("seq", "0"),
                       ("trace_id", "t_stale")):
        header = frame.headers.add()
        header.key, header.value = key, value
    frame.payload = json.dumps(event).encode("utf-8")
    return frame.SerializeToString()
