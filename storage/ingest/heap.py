"""Keeps the garbage collector off the objects that exist before a long sync, while it runs.

A sync allocates millions of short-lived objects (records, rows, tuples), so the collector runs often, and each
of its full collections traversed the whole heap: SQLAlchemy, the app, every cache. That was about a fifth of
a first sync's time (tests/benchmarks/bench_sync.py). `frozen_heap()` moves the objects alive at its start to
the collector's permanent generation (`gc.freeze`) and gives them back at its end (`gc.unfreeze`); objects made
during the sync are collected as usual. Nested or concurrent users share one freeze, released by the last.
Cyclic garbage among the frozen objects is only freed after the freeze ends, which is why it must end.

`kpibot run` freezes its start-up heap for good once it serves (`freeze_for_life`: the collector's full passes
walked it on whichever answer was running, 100-300 ms). A sync after that freezes nothing more and gives nothing
back: the heap it would freeze is frozen already, and giving it back would undo the freeze for life.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_users = 0
_for_life = False   # freeze_for_life was called: syncs neither freeze more nor give the heap back


def freeze_for_life() -> None:
    """Collect, then freeze what is alive now for the rest of the process (a sync running now keeps it too)."""
    global _for_life
    with _lock:
        gc.collect()
        gc.freeze()
        _for_life = True


@contextmanager
def frozen_heap() -> Iterator[None]:
    global _users
    with _lock:
        if _users == 0 and not _for_life:
            gc.freeze()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and not _for_life:
                gc.unfreeze()
