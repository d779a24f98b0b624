"""kpibot import: a seller-center export (CSV or XLSX) into a shop.

The file streams (bot.shops.files.stream_file): its records are written a batch at a time into one transaction,
so memory stays flat whatever its size and a bad row anywhere (without --skip-bad-rows) rolls everything back.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.cli.common import counts_text, print_attribution, shop_named
from bot.config import Config
from bot.shops.files import MAX_KEPT_PROBLEMS, PRESETS, ImportRefused, load_mapping, refusal, stream_file
from bot.usage import UsageError
from services.container import Services
from storage.audit import audit
from storage.ingest.writer import StoreWriter, WriteCounts


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _import(services, args)


class _Refused(Exception):
    """Raised inside the write transaction to roll it back."""


def _import(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        shop = shop_named(session, args.shop)
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file {args.file}")
    writer = StoreWriter(services.engine, services.buyer_key)
    counts, records = WriteCounts(), 0
    try:
        mapping = load_mapping(args.mapping) if args.mapping else None
        # the shop's zone and currency unless the mapping file names its own
        stream = stream_file(path, args.preset, mapping, tz=(mapping.timezone if mapping else None) or shop.timezone,
                             currency=None if mapping and mapping.currency else shop.currency,
                             date_order=args.date_order, encoding=args.encoding)
        with writer.transaction() as txn:
            for batch in stream.batches():
                if stream.problem_count and not args.skip_bad_rows:
                    continue        # nothing will be kept: read on only to list the problems
                counts += txn.write(shop.id or 0, batch)
                records += len(batch)
            if stream.problem_count and not args.skip_bad_rows:
                raise _Refused
            # what the file held: import.orders, import.live, import.videos, import.ad_spend (bot.shops.files.Preset)
            audit(txn.conn, None, f"import.{PRESETS[args.preset].kind}", "shop", shop.code,
                  {"file": path.name, "records": records, "new": counts.inserted, "updated": counts.updated,
                   "unchanged": counts.unchanged, "pending": counts.pending, "skipped": stream.problem_count})
    except _Refused:
        raise UsageError(str(refusal(path, stream.problems(), stream.problem_count, "--skip-bad-rows"))) from None
    except ImportRefused as exc:     # the file's shape, its encoding or its dates
        raise UsageError(f"nothing imported: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    for problem in stream.problems():
        print(f"skipped {problem}", file=sys.stderr)
    if stream.problem_count > MAX_KEPT_PROBLEMS:
        print(f"skipped {stream.problem_count - MAX_KEPT_PROBLEMS} more problems, not listed", file=sys.stderr)
    print(f"imported {path.name} into {shop.code}: {records} records ({counts_text(counts)})"
          + (f"; {stream.problem_count} bad rows skipped" if stream.problem_count else "") + stream.read_note)
    if counts.inserted or counts.updated:
        print_attribution(services, [shop.id or 0], everything=False)
    return 0
