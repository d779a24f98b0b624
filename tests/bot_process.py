"""The real `kpibot run` as a child process, for scenario tests: one way to write its config, start it, wait
until it serves, stop it with SIGTERM or kill it with SIGKILL, and read what it printed.

    with BotProcess(tmp_path, store_url, feishu=fake, env={"KPIBOT_NOW": ...}) as bot:
        bot.wait_serving()
        ...
    assert bot.returncode == 0
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.conftest import checkout_env

SERVING = "kpibot: serving"


class BotProcess:
    """`python -m bot.cli run` with a config written from the fakes it talks to. `extra` is more TOML added
    to the config as it is (e.g. '[fx]\\nenabled = false\\n', the default: no reach for the real ECB feed);
    `store` is more TOML for its [store] section (e.g. 'start_attempts = 3\\n')."""

    def __init__(self, work: Path, store_url: str, *, feishu: Any = None, dingtalk: Any = None,
                 template: str | None = None, extra: str = "[fx]\nenabled = false\n",
                 env: dict[str, str] | None = None, args: tuple[str, ...] = (), name: str = "kpibot",
                 store: str = "") -> None:
        self.work = work
        self.config = work / f"{name}.toml"
        text = f'[store]\nurl = "{store_url}"\n{store}'
        secrets: dict[str, str] = {}
        if feishu is not None:
            text += f'[feishu]\napp_id = "{feishu.app_id}"\ndomain = "{feishu.base_url}"\n'
            secrets["KPIBOT_FEISHU_APP_SECRET"] = feishu.app_secret
        if dingtalk is not None:
            text += (f'[dingtalk]\nclient_id = "{dingtalk.client_id}"\nendpoint = "{dingtalk.base_url}"\n'
                     f'media_endpoint = "{dingtalk.base_url}"\n')
            if template is not None:
                text += f'card_template_id = "{template}"\n'
            secrets["KPIBOT_DINGTALK_CLIENT_SECRET"] = dingtalk.client_secret
        self.config.write_text(text + extra, encoding="utf-8")
        self.env = checkout_env(**secrets, **(env or {}))
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self._out: list[str] = []
        self._err: list[str] = []
        self._out_at: list[float] = []   # when each line of _out was read (time.perf_counter)
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> BotProcess:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()

    def start(self) -> None:
        self._out, self._err, self._out_at = [], [], []
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(self.config),
                                      *self.args], cwd=self.work, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._readers = [threading.Thread(target=_read, args=(stream, into, at), daemon=True)
                         for stream, into, at in ((self.proc.stdout, self._out, self._out_at),
                                                  (self.proc.stderr, self._err, None))]
        for reader in self._readers:
            reader.start()

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Until the process says it serves (every platform connected, the scheduler started)."""
        deadline = time.monotonic() + timeout
        while SERVING not in self.out:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"kpibot run ended before serving:\n{self.out}\n{self.err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"kpibot run did not serve within {timeout} s:\n{self.out}\n{self.err}")
            time.sleep(0.05)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for the exit; its code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self._wait(timeout)

    def kill(self) -> int:
        """SIGKILL: no drain, no goodbye, as a crash or the OOM killer would end it."""
        assert self.proc is not None
        self.proc.kill()
        return self._wait(30.0)

    def wait(self, timeout: float = 60.0) -> int:
        """Until it exits by itself (e.g. giving up on its store); its code."""
        return self._wait(timeout)

    def _wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for reader in self._readers:
            reader.join(10)
        return code

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def printed_at(self, text: str, nth: int = 1) -> float | None:
        """When (time.perf_counter, as the line was read) the process printed the `nth` line holding `text`; None
        if it has not."""
        seen = 0
        for line, at in zip(list(self._out), list(self._out_at), strict=False):
            seen += text in line
            if seen == nth:
                return at
        return None

    @property
    def out(self) -> str:
        return "".join(self._out)

    @property
    def err(self) -> str:
        return "".join(self._err)


def _read(stream: Any, into: list[str], at: list[float] | None) -> None:
    for line in iter(stream.readline, ""):
        if at is not None:   # the time first: a reader of `into` then always finds the line's time
            at.append(time.perf_counter())
        into.append(line)
    stream.close()
