"""kpibot sync: fetch shop data from the platforms' APIs now, with a progress bar for backfills. Exit code 1 when
a shop did not sync (the others still do)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, time
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from bot.cli.common import counts_text, parse_day, print_attribution, shop_named
from bot.config import Config
from bot.shop_sources import (
    FILE_PLATFORMS,
    RESOURCES,
    NoSource,
    process_source,
)
from bot.usage import UsageError
from services.container import Services
from storage.ingest.records import Source, SourceError
from storage.ingest.sync import SyncReport, sync_shop
from storage.ingest.writer import StoreWriter
from storage.models import Shop, SyncCursor


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _sync(services, args, config, clock())


def _sync(services: Services, args: argparse.Namespace, config: Config, now: datetime) -> int:
    since_day = parse_day(args.since) if args.since else None   # bad options fail before anything is read
    if args.resource and args.resource not in RESOURCES:
        raise UsageError(f"--resource must be one of {', '.join(RESOURCES)}, got {args.resource!r}")
    with Session(services.engine) as session:
        if args.shop:
            shop = shop_named(session, args.shop)
            if shop.platform in FILE_PLATFORMS:
                raise UsageError(f"shop {shop.code} ({shop.platform}) has no API: import its exports with "
                                 "kpibot import")
            shops = [shop]
        else:
            shops = [s for s in session.execute(select(Shop).order_by(Shop.code)).scalars()
                     if s.platform not in FILE_PLATFORMS]
        synced_before = {sid for sid in session.execute(
            select(SyncCursor.shop_id).where(SyncCursor.high_water.is_not(None))).scalars()}  # type: ignore[union-attr]
    if not shops:
        print("no shops with an API to sync (add one: kpibot shops add CODE --platform P ...)")
        return 0
    failed = False
    changed: list[int] = []
    writer = StoreWriter(services.engine, services.buyer_key)
    for shop in shops:
        try:
            source = process_source(services.engine, shop, config.platforms, writer)
        except NoSource as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed = True
            continue
        except SourceError as exc:   # its process did not start
            print(f"skipped: shop {shop.code}: {exc}", file=sys.stderr)
            failed = True
            continue
        try:
            if args.resource and args.resource not in source.resources and not args.shop:
                print(f"skipped: shop {shop.code} ({shop.platform}) has no resource {args.resource}", file=sys.stderr)
                continue
            resources = _resources(source, args.resource)
            since = datetime.combine(since_day, time(0), ZoneInfo(shop.timezone)) if since_day else None
            backfill = since is not None or shop.id not in synced_before
            with _progress_bar(shop.code, _show_bar(args.progress, backfill)) as progress:
                report = sync_shop(services.engine, shop.id or 0, source, resources, now, progress=progress,
                                   writer=writer, since=since)
        finally:
            source.close()
        failed |= not report.ok
        _print_report(shop, report)
        counts = report.counts
        if counts.inserted or counts.updated:
            changed.append(shop.id or 0)
    if changed:
        print_attribution(services, changed, everything=False)
    return 1 if failed else 0


def _resources(source: Source, wanted: str | None) -> Sequence[str] | None:
    if wanted is None:
        return None
    if wanted not in source.resources:
        raise UsageError(f"--resource must be one of {', '.join(source.resources)}, got {wanted!r}")
    return [wanted]


def _show_bar(asked: bool | None, backfill: bool) -> bool:
    if asked is not None:
        return asked
    return backfill and sys.stderr.isatty()


@contextmanager
def _progress_bar(shop: str, show: bool, out: TextIO | None = None) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress callback for sync_shop drawing one tqdm bar per resource on stderr (None when not shown)."""
    if not show:
        yield None
        return
    from tqdm import tqdm

    bars: dict[str, Any] = {}
    done: dict[str, int] = {}

    def progress(resource: str, pages: int, records: int) -> None:
        if resource not in bars:
            for bar in bars.values():
                bar.close()
            bars.clear()
            bars[resource] = tqdm(desc=f"{shop} {resource}", unit=" records", file=out or sys.stderr,
                                  dynamic_ncols=True, leave=True)
            done[resource] = 0
        bars[resource].update(records - done[resource])
        bars[resource].set_postfix(pages=pages, refresh=False)
        done[resource] = records

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()


def _print_report(shop: Shop, report: SyncReport) -> None:
    for r in report.resources:
        if r.ok:
            print(f"{shop.code} {r.resource}: {r.pages} pages, {r.records} records ({counts_text(r.counts)})"
                  + (" (resumed an interrupted run)" if r.resumed else ""))
        else:
            print(f"{shop.code} {r.resource}: FAILED after {r.pages} pages, {r.records} records kept: {r.error}",
                  file=sys.stderr)
    if report.error:
        print(f"{shop.code}: FAILED: {report.error}", file=sys.stderr)
    if report.unhealthy:
        print(f"{shop.code}: unhealthy after {report.consecutive_failures} failed syncs in a row", file=sys.stderr)
    elif report.recovered:
        print(f"{shop.code}: healthy again")
