"""kpibot db upgrade: create the store's schema or bring it to the newest migration (Alembic)."""

from __future__ import annotations

import argparse

from bot.config import Config
from storage.engine import make_engine
from storage.migrate import upgrade


def run(args: argparse.Namespace, config: Config) -> int:
    """Before any service is built: the other commands need the schema this makes."""
    engine = make_engine(config.store.url.get_secret_value())
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    print(f"schema {'created' if before is None else 'upgraded from ' + before} -> {after}"
          if before != after else f"schema is current ({after})")
    return 0
