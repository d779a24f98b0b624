"""Sources and factories for tests/test_fetch_process.py. Module-level, so that a source's own process (spawned:
it imports this module afresh) can build them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from bot.shop_sources import NoSource
from storage.ingest.records import Page
from tests.fakes.memory_source import MemorySource

log = logging.getLogger("tests.process_sources")


def no_source() -> MemorySource:
    raise NoSource("shop s1: no tokens stored; run: kpibot shops token s1 --tokens-stdin")


def broken_factory() -> MemorySource:
    raise RuntimeError("GET https://open-api.example/orders?access_token=SECRET-TOKEN failed")


class TalkativeSource(MemorySource):
    """A MemorySource that logs one warning and one debug line per listing."""

    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        log.warning("listing %s from %s", resource, resume or "the start")
        log.debug("debug lines stay below the sync's level")
        yield from super().pages(resource, since, until, resume)
