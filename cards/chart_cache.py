"""Rendered charts by content key: a chart whose data has not changed is not drawn again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from cards.charts import ProgressChart, chart_key, render_progress_chart
from cards.digest_chart import DigestChart, digest_chart_key, render_digest_chart
from cards.model import Image

Chart = ProgressChart | DigestChart


def _key_and_render(chart: Chart) -> tuple[str, Callable[[], bytes]]:
    """The chart's content key and how to draw it, by its type."""
    # Digest keys hash a "kind" field, so the two kinds never share a key in the one store.
    if isinstance(chart, ProgressChart):
        return chart_key(chart), lambda: render_progress_chart(chart)
    if isinstance(chart, DigestChart):
        return digest_chart_key(chart), lambda: render_digest_chart(chart)
    raise TypeError(f"ChartCache cannot draw a {type(chart).__name__}")


class ChartCache:
    def __init__(self, max_items: int = 256) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self.renders = 0

    def image(self, chart: Chart, alt: str) -> Image:
        """The chart as a picture, drawn when first needed (Image.png) and then kept by its content key."""
        key, render = _key_and_render(chart)
        return Image(lambda: self._png(key, render), key, alt, chart)

    def _png(self, key: str, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            png = self._items.get(key)
            if png is not None:
                self._items.move_to_end(key)
                return png
        png = render()
        with self._lock:
            self.renders += 1
            self._items[key] = png
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return png
