"""`kpibot run` started before its store can be reached (a database still starting, a network not up yet): it
tries again with backoff, one log line per try naming the store without its password, and serves once the store
answers; after [store] start_attempts tries it exits 1 with one line. Never a traceback, never the password.
The waits are shortened for the tests ([store] start_backoff_s = 0.1 or 0.2 s instead of 1 s)."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from bot.cli import main
from tests.bot_process import BotProcess
from tests.conftest import POSTGRES
from tests.fakes.feishu import FakeFeishu
from tests.fakes.tcp_proxy import TcpProxy

# `kpibot run` needs a chat platform configured; the store is never reached here, so it is never called
UNREACHED_FEISHU = SimpleNamespace(app_id="cli_never_called", base_url="http://127.0.0.1:9", app_secret="unused")
RETRY = re.compile(r"WARNING bot\.app: the store at (\S+) cannot be reached \(try (\d+) of (\d+): ")


@pytest.mark.postgres
def test_kpibot_run_waits_for_a_store_that_refuses_at_first_then_serves(tmp_path: Path) -> None:
    url = POSTGRES.create()    # empty: `kpibot run` makes the schema itself once it gets in
    with FakeFeishu() as fake, TcpProxy(url.host or "127.0.0.1", url.port or 5432, refuse=3) as proxy:
        store_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with BotProcess(tmp_path, store_url, feishu=fake, store="start_attempts = 10\nstart_backoff_s = 0.2\n",
                        env={"KPIBOT_NOW": "2026-11-22T04:00:00+00:00"}) as bot:
            bot.wait_serving()
            assert bot.stop() == 0
        assert (proxy.refused, proxy.forwarded > 0) == (3, True)
    shown = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=True)
    assert [m.groups() for m in RETRY.finditer(bot.err)] == [(shown, "1", "10"), (shown, "2", "10"),
                                                            (shown, "3", "10")]
    assert "Traceback" not in bot.err and "Traceback" not in bot.out
    assert f":{url.password}@" not in bot.err + bot.out
    assert "kpibot: serving" in bot.out


def test_kpibot_run_gives_up_after_the_configured_tries_with_one_line_and_no_password(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]       # closed again at once: nothing listens there
    password = "s3cret-Pw-never-shown"
    with BotProcess(tmp_path, f"postgresql+psycopg://kpibot:{password}@127.0.0.1:{port}/kpibot",
                    feishu=UNREACHED_FEISHU, store="start_attempts = 3\nstart_backoff_s = 0.1\n") as bot:
        code = bot.wait()
    shown = f"postgresql+psycopg://kpibot:***@127.0.0.1:{port}/kpibot"
    assert code == 1
    assert [m.groups() for m in RETRY.finditer(bot.err)] == [(shown, "1", "3"), (shown, "2", "3")]
    last = [line for line in bot.err.splitlines() if line.startswith("kpibot:")]
    assert len(last) == 1 and last[0].startswith(f"kpibot: cannot open the store at {shown} after 3 tries: "
                                                 "OperationalError: ")
    assert len(bot.err.splitlines()) == 3     # two tries told, then the one line: nothing else
    assert password not in bot.err + bot.out and "Traceback" not in bot.err


def test_a_stop_while_waiting_for_the_store_exits_0_with_one_line_and_json_logs_from_the_first_try(
        tmp_path: Path) -> None:
    """[ops] log_format = "json": the retry warnings are JSON from the first one; the ops endpoint serves from
    before the first try, /healthz 200 and /readyz 503 with the store waiting, so a liveness probe does not
    kill a process that waits for its store; SIGTERM while the process waits 30 s before its next try exits 0
    at once (the wait is on the stop event, not a sleep) with one status line, on stdout and as a JSON record."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]       # closed again at once: nothing listens there
        with socket.create_server(("127.0.0.1", 0)) as other:
            ops_port = other.getsockname()[1]
    with BotProcess(tmp_path, f"postgresql+psycopg://kpibot:pw@127.0.0.1:{port}/kpibot", feishu=UNREACHED_FEISHU,
                    store="start_attempts = 50\nstart_backoff_s = 30\n",
                    extra=f'[fx]\nenabled = false\n[ops]\nlog_format = "json"\nport = {ops_port}\n') as bot:
        deadline = time.monotonic() + 30
        while "cannot be reached" not in bot.err:
            assert time.monotonic() < deadline and bot.returncode is None, bot.err
            time.sleep(0.05)
        health = httpx.get(f"http://127.0.0.1:{ops_port}/healthz", timeout=5)
        ready = httpx.get(f"http://127.0.0.1:{ops_port}/readyz", timeout=5)
        asked = time.monotonic()
        code = bot.stop()
        took = time.monotonic() - asked
    assert took < 10, f"the stop waited out the 30 s backoff ({took:.1f} s)"
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (503, {"status": "starting", "waiting": {"store": "waiting"}})
    assert (code, bot.out) == (0, f"kpibot: health and metrics on http://127.0.0.1:{ops_port}/\n"
                                  "kpibot: stopped before the store could be reached\n"), bot.err
    lines = [json.loads(line) for line in bot.err.splitlines()]
    assert [(line["level"], line["logger"]) for line in lines][-1] == ("INFO", "bot.status")
    assert [line["message"] for line in lines if line["logger"] == "bot.status"] == [
        f"kpibot: health and metrics on http://127.0.0.1:{ops_port}/",
        "kpibot: stopped before the store could be reached"]
    retries = lines[1:-1]
    assert {(line["level"], line["logger"]) for line in retries} == {("WARNING", "bot.app")}
    assert retries[0]["message"].startswith(
        f"the store at postgresql+psycopg://kpibot:***@127.0.0.1:{port}/kpibot cannot be reached (try 1 of 50: ")


