"""The `kpibot` command line. Exit codes: 0 success, 1 failure, 2 bad arguments or configuration.

This package reads the arguments (bot.cli.parser) and the configuration; bot.cli.router hands the command to its
group's module (members, teams of shops, sync, import, digest, commission, ...), imported only then with the store,
scoring, charts and the chat platforms, so that `kpibot --help` and a mistyped command answer at once. Every
group module calls the same services (services/) as the chat command that does the same thing.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence

from bot.cli.parser import build_parser
from bot.usage import StoreUnavailable, UsageError
from scoring.fx import MissingRate
from scoring.templates import TemplateError

log = logging.getLogger("kpibot")

# kpibot's own loggers: -v raises only these to DEBUG
OWN_LOGGERS = ("kpibot", "bot", "commands", "services", "storage", "scoring", "cards")
# libraries that log secrets at DEBUG or INFO (websockets: the DingTalk stream URL with its ticket; httpx: every
# request URL; dingtalk_stream sets its own loggers to INFO and prints the gateway's answer with the ticket): kept
# at WARNING even with -v
QUIET_LIBRARIES = ("dingtalk_stream", "Lark", "lark_oapi", "httpx", "httpcore", "websockets", "urllib3",
                   "requests", "aiohttp", "apscheduler", "sqlalchemy", "alembic", "asyncio", "matplotlib", "PIL")


def configure_logging(verbose: bool) -> None:
    """WARNING for everyone; with `verbose`, DEBUG for kpibot's own loggers only, never for the libraries."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    from bot.config import ConfigError, load_config  # pydantic: not needed for --help or a mistyped command

    try:
        config = load_config(args.config)
        from bot.cli.router import run  # the store, scoring and the platforms come with it

        return run(args, config)
    except (ConfigError, UsageError) as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        return 2
    except (TemplateError, MissingRate, StoreUnavailable) as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"kpibot: {exc}", file=sys.stderr)
        return 2


def entry() -> int:
    """The installed `kpibot` script: main, then the heap frozen so that the interpreter's exit does not walk
    every object the command made (0.2 s of a chat's 2 s; the store's connections are closed by then)."""
    try:
        code = main()
    except BrokenPipeError:   # `kpibot kpi ... | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # Python's own advice: no second error at exit
        return 0
    gc.freeze()
    return code
