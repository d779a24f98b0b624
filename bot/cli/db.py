"""kpibot db upgrade: create the store's schema or bring it to the newest migration (Alembic).
kpibot db rebuild-aggregates: recompute the order sums (storage.order_sums) from the orders."""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy.engine import Engine

from bot.config import Config
from storage.engine import make_engine
from storage.migrate import current_revision, head_revision, refuse_newer, upgrade
from storage.order_sums import rebuild


def run(args: argparse.Namespace, config: Config) -> int:
    """Before any service is built: the other commands need the schema this makes."""
    engine = make_engine(config.store.url.get_secret_value())
    if args.action == "rebuild-aggregates":
        try:
            return _rebuild(engine)
        finally:
            engine.dispose()
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    print(f"schema {'created' if before is None else 'upgraded from ' + before} -> {after}"
          if before != after else f"schema is current ({after})")
    return 0


def _rebuild(engine: Engine) -> int:
    current = current_revision(engine)
    refuse_newer(current)   # one line and exit 2, as for every command
    if current != head_revision():
        print("the store's schema is not current: run `kpibot db upgrade` first", file=sys.stderr)
        return 2
    started = time.perf_counter()
    orders, rows = rebuild(engine)
    print(f"order sums rebuilt from {orders:,} orders: {rows:,} order_sum rows (and the hour, product and shape "
          f"sums) in {time.perf_counter() - started:.1f} s")
    return 0
