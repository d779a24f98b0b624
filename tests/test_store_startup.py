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

import pytest

from tests.bot_process import BotProcess
from tests.conftest import POSTGRES
from tests.fakes.feishu import FakeFeishu
from tests.fakes.tcp_proxy import TcpProxy

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
                    store="start_attempts = 3\nstart_backoff_s = 0.1\n") as bot:
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
    """[ops] log_format = "json": the retry warnings are JSON from the first one; SIGTERM while the process
    waits (start_backoff_s = 0.5 standing for 1 s) exits 0 with one status line, on stdout and as a JSON
    record."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]       # closed again at once: nothing listens there
    with BotProcess(tmp_path, f"postgresql+psycopg://kpibot:pw@127.0.0.1:{port}/kpibot",
                    store="start_attempts = 50\nstart_backoff_s = 0.5\n",
                    extra='[fx]\nenabled = false\n[ops]\nlog_format = "json"\n') as bot:
        deadline = time.monotonic() + 30
        while "cannot be reached" not in bot.err:
            assert time.monotonic() < deadline and bot.returncode is None, bot.err
            time.sleep(0.05)
        code = bot.stop()
    assert (code, bot.out) == (0, "kpibot: stopped before the store could be reached\n"), bot.err
    lines = [json.loads(line) for line in bot.err.splitlines()]
    assert [(line["level"], line["logger"]) for line in lines][-1] == ("INFO", "bot.status")
    assert lines[-1]["message"] == "kpibot: stopped before the store could be reached"
    retries = lines[:-1]
    assert {(line["level"], line["logger"]) for line in retries} == {("WARNING", "bot.app")}
    assert retries[0]["message"].startswith(
        f"the store at postgresql+psycopg://kpibot:***@127.0.0.1:{port}/kpibot cannot be reached (try 1 of 50: ")
