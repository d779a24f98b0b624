"""Rendered charts by content key: a chart whose data has not changed is not drawn again.

Inside `drawing_apart` (a batch of many cards: the digest job's tick), a chart not yet drawn is drawn by a
worker process (cards.chart_worker) instead of this one; if the worker fails, here after all."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from cards.chart_worker import Chart, ChartWorker, draw_chart, spare_cores
from cards.charts import ProgressChart, chart_key
from cards.digest_chart import DigestChart, digest_chart_key
from cards.model import Image

log = logging.getLogger(__name__)


def _key(chart: Chart) -> str:
    """The chart's content key, by its type."""
    # Digest keys hash a "kind" field, so the two kinds never share a key in the one store.
    if isinstance(chart, ProgressChart):
        return chart_key(chart)
    if isinstance(chart, DigestChart):
        return digest_chart_key(chart)
    raise TypeError(f"ChartCache cannot draw a {type(chart).__name__}")


class ChartCache:
    def __init__(self, max_items: int = 256) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self.renders = 0
        self._worker: ChartWorker | None = None
        self._batches = 0          # open drawing_apart blocks: the worker stops when the last one closes
        self.drawn_apart = 0       # charts a worker drew, over this cache's life

    def image(self, chart: Chart, alt: str) -> Image:
        """The chart as a picture, drawn when first needed (Image.png) and then kept by its content key."""
        key = _key(chart)
        return Image(lambda: self._png(key, chart), key, alt, chart)

    @contextmanager
    def drawing_apart(self, wanted: bool = True) -> Iterator[None]:
        """Charts first asked for inside the block are drawn by a worker process, started now (when `wanted`: the
        caller's batch is big enough to pay for the start, and this process may use a second core) and stopped when
        the last such block ends."""
        if not wanted or spare_cores() < 1:
            yield
            return
        with self._lock:
            self._batches += 1
            if self._worker is None:
                try:
                    self._worker = ChartWorker()
                except Exception:   # no process could be started: the charts are drawn here
                    log.warning("charts: no worker process could be started; drawing them in this one", exc_info=True)
        try:
            yield
        finally:
            with self._lock:
                self._batches -= 1
                worker = self._worker if self._batches == 0 else None
                if worker is not None:
                    self._worker = None
                    self.drawn_apart += worker.drawn
            if worker is not None:
                worker.close()

    def _png(self, key: str, chart: Chart) -> bytes:
        with self._lock:
            png = self._items.get(key)
            if png is not None:
                self._items.move_to_end(key)
                return png
            worker = self._worker
        png = self._draw(chart, worker)
        with self._lock:
            self.renders += 1
            self._items[key] = png
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return png

    @staticmethod
    def _draw(chart: Chart, worker: ChartWorker | None) -> bytes:
        if worker is not None:
            try:
                return worker.draw(chart)
            except Exception:   # the worker died, is stuck or could not start: this process draws it
                log.warning("charts: the worker process could not draw a chart; drawing it here", exc_info=True)
        return draw_chart(chart)
