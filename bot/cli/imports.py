"""kpibot import: a seller-center export (CSV or XLSX) into a shop."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.cli.common import counts_text, print_attribution, shop_named
from bot.config import Config
from bot.shops.files import ImportRefused, load_mapping, read_file, require_clean
from bot.usage import UsageError
from services.container import Services
from storage.ingest.writer import StoreWriter, WriteCounts


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _import(services, args)


def _import(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        shop = shop_named(session, args.shop)
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file {args.file}")
    try:
        mapping = load_mapping(args.mapping) if args.mapping else None
        # the shop's zone and currency unless the mapping file names its own
        result = read_file(path, args.preset, mapping, tz=(mapping.timezone if mapping else None) or shop.timezone,
                           currency=None if mapping and mapping.currency else shop.currency)
        records = require_clean(result, args.skip_bad_rows, "--skip-bad-rows")
    except ImportRefused as exc:     # bad rows (the message says nothing was imported), or the file's shape
        raise UsageError(str(exc) if exc.problems else f"nothing imported: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    for problem in result.problems:
        print(f"skipped {problem}", file=sys.stderr)
    writer = StoreWriter(services.engine, services.buyer_key)
    counts = writer.write_page(shop.id or 0, records) if records else WriteCounts()
    print(f"imported {path.name} into {shop.code}: {len(records)} records ({counts_text(counts)})"
          + (f"; {len(result.problems)} bad rows skipped" if result.problems else ""))
    if counts.inserted or counts.updated:
        print_attribution(services, [shop.id or 0], everything=False)
    return 0
