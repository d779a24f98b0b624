"""kpibot templates: write the shipped templates to a file, apply an edited file, list versions, set a trial."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from bot.cli.common import organisation_of
from bot.config import Config
from bot.usage import UsageError
from scoring.shipped_templates import DEFAULT_TEMPLATES
from scoring.templates import BEGINNING
from services.container import Services
from services.templates import (
    TemplateFileProblems,
    apply_templates,
    parse_file,
    parse_month,
    render_file,
    versions,
)
from storage.audit import audit
from storage.models import KpiTemplate


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.action == "init":
        return _init(Path(args.file), args.force)
    if args.action == "apply":
        return _apply(services, Path(args.file), args.effective_from, clock())
    return _templates(services, args)


def _init(path: Path, force: bool) -> int:
    if path.exists() and not force:
        raise UsageError(f"{path} exists; edit it and run: kpibot templates apply {path} (or --force to overwrite)")
    text = render_file(DEFAULT_TEMPLATES)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    print(f"wrote {len(DEFAULT_TEMPLATES)} templates to {path}; edit it, then: kpibot templates apply {path}")
    return 0


def _apply(services: Services, path: Path, month: str | None, now: datetime) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    effective_from = parse_month(month) if month else None
    try:
        templates = parse_file(text)
    except TemplateFileProblems as exc:
        print(f"kpibot: {path} refused, nothing stored ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    with Session(services.engine) as session:
        org_id = organisation_of(session).id or 0
        try:
            applied = apply_templates(session, org_id, templates, effective_from, now, services.org_timezone)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(f"{len(templates)} templates in effect from {_month(applied.effective_from)} "
          f"({applied.added} new, {applied.replaced} replaced)")
    return 0


def _month(effective_from: str) -> str:
    return "every month" if effective_from == BEGINNING else effective_from


def _templates(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        if args.action == "trial":
            rows = session.execute(select(KpiTemplate).where(KpiTemplate.name == args.name)).scalars().all()
            if not rows:
                raise UsageError(f"no template {args.name!r} (see: kpibot templates list)")
            for row in rows:   # every version of the name
                audit(session, None, "template.trial", "kpi_template", f"{row.name}@{row.effective_from}",
                      {"before": row.trial, "after": args.state == "on"})
                row.trial = args.state == "on"
                session.add(row)
            session.commit()
            print(f"template {args.name}: " + ("in trial, scores not binding" if args.state == "on" else "binding"))
            return 0
        for tpl in versions(session):
            weights = ", ".join(f"{m.key} {m.weight}%" for m in tpl.metrics)
            print(f"{tpl.name:<18} {_month(tpl.effective_from):<11} {tpl.role:<9} {tpl.stage or 'any stage':<11} "
                  f"{'trial ' if tpl.trial else ''}{weights}" + (f"  INVALID: {tpl.problem}" if tpl.problem else ""))
    return 0
