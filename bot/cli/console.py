"""kpibot chat, demo and seed-demo: talking to the bot on the console, and the demo organisation (seeded into an
empty store only: the demo is a showcase, never a dependency)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.app import seed_demo_if_empty
from bot.config import Config
from bot.dispatch import Dispatcher
from bot.parse import parse
from bot.platforms.console import Console
from bot.usage import UsageError
from services.container import Services
from storage.demo import has_demo


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.command == "seed-demo":
        return _seed_demo(services, clock)
    console = Console(Dispatcher(services, clock), Path(config.charts.dir), sys.stdout)
    if args.command == "chat":
        if not args.user.strip():   # "" would talk as nobody and print "Your console id is ."
            raise UsageError('chat needs the member id to talk as, e.g. kpibot chat --as host1 "/mykpi week"')
        if parse(args.text) is None:   # the bot stays silent at a message with no words: say why here
            raise UsageError('chat needs what the member types, e.g. kpibot chat --as host1 "/mykpi week"')
        seed_demo_if_empty(services, clock())
        _card, paths = console.exchange(args.user, args.text)
        for path in paths.values():
            print(f"chart: {Path(path).resolve()}")
        return 0
    if seed_demo_if_empty(services, clock()):   # demo
        print("Seeded the demo organisation (members host1, host2, host3, buyer1, operator1, selector1, "
              "lead1, lead2, manager1, admin1).")
    console.repl("host1")
    return 0


def _seed_demo(services: Services, clock: Callable[[], datetime]) -> int:
    with Session(services.engine) as session:
        if has_demo(session):
            print("the demo organisation is already in the store")
            return 0
    if not seed_demo_if_empty(services, clock()):
        raise UsageError(f"the store at {services.engine.url} already holds an organisation; the demo goes only "
                         "into an empty store")
    print("seeded the demo organisation")
    return 0
