"""kpibot teams: add, list and set teams (time zone, business stage, locale, countries sold in, leads)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from services.organisation import OrgSettings, SetupError
from services.teams_admin import TeamRow, add_team, set_team, team_rows


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    try:
        with Session(services.engine) as session:
            if args.action == "list":
                rows = team_rows(session)
                if not rows:
                    print("no teams yet (kpibot teams add)")
                for row in rows:
                    print(_line(row))
                return 0
            if args.action == "add":
                defaults = OrgSettings(config.org.name, services.rules.reporting_currency, services.org_timezone,
                                       services.org_locale)
                team = add_team(session, defaults, args.code, args.name, args.timezone, args.stage, args.locale,
                                args.country)
                verb = "added"
            else:
                team = set_team(session, args.code, name=args.name, timezone=args.timezone, stage=args.stage,
                                locale=args.locale, countries=args.country, leads=args.lead)
                verb = "updated"
            session.commit()
            row = next(r for r in team_rows(session) if r.code == team.code)
    except SetupError as exc:
        raise UsageError(str(exc)) from None
    print(f"{verb} team {_line(row)}")
    return 0


def _line(row: TeamRow) -> str:
    return (f"{row.code:<12} {row.name:<20} {row.timezone:<20} {row.stage:<10} "
            f"leads={','.join(row.leads) or '-'} countries={','.join(row.countries) or '-'}")
