"""kpibot targets: import monthly targets and country baselines from a file."""

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
from storage.member_import import ImportProblem
from storage.target_import import import_targets


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _targets(services, args)


def _targets(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        org = organisation_of(session)
        try:
            result = import_targets(session, Path(args.file), org.id or 0, None, services.rules.reporting_currency)
        except ImportProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        session.commit()
    print(f"imported {args.file}: {result.targets} targets, {result.baselines} country baselines")
    return 0
