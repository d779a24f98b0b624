"""Charts drawn by a worker process (cards.chart_worker) while a batch is open (ChartCache.drawing_apart): the
same PNG bytes as drawn here, and drawn here after all when the worker dies."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from cards.chart_cache import ChartCache
from cards.chart_worker import draw_chart
from cards.charts import ProgressChart
from tests.test_digest_chart import DAYS_30, _zh_chart

PROGRESS = ProgressChart("林小雨 · 2026-11 GMV", DAYS_30, tuple(float(i * 900) if i <= 17 else None
                                                              for i in range(1, 31)), 30_000.0, "USD")


def test_a_worker_draws_the_same_pngs_and_stops_with_the_batch() -> None:
    cache = ChartCache()
    with cache.drawing_apart():
        worker = cache._worker
        assert worker is not None
        pid = worker.pid.result(timeout=60)
        assert pid != os.getpid()
        digest, progress = cache.image(_zh_chart(), "d").png, cache.image(PROGRESS, "p").png
        assert cache.image(_zh_chart(), "d").png == digest     # kept: not drawn again
        assert worker.drawn == 2
    assert cache._worker is None and cache.drawn_apart == 2 and cache.renders == 2
    assert digest == draw_chart(_zh_chart()) and progress == draw_chart(PROGRESS)
    assert digest[:8] == b"\x89PNG\r\n\x1a\n"
    assert _gone(pid)   # the worker went with the batch


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_a_batch_not_wanted_draws_here() -> None:
    cache = ChartCache()
    with cache.drawing_apart(wanted=False):
        assert cache._worker is None
        assert cache.image(PROGRESS, "p").png == draw_chart(PROGRESS)
    assert cache.drawn_apart == 0 and cache.renders == 1


def test_a_dead_worker_leaves_the_drawing_to_this_process(caplog: pytest.LogCaptureFixture) -> None:
    cache = ChartCache()
    with cache.drawing_apart():
        worker = cache._worker
        assert worker is not None
        os.kill(worker.pid.result(timeout=60), signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="cards.chart_cache"):
            png = cache.image(_zh_chart(), "d").png
    assert png == draw_chart(_zh_chart())
    assert cache.drawn_apart == 0 and cache.renders == 1
    assert [r.getMessage() for r in caplog.records] == [
        "charts: the worker process could not draw a chart; drawing it here"]
