"""Which module does each `kpibot` command: builds the services once, then hands the command to its group's
module (bot/cli/<group>.py, imported only then); the console commands (chat, demo, run, seed-demo) are here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.app import build_services, clock_from_env, seed_demo_if_empty
from bot.cli.serve import serve
from bot.config import Config
from bot.dispatch import Dispatcher
from bot.platforms.console import Console
from bot.usage import UsageError
from services.container import Services
from storage.demo import has_demo
from storage.migrate import upgrade

# command -> its group's module under bot/cli
GROUPS = {"members": "members", "digest": "digest", "kpi": "kpi", "templates": "templates", "targets": "targets",
          "commission": "commission", "shops": "shops", "sync": "sync", "import": "imports", "attribute": "creators",
          "creators": "creators"}


def run(args: argparse.Namespace, config: Config) -> int:
    """Do what the command line asks; the exit code."""
    if args.command == "db":
        from storage.engine import make_engine

        engine = make_engine(config.store.url.get_secret_value())
        try:
            before, after = upgrade(engine)
        finally:
            engine.dispose()
        print(f"schema {'created' if before is None else 'upgraded from ' + before} -> {after}"
              if before != after else f"schema is current ({after})")
        return 0
    clock = clock_from_env()
    services = build_services(config)
    try:
        return _command(services, args, config, clock)
    finally:
        services.engine.dispose()   # connections closed now, not whenever the engine is collected (main may run again)


def _command(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.command == "seed-demo":
        with Session(services.engine) as session:
            if has_demo(session):
                print("the demo organisation is already in the store")
                return 0
        if not seed_demo_if_empty(services, clock()):
            raise UsageError(f"the store at {services.engine.url} already holds an organisation; the demo goes only "
                             "into an empty store")
        print("seeded the demo organisation")
        return 0
    group = GROUPS.get(args.command)
    if group is not None:
        module = importlib.import_module(f"bot.cli.{group}")
        return int(module.run(services, args, config, clock))
    dispatcher = Dispatcher(services, clock)
    console = Console(dispatcher, Path(config.charts.dir), sys.stdout)
    if args.command == "chat":
        seed_demo_if_empty(services, clock())
        _card, paths = console.exchange(args.user, args.text)
        for path in paths.values():
            print(f"chart: {Path(path).resolve()}")
        return 0
    if args.command == "demo":
        if seed_demo_if_empty(services, clock()):
            print("Seeded the demo organisation (members host1, host2, host3, buyer1, operator1, selector1, "
                  "lead1, lead2, manager1, admin1).")
        console.repl("host1")
        return 0
    if args.command == "run":
        return serve(services, config, console, dispatcher)
    raise UsageError(f"unknown command {args.command}")
