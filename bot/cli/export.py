"""kpibot export --months N --out FILE.xlsx: every team's months as a workbook (services.export)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from services.errors import UserError
from services.export import MAX_MONTHS, export


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; add --force to overwrite it")
    if not 1 <= args.months <= MAX_MONTHS:
        raise UsageError(f"--months {args.months}: give 1 to {MAX_MONTHS}")
    try:
        result = export(services, None, args.months, clock())
    except UserError as exc:   # not reached for the command line (it sees everything); kept one line anyway
        raise UsageError(exc.key) from None
    try:   # it holds pay (the commission columns): 0600 like a backup, also over a file others could read
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(result.content)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc}") from None
    print(f"{out}: {len(result.months)} months ({result.months[-1]} to {result.months[0]}, newest first), "
          f"{result.members} members in {result.months[0]}")
    return 0
