"""/audit [MEMBER] [ACTION] [YYYY-MM-DD]: the audit trail, newest first, at most 20 rows (services.audit_log);
admins see every change, finance members the pay changes only. More rows: `kpibot audit` on the command line."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from cards.i18n import t
from cards.model import Card, Note, Table, Text, Tone
from commands.context import Request
from commands.spec import Command
from scoring.roles import Role
from scoring.text import shown
from services.audit_log import USAGE, AuditRow, AuditView, audit_view

CHANGE_SHOWN = 80   # characters of a row's details on the card; `kpibot audit --json` has them whole


def _value(v: Any) -> str:
    return "—" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def change_text(details: dict[str, Any]) -> str:
    """A row's details in one short line: "before → after" first when it has them (a target's new value is its
    "value"), then the rest."""
    after_key = "after" if "after" in details or "value" not in details else "value"
    rest = {k: v for k, v in details.items() if k not in ("before", after_key)}
    parts = [f"{_value(details.get('before'))} → {_value(details.get(after_key))}"] \
        if "before" in details or "after" in details else []
    parts += [f"{k}={_value(v)}" for k, v in rest.items()]
    return shown("; ".join(parts), CHANGE_SHOWN)


def _row(row: AuditRow, zone: ZoneInfo) -> tuple[str, ...]:
    return (row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), shown(row.actor), row.action,
            shown(row.entity_id or row.entity), change_text(row.details))


def audit_card(view: AuditView, lang: str, zone: str) -> Card:
    blocks: list[Text | Table | Note] = []
    if view.pay_only:
        blocks.append(Note(t(lang, "audit.pay_only")))
    if not view.page.rows:
        blocks.append(Text(t(lang, "audit.empty")))
    else:
        tz = ZoneInfo(zone)
        blocks.append(Table((t(lang, "audit.when"), t(lang, "audit.who"), t(lang, "audit.what"),
                             t(lang, "audit.about"), t(lang, "audit.change")),
                            tuple(_row(r, tz) for r in view.page.rows)))
    more = view.page.total - len(view.page.rows)
    if more > 0:
        blocks.append(Note(t(lang, "audit.more", count=more)))
    return Card(t(lang, "audit.title"), tuple(blocks), Tone.NEUTRAL, lang)


def handle(req: Request) -> Card:
    view = audit_view(req.services, req.member, req.args)
    return audit_card(view, req.lang, req.member.timezone or req.services.org_timezone)


SPEC = Command("audit", ("审计", "审计日志"), "help.audit", USAGE, handle, min_role=Role.ADMIN, finance_too=True,
               id_aliases=("audit_log",))
