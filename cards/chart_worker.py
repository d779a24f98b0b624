"""A worker process that draws charts while a batch of cards goes out (the digest job's tick).

Why a process: drawing a chart is CPU work that holds Python's GIL (matplotlib), about 60 ms a digest chart, and
in a tick of many digests it was half the process's CPU: the cards were built, the charts drawn and the messages
sent on one core. Drawn in a worker, the charts take a second core while the bot builds and sends. The worker is
started with "spawn" (the bot's threads make a fork unsafe) at a batch's first chart and stopped when the batch
ends: an idle bot keeps no drawing process (multiprocessing's small resource tracker, started with the first
worker, stays). A batch too small to pay for the start (about a second) draws in the bot (the caller decides:
bot.jobs.digests.DRAW_APART_FROM).

A worker that cannot start or fails is not fatal: the caller (cards.chart_cache) draws the chart itself.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from cards.charts import ProgressChart, chart_key, render_progress_chart
from cards.digest_chart import DigestChart, digest_chart_key, render_digest_chart

Chart = ProgressChart | DigestChart
START_TIMEOUT_S = 120.0   # the worker's start (a new interpreter, matplotlib, the fonts): seconds, more when busy
DRAW_TIMEOUT_S = 30.0     # a chart takes well under a second: past this the worker is stuck, the bot draws it
# what says the worker, not the chart, failed: it died, is stuck, was stopped, or the chart could not be sent
WORKER_FAILURES: tuple[type[BaseException], ...] = (BrokenProcessPool, TimeoutError, CancelledError, RuntimeError,
                                                     OSError, pickle.PicklingError)


def _kind(chart: Chart) -> tuple[Callable[[Any], str], Callable[[Any], bytes]]:
    """How to key and how to draw a chart of this type (a digest's key hashes its kind: never a progress chart's)."""
    if isinstance(chart, ProgressChart):
        return chart_key, render_progress_chart
    if isinstance(chart, DigestChart):
        return digest_chart_key, render_digest_chart
    raise TypeError(f"cannot draw a {type(chart).__name__}")


def chart_key_of(chart: Chart) -> str:
    """The chart's content key, by its type."""
    return _kind(chart)[0](chart)


def draw_chart(chart: Chart) -> bytes:
    """The chart's PNG, by its type: what the worker runs (a module-level function, so that it can be sent)."""
    return _kind(chart)[1](chart)


def _warm() -> int:
    """Import the drawing code and load the fonts in the worker, so that its first chart is not the slow one."""
    from matplotlib import font_manager

    from cards.charts import FONT_FAMILY, _ensure_font
    from cards.digest_drawing import draw  # noqa: F401  (imported for its matplotlib imports)

    _ensure_font()
    for family in FONT_FAMILY:
        font_manager.get_font(font_manager.findfont(family, fallback_to_default=True))
    return os.getpid()


def spare_cores() -> int:
    """The cores this process may run on (its CPU affinity, within the CPU quotas of its cgroup and the cgroups
    above it, whole cores only), less the one it uses."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        cores = os.cpu_count() or 1
    return min([cores, *_quota_cores()]) - 1


def _quota_cores(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> list[int]:
    """The whole cores each cgroup v2 CPU quota on this process's path (`membership`) allows, from its own cgroup up
    to the `root`; none where there is none."""
    try:
        path = next(line[3:].strip() for line in membership.read_text().splitlines()
                    if line.startswith("0::"))
    except (OSError, StopIteration):
        return []
    found = []
    here = (root / path.lstrip("/")).resolve()
    for directory in (here, *here.parents):
        if directory != root and root not in directory.parents:
            break
        try:
            quota, period = (directory / "cpu.max").read_text().split()[:2]
            if quota != "max":
                found.append(max(1, int(quota) // int(period)))
        except (OSError, ValueError):
            pass
    return found


def _ignore_interrupts() -> None:
    """In the worker: Ctrl-C is the bot's to handle (it stops the batch, which stops the worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ChartWorker:
    """One worker process (started now, warming up while the caller goes on) that draws charts on request."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_ignore_interrupts)
        try:
            self.pid: Future[int] = self._pool.submit(_warm)
        except BaseException:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise
        self.drawn = 0            # charts the worker drew
        self._lock = threading.Lock()

    def draw(self, chart: Chart) -> bytes:
        """The chart drawn by the worker; raises what the drawing raised, or (WORKER_FAILURES) why the worker could
        not draw it."""
        self.pid.result(timeout=START_TIMEOUT_S)
        png = self._pool.submit(draw_chart, chart).result(timeout=DRAW_TIMEOUT_S)
        with self._lock:
            self.drawn += 1
        return png

    def close(self, kill: bool = False) -> None:
        """Stop the worker: charts still being drawn are dropped (their askers draw them themselves). `kill`: a
        worker that failed is killed, lest a stuck one hold up the bot's exit (the standard library offers no
        public way to kill a pool's processes before Python 3.14)."""
        if kill:
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
