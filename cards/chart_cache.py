"""Rendered charts by content key: a chart whose data has not changed is not drawn again."""

from __future__ import annotations

import threading
from collections import OrderedDict

from cards.charts import ProgressChart, chart_key, render_progress_chart
from cards.model import Image


class ChartCache:
    def __init__(self, max_items: int = 256) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self.renders = 0

    def image(self, chart: ProgressChart, alt: str) -> Image:
        key = chart_key(chart)
        with self._lock:
            png = self._items.get(key)
            if png is not None:
                self._items.move_to_end(key)
                return Image(png, key, alt)
        png = render_progress_chart(chart)
        with self._lock:
            self.renders += 1
            self._items[key] = png
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return Image(png, key, alt)
