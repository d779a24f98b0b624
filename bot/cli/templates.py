"""kpibot templates: list KPI templates and set their trial."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from storage.models import (
    KpiTemplate,
)
from storage.queries import load_templates


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _templates(services, args)


def _templates(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        if args.action == "trial":
            row = session.execute(select(KpiTemplate).where(KpiTemplate.name == args.name)).scalars().first()
            if row is None:
                raise UsageError(f"no template {args.name!r} (see: kpibot templates list)")
            row.trial = args.state == "on"
            session.add(row)
            session.commit()
            print(f"template {row.name}: " + ("in trial, scores not binding" if row.trial else "binding"))
            return 0
        for tpl in load_templates(session):
            weights = ", ".join(f"{m.key} {m.weight}%" for m in tpl.metrics)
            print(f"{tpl.name:<18} {tpl.role:<9} {tpl.stage or 'any stage':<11} {'trial ' if tpl.trial else ''}"
                  f"{weights}")
    return 0
