"""Reading a shop source's orders in the source tests: every page of one window, the source closed after."""

from __future__ import annotations

from datetime import datetime

from storage.ingest.records import OrderRecord, Page, Source


def run(source: Source, since: datetime | None, until: datetime, resume: str | None = None) -> list[Page]:
    try:
        return list(source.pages("orders", since, until, resume))
    finally:
        source.close()


def orders_of(pages: list[Page]) -> list[OrderRecord]:
    found = [r for p in pages for r in p.records]
    assert all(isinstance(r, OrderRecord) for r in found)
    return found  # type: ignore[return-value]
