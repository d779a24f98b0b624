"""What the shop commands of the `kpibot` CLI do: `shops add|token|list`, `sync`, `import` and `attribute` (their
arguments are in bot.cli; bot.cli_commands imports this module for them only).

Exit codes as the rest of the CLI: 0 done, 1 something failed (a shop did not sync), 2 bad arguments or a file
that cannot be imported as asked. Tokens are read from stdin or from an environment variable named by a flag,
never from the command line (where `ps` and shell history would keep them), and are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlmodel import Session

from bot.config import Config
from bot.shop_sources import (
    FILE_PLATFORMS,
    RESOURCES,
    SHOP_ID_NEEDED,
    SHOP_PLATFORMS,
    NoSource,
    parse_tokens,
    process_source,
    token_fields,
)
from bot.shops.files import ImportRefused, load_mapping, read_file, require_clean
from bot.usage import UsageError
from scoring.money import is_currency
from services.container import Services
from storage.attribution import attribute_orders
from storage.creators import add_own_buyer, creator_names, find_creator
from storage.ingest.records import Source, SourceError
from storage.ingest.sync import SyncReport, sync_shop
from storage.ingest.token_store import DbTokenStore
from storage.ingest.writer import StoreWriter, WriteCounts
from storage.models import Shop, ShopCredential, ShopHealth, SyncCursor, Team
from storage.queries import find_team, organisation, teams


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.command == "shops":
        if args.action == "add":
            return _add(services, args, config)
        if args.action == "token":
            return _token(services, args)
        return _list(services)
    if args.command == "sync":
        return _sync(services, args, config, clock())
    if args.command == "import":
        return _import(services, args)
    if args.command == "creators":
        return _own_buyer(services, args)
    return _attribute(services, args)


# --- shops ------------------------------------------------------------------------------------------------------

def _add(services: Services, args: argparse.Namespace, config: Config) -> int:
    code, platform = args.code.strip(), args.platform.strip().lower()
    if platform not in SHOP_PLATFORMS:
        raise UsageError(f"unknown platform {args.platform!r}; platforms: {', '.join(SHOP_PLATFORMS)}")
    currency = args.currency.strip().upper()
    if not is_currency(currency):
        raise UsageError(f"unknown currency {args.currency!r} (an ISO 4217 code such as USD, GBP, IDR)")
    _zone(args.timezone)
    region = args.region.strip().upper()
    if len(region) != 2 or not region.isalpha():
        raise UsageError(f"--region must be a two-letter country code such as US, got {args.region!r}")
    shop_id = (args.platform_shop_id or "").strip() or None
    if platform in SHOP_ID_NEEDED and shop_id is None:
        raise UsageError(f"{platform} shops need --platform-shop-id ({SHOP_ID_NEEDED[platform]})")
    if platform == "shopee" and not (shop_id or "").isdigit():
        raise UsageError(f"--platform-shop-id must be the numeric Shopee shop_id, got {shop_id!r}")
    tokens = _read_tokens(args, platform) if (args.tokens_stdin or args.tokens_env) else None
    with Session(services.engine) as session:
        team_id = None
        if args.team:
            team = find_team(session, args.team)
            if team is None:
                raise UsageError(f"no team {args.team!r}; teams: {', '.join(t.code for t in teams(session)) or 'none'}")
            team_id = team.id
        org = organisation(session, config.org.name)
        if _shop_by_code(session, code) is not None:
            raise UsageError(f"there is already a shop {code} (see: kpibot shops list)")
        shop = Shop(org_id=org.id or 0, team_id=team_id, code=code, name=args.name or code, platform=platform,
                    platform_shop_id=shop_id, region=region, currency=currency, timezone=args.timezone)
        session.add(shop)
        session.commit()
        shop_pk = shop.id or 0
    if tokens is not None:
        DbTokenStore(services.engine, shop_pk).save(tokens)
    print(f"added shop {code}: {platform} {region} {currency} {args.timezone}"
          + (f", team {args.team}" if args.team else "")
          + (f"; stored {', '.join(token_fields(tokens))}" if tokens is not None else ""))
    if tokens is None and platform not in FILE_PLATFORMS:
        print(f"next: kpibot shops token {code} --tokens-stdin (the shop's API tokens)")
    return 0


def _token(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        shop = _shop(session, args.code)
    tokens = _read_tokens(args, shop.platform)
    DbTokenStore(services.engine, shop.id or 0).save(tokens)
    print(f"stored tokens for shop {shop.code}: {', '.join(token_fields(tokens))}")
    return 0


def _read_tokens(args: argparse.Namespace, platform: str) -> Any:
    if args.tokens_env:
        text = os.environ.get(args.tokens_env)
        if text is None:
            raise UsageError(f"the environment variable {args.tokens_env} is not set")
    else:
        text = sys.stdin.read()
    try:
        return parse_tokens(platform, text)
    except ValueError as exc:
        raise UsageError(f"tokens: {exc}") from None


def _list(services: Services) -> int:
    with Session(services.engine) as session:
        rows = session.execute(select(Shop, ShopHealth, Team).outerjoin(ShopHealth, ShopHealth.shop_id == Shop.id)
                               .outerjoin(Team, Team.id == Shop.team_id).order_by(Shop.code)).all()
        with_tokens = {sid for sid in session.execute(select(ShopCredential.shop_id)).scalars()}
    if not rows:
        print("no shops (add one: kpibot shops add CODE --platform P ...)")
        return 0
    print(f"{'shop':<12} {'platform':<12} {'region':<6} {'cur':<4} {'team':<10} {'tokens':<7} {'health':<12} "
          f"{'last success':<17} last error")
    for shop, health, team in rows:
        tokens = "-" if shop.platform in FILE_PLATFORMS else ("yes" if shop.id in with_tokens else "no")
        print(f"{shop.code:<12} {shop.platform:<12} {shop.region:<6} {shop.currency:<4} "
              f"{(team.code if team else '-'):<10} {tokens:<7} {_health(health):<12} "
              f"{_stamp(health.last_success_at if health else None):<17} "
              f"{(health.last_error if health and health.last_error and health.consecutive_failures else '-')}")
    return 0


def _health(health: ShopHealth | None) -> str:
    if health is None:
        return "never synced"
    if health.unhealthy_since is not None:
        return "unhealthy"
    if health.consecutive_failures:
        return f"failing {health.consecutive_failures}x"
    return "ok"


def _stamp(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M") + "Z"


# --- sync ---------------------------------------------------------------------------------------------------------

def _sync(services: Services, args: argparse.Namespace, config: Config, now: datetime) -> int:
    since_day = _day(args.since) if args.since else None   # bad options fail before anything is read
    if args.resource and args.resource not in RESOURCES:
        raise UsageError(f"--resource must be one of {', '.join(RESOURCES)}, got {args.resource!r}")
    with Session(services.engine) as session:
        if args.shop:
            shop = _shop(session, args.shop)
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
        _print_attribution(services, changed, everything=False)
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
            print(f"{shop.code} {r.resource}: {r.pages} pages, {r.records} records ({_counts(r.counts)})"
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


def _counts(c: WriteCounts) -> str:
    return f"{c.inserted} new, {c.updated} updated, {c.unchanged} unchanged, {c.pending} pending"


# --- import and attribution ------------------------------------------------------------------------------------

def _import(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        shop = _shop(session, args.shop)
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file {args.file}")
    try:
        mapping = load_mapping(args.mapping) if args.mapping else None
        # the shop's zone and currency unless the mapping file names its own
        result = read_file(path, args.preset, mapping, tz=(mapping.timezone if mapping else None) or shop.timezone,
                           currency=None if mapping and mapping.currency else shop.currency)
        records = require_clean(result, args.skip_bad_rows)
    except ImportRefused as exc:     # bad rows (the message says nothing was imported), or the file's shape
        raise UsageError(str(exc) if exc.problems else f"nothing imported: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    for problem in result.problems:
        print(f"skipped {problem}", file=sys.stderr)
    writer = StoreWriter(services.engine, services.buyer_key)
    counts = writer.write_page(shop.id or 0, records) if records else WriteCounts()
    print(f"imported {path.name} into {shop.code}: {len(records)} records ({_counts(counts)})"
          + (f"; {len(result.problems)} bad rows skipped" if result.problems else ""))
    if counts.inserted or counts.updated:
        _print_attribution(services, [shop.id or 0], everything=False)
    return 0


def _attribute(services: Services, args: argparse.Namespace) -> int:
    shop_ids: list[int] | None = None
    if args.shop:
        with Session(services.engine) as session:
            shop_ids = [_shop(session, args.shop).id or 0]
    _print_attribution(services, shop_ids, everything=args.all)
    return 0


def _own_buyer(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        creator = find_creator(session, args.creator)
        if creator is None:
            names = ", ".join(creator_names(session)) or "none yet"
            raise UsageError(f"no creator {args.creator!r}; creators: {names}")
        platform = args.platform or creator.platform
        if platform not in SHOP_PLATFORMS:
            raise UsageError(f"unknown platform {platform!r}; one of {', '.join(SHOP_PLATFORMS)}")
        added = add_own_buyer(session, creator, platform, args.buyer_id, services.buyer_key)
        session.commit()
        shop_ids = [s.id or 0 for s in session.execute(select(Shop).where(Shop.org_id == creator.org_id)).scalars()]
    print(f"{creator.handle}: {'own buyer id recorded' if added else 'own buyer id already known'} ({platform})")
    if added:   # earlier orders may be theirs
        _print_attribution(services, shop_ids, everything=True)
    return 0


def _print_attribution(services: Services, shop_ids: list[int] | None, everything: bool) -> None:
    c = attribute_orders(services.engine, shop_ids, everything=everything)
    print(f"attribution: {c.orders} orders, {c.credited} credited to creators, {c.self_referral} self-referrals, "
          f"{c.unattributed} unattributed")


# --- helpers ------------------------------------------------------------------------------------------------------

def _shop_by_code(session: Session, code: str) -> Shop | None:
    return session.execute(select(Shop).where(Shop.code == code)).scalars().first()


def _shop(session: Session, code: str) -> Shop:
    shop = _shop_by_code(session, code)
    if shop is None:
        known = [s.code for s in session.execute(select(Shop).order_by(Shop.code)).scalars()]
        raise UsageError(f"no shop {code!r}; shops: {', '.join(known) or 'none (kpibot shops add)'}")
    return shop


def _zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"unknown time zone {name!r} (an IANA name such as America/Los_Angeles)") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since must be YYYY-MM-DD, got {text!r}") from None
