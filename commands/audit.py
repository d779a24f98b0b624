"""/audit [MEMBER] [ACTION] [YYYY-MM-DD]: the audit trail, newest first, at most 20 rows (services.audit_log);
admins see every change, finance members the pay changes only. More rows: `kpibot audit` on the command line."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from cards.i18n import t
from cards.model import Card, Note, Table, Text, Tone
from commands.audit_lines import about, change_line
from commands.context import Request
from commands.spec import Command
from scoring.roles import Role
from scoring.text import shown
from services.audit_log import USAGE, AuditNames, AuditRow, AuditView, audit_view


def _row(row: AuditRow, names: AuditNames, zone: ZoneInfo, lang: str) -> tuple[str, ...]:
    return (row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), shown(row.actor), row.action,
            about(row, names), change_line(row, names, lang))


def audit_card(view: AuditView, lang: str, zone: str) -> Card:
    blocks: list[Text | Table | Note] = []
    if view.pay_only:
        blocks.append(Note(t(lang, "audit.pay_only")))
    if not view.page.rows:
        blocks.append(Text(t(lang, "audit.empty")))
    else:
        tz = ZoneInfo(zone)
        when = f"{t(lang, 'audit.when')} ({zone})"   # the times are in the reader's zone: say which
        blocks.append(Table((when, t(lang, "audit.who"), t(lang, "audit.what"),
                             t(lang, "audit.about"), t(lang, "audit.change")),
                            tuple(_row(r, view.names, tz, lang) for r in view.page.rows)))
    more = view.page.total - len(view.page.rows)
    if more > 0:
        blocks.append(Note(t(lang, "audit.more", count=more)))
    return Card(t(lang, "audit.title"), tuple(blocks), Tone.NEUTRAL, lang)


def handle(req: Request) -> Card:
    view = audit_view(req.services, req.member, req.args)
    return audit_card(view, req.lang, req.member.timezone or req.services.org_timezone)


SPEC = Command("audit", ("审计", "审计日志"), "help.audit", USAGE, handle, min_role=Role.ADMIN, finance_too=True,
               id_aliases=("audit_log",))
