"""kpibot targets: import monthly targets and country baselines from a file (services.targets.import_file)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from bot.cli.common import organisation_of
from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from services.targets import import_file
from storage.member_import import ImportProblem
from storage.tabular import read_note


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _targets(services, args, clock())


def _targets(services: Services, args: argparse.Namespace, now: datetime) -> int:
    with Session(services.engine) as session:
        org_id = organisation_of(session).id or 0
    try:
        result = import_file(services, Path(args.file), org_id, now, args.force, args.zero, args.encoding)
    except ImportProblem as exc:
        raise UsageError(f"nothing imported: {exc}") from None
    print(f"imported {args.file}: {result.targets} targets, {result.baselines} country baselines"
          + read_note(Path(args.file), args.encoding))
    return 0
