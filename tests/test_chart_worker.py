"""Charts drawn by a worker process (cards.chart_worker) for a batch's own threads (ChartCache.drawing_apart,
draw_apart_here): the same PNG bytes as drawn here; started at the batch's first chart and stopped with the batch;
anyone else's chart drawn here meanwhile; a worker that dies dropped for the rest of the batch."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from cards import chart_cache
from cards.chart_cache import ChartCache
from cards.chart_worker import draw_chart
from cards.charts import ProgressChart
from tests.test_digest_chart import DAYS_30, _zh_chart

SOUTH = dataclasses.replace(_zh_chart(), title="南区团队 · 2026-11")
PROGRESS = ProgressChart("林小雨 · 2026-11 GMV", DAYS_30, tuple(float(i * 900) if i <= 17 else None
                                                              for i in range(1, 31)), 30_000.0, "USD")


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second core to draw on, whatever the machine running the tests has."""
    monkeypatch.setattr(chart_cache, "spare_cores", lambda: 1)


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_a_worker_draws_the_batchs_charts_the_same_and_stops_with_it() -> None:
    cache = ChartCache()
    cache.draw_apart_here()   # this thread is the batch's (the mark is the cache's: a new cache has none)
    with cache.drawing_apart():
        assert cache._worker is None                             # started at the first chart, not before
        digest = cache.image(_zh_chart(), "d").png
        worker = cache._worker
        assert worker is not None
        pid = worker.pid.result(timeout=60)
        assert pid != os.getpid()
        progress = cache.image(PROGRESS, "p").png
        assert cache.image(_zh_chart(), "d").png == digest     # kept: not drawn again
        assert worker.drawn == 2
    assert cache._worker is None and cache.drawn_apart == 2 and cache.renders == 2
    assert digest == draw_chart(_zh_chart()) and progress == draw_chart(PROGRESS)
    assert digest[:8] == b"\x89PNG\r\n\x1a\n"
    assert _gone(pid)   # the worker went with the batch


def test_a_chart_anyone_else_asks_for_during_a_batch_is_drawn_here() -> None:
    cache = ChartCache()
    with cache.drawing_apart():
        got: list[bytes] = []
        asker = threading.Thread(target=lambda: got.append(cache.image(PROGRESS, "p").png))   # a person's /mykpi
        asker.start()
        asker.join(60)
        assert got == [draw_chart(PROGRESS)]
        assert cache._worker is None            # nothing of the batch's drawn: no worker started
    assert cache.drawn_apart == 0 and cache.renders == 1


def test_a_batch_not_wanted_draws_here() -> None:
    cache = ChartCache()
    cache.draw_apart_here()
    with cache.drawing_apart(wanted=False):
        assert cache.image(PROGRESS, "p").png == draw_chart(PROGRESS)
        assert cache._worker is None
    assert cache.drawn_apart == 0 and cache.renders == 1


def test_a_dead_worker_is_dropped_and_the_batch_drawn_here(caplog: pytest.LogCaptureFixture) -> None:
    cache = ChartCache()
    cache.draw_apart_here()
    with cache.drawing_apart():
        assert cache.image(PROGRESS, "p").png == draw_chart(PROGRESS)
        worker = cache._worker
        assert worker is not None and worker.drawn == 1
        os.kill(worker.pid.result(timeout=60), signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="cards.chart_cache"):
            png = cache.image(_zh_chart(), "d").png
            other = cache.image(SOUTH, "d2").png
        assert cache._worker is None              # dropped, and not started again for this batch
    assert png == draw_chart(_zh_chart()) and other == draw_chart(SOUTH)
    assert cache.drawn_apart == 1 and cache.renders == 3
    assert [r.getMessage() for r in caplog.records] == [   # said once
        "charts: the worker process could not draw a chart; it is stopped and this process draws the batch's charts"]


def test_the_cores_counted_are_the_whole_cores_of_the_tightest_cgroup_quota(tmp_path: Path) -> None:
    from cards.chart_worker import _quota_cores

    root = tmp_path / "cgroup"
    (root / "bot.slice" / "kpibot.service").mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")                            # the root's: no quota
    (root / "bot.slice" / "cpu.max").write_text("150000 100000\n")           # 1.5 CPUs: one whole core
    (root / "bot.slice" / "kpibot.service" / "cpu.max").write_text("400000 100000\n")
    membership = tmp_path / "self-cgroup"
    membership.write_text("0::/bot.slice/kpibot.service\n")
    assert _quota_cores(root, membership) == [4, 1]
    membership.write_text("1:cpu:/\n")                                       # cgroup v1 only: none read
    assert _quota_cores(root, membership) == []
