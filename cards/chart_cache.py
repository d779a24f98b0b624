"""Rendered charts by content key: a chart whose data has not changed is not drawn again.

Inside `drawing_apart` (a batch of many cards: the digest job's tick), a chart not yet drawn that one of the
batch's own threads asks for (`draw_apart_here`) is drawn by a worker process (cards.chart_worker), started at
the batch's first such chart; a person's chart asked for meanwhile is drawn here, as ever, so it never waits
behind the batch's. A worker that fails is dropped for the rest of the batch, and its charts are drawn here."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from cards.chart_worker import WORKER_FAILURES, Chart, ChartWorker, chart_key_of, draw_chart, spare_cores
from cards.model import Image

log = logging.getLogger(__name__)


class ChartCache:
    def __init__(self, max_items: int = 256) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self.renders = 0
        # the worker of the open batches: started at their first chart, stopped when the last batch ends
        self._batch_lock = threading.Lock()
        self._batches = 0
        self._worker: ChartWorker | None = None
        self._worker_failed = False       # dropped in this run of batches: not started again until they end
        self._batch_thread = threading.local()
        self.drawn_apart = 0              # charts a worker drew, over this cache's life

    def image(self, chart: Chart, alt: str) -> Image:
        """The chart as a picture, drawn when first needed (Image.png) and then kept by its content key."""
        key = chart_key_of(chart)
        return Image(lambda: self._png(key, chart), key, alt, chart)

    @contextmanager
    def drawing_apart(self, wanted: bool = True) -> Iterator[None]:
        """A batch: the charts its threads ask for are drawn by a worker process (when `wanted`: the batch is big
        enough to pay for the worker's start, about a second, and this process may use a second core)."""
        if not wanted or spare_cores() < 1:
            yield
            return
        with self._batch_lock:
            self._batches += 1
        try:
            yield
        finally:
            with self._batch_lock:
                self._batches -= 1
                worker = None
                if self._batches == 0:
                    worker, self._worker, self._worker_failed = self._worker, None, False
                    self.drawn_apart += worker.drawn if worker is not None else 0
            if worker is not None:
                worker.close()

    def draw_apart_here(self) -> None:
        """Mark the calling thread as one of a batch's (a sender's: a ThreadPoolExecutor initializer)."""
        self._batch_thread.drawing_apart = True

    def _png(self, key: str, chart: Chart) -> bytes:
        with self._lock:
            png = self._items.get(key)
            if png is not None:
                self._items.move_to_end(key)
                return png
        png = self._draw(chart)
        with self._lock:
            self.renders += 1
            self._items[key] = png
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return png

    def _draw(self, chart: Chart) -> bytes:
        worker = self._batch_worker() if getattr(self._batch_thread, "drawing_apart", False) else None
        if worker is not None:
            try:
                return worker.draw(chart)
            except WORKER_FAILURES:   # the worker died, is stuck or could not start: dropped, and this process draws
                self._drop(worker)
        return draw_chart(chart)

    def _batch_worker(self) -> ChartWorker | None:
        """The open batches' worker, started now if it is not yet; None outside a batch or after a failure."""
        with self._batch_lock:
            if self._batches == 0 or self._worker_failed:
                return None
            if self._worker is None:
                try:
                    self._worker = ChartWorker()
                except Exception:
                    self._worker_failed = True
                    log.warning("charts: no worker process could be started; drawing them in this one",
                                exc_info=True)
            return self._worker

    def _drop(self, worker: ChartWorker) -> None:
        with self._batch_lock:
            if self._worker is not worker:
                return      # another thread dropped it already (and said so)
            self._worker, self._worker_failed = None, True
            self.drawn_apart += worker.drawn
        log.warning("charts: the worker process could not draw a chart; it is stopped and this process draws "
                    "the batch's charts", exc_info=True)
        worker.close(kill=True)
