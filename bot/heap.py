"""Free C-heap memory handed back to the OS after a scheduler job (glibc's malloc_trim; a no-op elsewhere).

A job that scores every member (lag alerts, score snapshots) allocates tens of MB for a few seconds from its
worker thread's heap and frees it; glibc keeps most of that free memory mapped, so the idle process stayed at
its busiest minute's size. malloc_trim(0) releases the free pages of every heap; it takes about a millisecond.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)   # glibc only (not musl, not macOS)
    except OSError:
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    if _TRIM is not None:
        _TRIM(0)
