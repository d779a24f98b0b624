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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: only with -v (URLs are redacted where they carry secrets)
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
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