def run_config(tmp_path: Path, store: str, ops_port: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config of an in-process `kpibot run`: `store` as the [store] table's lines, a Feishu app it never
    reaches (it stops before connecting), no FX feed, the ops endpoint on `ops_port`."""
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\n{store}[feishu]\napp_id = "cli_never_called"\ndomain = "http://127.0.0.1:9"\n'
                      f'[fx]\nenabled = false\n[ops]\nport = {ops_port}\n', encoding="utf-8")
    monkeypatch.setenv("KPIBOT_FEISHU_APP_SECRET", "unused")
    return config


def test_the_ops_endpoint_stops_when_run_gives_up_on_its_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (main may run again): the endpoint started before the store is stopped at the exit, and
    the signal handlers are as they were."""
    import signal

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
        with socket.create_server(("127.0.0.1", 0)) as other:
            ops_port = other.getsockname()[1]
    config = run_config(tmp_path, f'url = "postgresql+psycopg://kpibot:pw@127.0.0.1:{port}/kpibot"\n'
                                  'start_attempts = 1\n', ops_port, monkeypatch)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["run", "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == f"kpibot: health and metrics on http://127.0.0.1:{ops_port}/\n"
    assert err.startswith(f"kpibot: cannot open the store at postgresql+psycopg://kpibot:***@127.0.0.1:{port}/kpibot: ")
    assert signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ops_port}/healthz", timeout=2)


def test_an_ops_port_in_use_is_one_line_and_exit_2_with_nothing_left_behind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The [ops] port is taken by another process: one line naming it, exit 2, before any store try, and the
    signal handlers as they were (they are installed only once the endpoint listens)."""
    import errno
    import os
    import signal

    with socket.create_server(("127.0.0.1", 0)) as taken:
        ops_port = taken.getsockname()[1]
        config = run_config(tmp_path, f'url = "sqlite:///{tmp_path / "never.db"}"\n', ops_port, monkeypatch)
        before = signal.getsignal(signal.SIGTERM)
        assert main(["run", "--config", str(config)]) == 2
    assert capsys.readouterr() == ("", f"kpibot: cannot serve [ops] on 127.0.0.1:{ops_port}: "
                                       f"{os.strerror(errno.EADDRINUSE)}\n")
    assert signal.getsignal(signal.SIGTERM) is before
    assert not (tmp_path / "never.db").exists()
