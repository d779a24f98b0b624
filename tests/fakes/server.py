"""The server plumbing every fake shares: one aiohttp application on 127.0.0.1 (port 0), served from a daemon
thread with its own event loop, started and stopped from the test's thread (or used as a context manager)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web


@dataclass
class RecordedCall:
    """The request half of a recorded HTTP call; each fake's ``Call`` adds the answer fields it records."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class Changes(threading.Condition):
    """A condition that counts its ``notify_all`` calls, so a waiter that checked its predicate outside the lock
    can tell whether anything changed since (and not sleep through a change it did not see)."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self.version = 0

    def notify_all(self) -> None:
        self.version += 1
        super().notify_all()


# How often `wait_until` looks at a predicate anyway: for state a fake changes without notifying (a socket's
# closed flag, a counter written on the server thread without the condition).
RECHECK_S = 0.02


def wait_until(changes: Changes, predicate: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``predicate()`` is true (False after ``timeout`` seconds). It is checked outside the lock (it
    may take the fake's lock itself) at once, after every change the fake notifies, and every RECHECK_S: a fake
    answers as fast as it can, so a benchmark measures the client, not this wait."""
    deadline = time.monotonic() + timeout
    while True:
        with changes:
            seen = changes.version
        if predicate():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with changes:
            if changes.version == seen:
                changes.wait(min(RECHECK_S, left))


def wait_or_fail(changes: Changes, predicate: Callable[[], bool], timeout: float, what: str,
                 state: Callable[[], str]) -> None:
    """wait_until, or AssertionError naming what was waited for (`what`, else the predicate's name) and the fake's
    `state()` then."""
    if not wait_until(changes, predicate, timeout):
        name = what or getattr(predicate, "__qualname__", repr(predicate))
        raise AssertionError(f"timed out after {timeout:.1f}s waiting for {name}; {state()}")


class FakeServer:
    """Subclasses route requests to ``_handle`` (or override ``_make_app``) and may extend ``_astop``.
    ``request_delay_s`` (set on the instance at any time, 0 by default) holds every request routed to
    ``_handle`` that long before it is handled: a slow platform, e.g. so a test can kill a sync mid-run."""

    shutdown_timeout = 1.0
    request_delay_s = 0.0

    def __init__(self) -> None:
        self.base_url = ""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Bind 127.0.0.1:0 and serve from a daemon thread; returns self."""
        name = type(self).__name__
        if self._thread is not None:
            raise RuntimeError(f"{name} already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready: dict[str, BaseException] = {}
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                ready["error"] = exc
                started.set()
                return
            started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        if not started.wait(10) or "error" in ready:
            raise RuntimeError(f"{name} failed to start: {ready.get('error')!r}")
        return self

    def stop(self) -> None:
        """Run ``_astop`` on the server's loop, then stop the loop and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not loop.is_running():
            loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._entry)
        return app

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if self.request_delay_s > 0:
            await asyncio.sleep(self.request_delay_s)
        return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _astart(self) -> None:
        self._runner = web.AppRunner(self._make_app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self.port}"

    async def _astop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _submit(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run ``coro`` on the server's loop from the test's thread and return its result."""
        if self._loop is None:
            coro.close()
            raise AssertionError(f"{type(self).__name__} is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)


async def cancel_other_tasks() -> None:
    """Cancel every task on the running loop but the current one and wait for them to end."""
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def abort_connection(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Drop the TCP connection under the WebSocket ``ws`` (opened by ``request``) without a close frame."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    else:  # pragma: no cover
        await ws.close(code=1006)
