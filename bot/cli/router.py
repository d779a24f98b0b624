"""Which module does each `kpibot` command: `db` runs before anything else (it makes the schema); every other
command gets the services, built once, and is handed to its group's module (bot/cli/<group>.py), imported only
then so that a command loads only what it uses."""

from __future__ import annotations

import argparse
import importlib
import sys
import threading

from bot.app import build_services, build_services_waiting, clock_from_env, shown_store, store_password
from bot.config import Config
from bot.usage import StoreUnavailable
from services.container import Services
from storage.audit import acting_as, cli_actor

# command -> its group's module under bot/cli
GROUPS = {"members": "members", "digest": "digest", "kpi": "kpi", "templates": "templates", "targets": "targets",
          "fx": "fx",
          "commission": "commission", "shops": "shops", "sync": "sync", "import": "imports", "attribute": "creators",
          "creators": "creators", "chat": "console", "demo": "console", "seed-demo": "console", "run": "serve",
          "credit": "credit", "lives": "credit", "org": "org", "teams": "teams",
          "products": "products",
          "month": "month", "export": "export",
          "store": "store",
          "backup": "backup", "restore": "backup",
          "audit": "audit"}


def run(args: argparse.Namespace, config: Config) -> int:
    """Do what the command line asks; the exit code."""
    if args.command == "db":
        from bot.cli import db

        return db.run(args, config)
    if args.command in ("backup", "restore"):   # before the services: restore replaces the store they open
        from bot.cli import backup

        return backup.run(args, config)
    if args.command == "store" and args.action == "new-key":   # needs no store
        from bot.cli import store

        return store.print_new_key()
    module = importlib.import_module(f"bot.cli.{GROUPS[args.command]}")   # argparse allows only these commands
    clock = clock_from_env()
    if args.command != "run":
        services = open_services(config)
    else:   # log format, signals and ops endpoint set before the first try of the store (bot.cli.serve.Startup)
        from bot.app import StartStopped
        from bot.cli.serve import NO_PLATFORM, OpsUnavailable, Startup, no_platform

        if no_platform(config):   # a misnamed variable: refuse, rather than a console that exits 0 at EOF
            print(NO_PLATFORM, file=sys.stderr)
            return 2
        try:
            args.startup = startup = Startup.begin(config)
        except OpsUnavailable as exc:
            print(exc, file=sys.stderr)
            return 2
        try:
            services = open_services(config, wait=True, stop=startup.stop)
            if startup.stop.is_set():   # the stop came during the try that reached the store
                services.engine.dispose()
                raise StartStopped
            startup.reached()
        except StartStopped:
            startup.close()
            return startup.stopped_early()
        except BaseException:
            startup.close()
            raise
    try:
        if args.command == "run":   # the bot: its commands and jobs each name their own actor (storage.audit)
            return int(module.run(services, args, config, clock))
        with acting_as(cli_actor(), clock):
            return int(module.run(services, args, config, clock))
    finally:
        if args.command == "run":
            args.startup.close()
        services.engine.dispose()   # connections closed now, not whenever the engine is collected (main may run again)


def open_services(config: Config, wait: bool = False, stop: threading.Event | None = None) -> Services:
    """The services, or StoreUnavailable in one line (the URL without its password) instead of a driver's traceback.
    With `wait` (`kpibot run`), a store that cannot be reached is tried again ([store] start_attempts) first."""
    from sqlalchemy.exc import SQLAlchemyError

    attempts = config.store.start_attempts if wait else 1
    try:
        if not wait:
            return build_services(config)
        return build_services_waiting(config, attempts, float(config.store.start_backoff_s), stop)
    except (SQLAlchemyError, ImportError) as exc:
        url = config.store.url.get_secret_value()
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        password = store_password(url)
        if password:
            first = first.replace(password, "***")
        tries = f" after {attempts} tries" if attempts > 1 else ""
        raise StoreUnavailable(f"cannot open the store at {shown_store(url)}{tries}: {type(exc).__name__}: "
                               f"{first}") from None

