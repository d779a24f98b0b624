"""kpibot backup FILE / kpibot restore FILE: a SQLite store copied while the bot runs, and put back while it is
stopped (storage.backup). Both run before any service is built: restore replaces the file the services would
open, and neither needs more than the store's URL. A PostgreSQL store is refused with the tools to use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.app import clock_from_env
from bot.config import Config
from storage.audit import cli_actor
from storage.backup import Refused, backup, restore


def run(args: argparse.Namespace, config: Config) -> int:
    url = config.store.url.get_secret_value()
    try:
        if args.command == "backup":
            revision = backup(url, Path(args.file), force=args.force)
            print(f"backed up the store to {args.file} (schema {revision})")
            return 0
        done = restore(url, Path(args.file), force=args.force, now=clock_from_env()(), actor=cli_actor())
    except (Refused, OSError) as exc:
        print(f"kpibot {args.command}: {exc}", file=sys.stderr)
        return 2
    upgraded = f", upgraded to {done.now}" if done.revision != done.now else ""
    kept = f"; the store it replaced is kept as {done.kept}" if done.kept is not None else ""
    print(f"restored {args.file} (schema {done.revision}{upgraded}){kept}")
    return 0
