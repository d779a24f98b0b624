"""kpibot audit: the audit trail, newest first, as a table or (--json) one JSON object a line with every field.
The command line reads every row (whoever runs kpibot on the server holds the store anyway)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from bot.cli.common import parse_day
from bot.config import Config
from cards.i18n import lang_of
from commands.audit_lines import about, change_line
from services.audit_log import audit_names, start_of
from services.container import Services
from storage.audit_read import read_audit


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    since = start_of(parse_day(args.since), services.org_timezone) if args.since else None
    with Session(services.engine) as session:
        page = read_audit(session, who=args.who, what=args.what, since=since)
        names = audit_names(session, page.rows)
    if args.json:
        for row in page.rows:
            print(json.dumps(row.as_json(), ensure_ascii=False, sort_keys=True))
        return 0
    if not page.rows:
        print("no audit rows match")
        return 0
    # the table reads as /audit does (codes for ids, money and percentages as such); --json keeps every field raw
    lang = lang_of(services.org_locale)
    print(f"{'at (UTC)':<20} {'actor':<16} {'action':<22} {'about':<28} change")
    for row in page.rows:
        print(f"{row.at.strftime('%Y-%m-%d %H:%M:%S'):<20} {row.actor:<16} {row.action:<22} "
              f"{about(row, names):<28} {change_line(row, names, lang)}")
    return 0
