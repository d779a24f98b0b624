"""Import members from a CSV or XLSX file (`kpibot members import FILE`), with their chat platforms' ids.

Columns (header row, any order): member, name, role, team, timezone, locale, feishu_open_id, feishu_union_id,
dingtalk_staff_id, and PLATFORM_user_id for any other platform (wecom_user_id, slack_user_id: the id the
platform's adapter reports, under the name the adapter uses). `member` is required; a new member also needs
name and role. An existing member (same id) is updated with the non-empty cells. Every row is checked before
anything is written, and the import is all-or-nothing: a file with a bad row changes nothing and names the line.

The id columns are bindings (storage.identity): `identity_column` says which platform and kind of id each one is.
PLATFORM_handle columns (tiktok_handle, shopee_handle ...) are the member's accounts on shop platforms, not chat
identities (storage.crediting.set_handle: sessions, videos and orders are credited by them): `handle_column`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from scoring.crediting import handle_key
from scoring.languages import LOCALE_HINT, supported_locale
from scoring.periods import is_zone
from scoring.roles import Role
from scoring.text import BadText, code_text, display_name, shown
from storage.audit import audit, audit_member, member_state
from storage.crediting import handle_holder, set_handle
from storage.handles import BadHandle, checked_handle
from storage.identity import ALIAS, PRIMARY, BadIdentity, bind_identity, check_identity, identity_holder
from storage.ingest.records import HANDLE_PLATFORMS
from storage.models import Member, Team
from storage.queries import organisation
from storage.tabular import TableProblem, read_table

COLUMNS = ("member", "name", "role", "team", "timezone", "locale", "feishu_open_id", "feishu_union_id",
           "dingtalk_staff_id")
ROLES = tuple(r.value for r in Role)
IDENTITIES = {"feishu_open_id": ("feishu", PRIMARY), "feishu_union_id": ("feishu", ALIAS),
              "dingtalk_staff_id": ("dingtalk", PRIMARY)}
OTHER_PLATFORM_ID = re.compile(r"([a-z][a-z0-9]*)_user_id")   # wecom_user_id -> the primary id on "wecom"


def identity_column(column: str) -> tuple[str, str] | None:
    """(platform, kind of id) of a column that holds a platform id; None for the other columns."""
    if column in IDENTITIES:
        return IDENTITIES[column]
    found = OTHER_PLATFORM_ID.fullmatch(column)
    # feishu_user_id is another kind of Feishu id than the open_id kpibot binds: not a column of this file
    if found is None or found.group(1) in {platform for platform, _ in IDENTITIES.values()}:
        return None
    return found.group(1), PRIMARY


HANDLE = re.compile(r"([a-z][a-z0-9]*)_handle")   # tiktok_handle -> the member's handle on "tiktok"


def handle_column(column: str) -> str | None:
    """The shop platform of a column that holds a member's handle there; None for the other columns."""
    found = HANDLE.fullmatch(column)
    return None if found is None or found.group(1) not in HANDLE_PLATFORMS else found.group(1)


class ImportProblem(ValueError):
    """What is wrong with the file, with line numbers."""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def import_members(session: Session, path: Path, default_timezone: str, default_locale: str,
                   org_name: str, encoding: str | None = None) -> ImportResult:
    rows = _read(path, encoding)
    org = organisation(session, org_name)
    teams = {t.code: t for t in session.execute(select(Team).where(Team.org_id == org.id)).scalars()}
    members = {m.code: m for m in session.execute(select(Member).where(Member.org_id == org.id)).scalars()}
    problems: list[str] = []
    claimed: dict[tuple[str, str], str] = {}   # (platform, id) -> the member code holding it, file or store
    plan: list[tuple[int, dict[str, str]]] = []
    for line, row in rows:
        if not row.get("member", ""):
            problems.append(f"line {line}: member id is empty")
            continue
        try:
            code = row["member"] = code_text(row["member"])
        except BadText as exc:
            problems.append(f"line {line}: member id {shown(row['member'])!r} {exc}")
            continue
        if row.get("name"):
            try:
                row["name"] = display_name(row["name"])
            except BadText as exc:
                problems.append(f"line {line}: name {shown(row['name'])!r} {exc}")
        existing = members.get(code)
        if existing is None and not (row.get("name") and row.get("role")):
            problems.append(f"line {line}: new member {code} needs a name and a role")
        if row.get("role") and row["role"] not in ROLES:
            problems.append(f"line {line}: role {row['role']!r} is not one of {', '.join(ROLES)}")
        if row.get("team") and row["team"] not in teams:
            problems.append(f"line {line}: no team {row['team']!r} (teams: {', '.join(sorted(teams)) or 'none'})")
        if row.get("timezone") and not is_zone(row["timezone"]):
            problems.append(f"line {line}: unknown time zone {row['timezone']!r}")
        if row.get("locale") and not supported_locale(row["locale"]):
            problems.append(f"line {line}: locale must be {LOCALE_HINT}, got {row['locale']!r}")
        for field, value in row.items():
            if value and (column := identity_column(field)) is not None:
                platform = column[0]
                try:
                    check_identity(platform, value)
                except BadIdentity as exc:
                    problems.append(f"line {line}: {field}: {exc}")
                    continue
                if (platform, value) not in claimed:
                    held = identity_holder(session, org.id or 0, platform, value)
                    claimed[platform, value] = held.code if held is not None else code
                holder = claimed[platform, value]
                if holder != code:
                    problems.append(f"line {line}: {field} {value} already belongs to {holder}")
            if value and (platform := handle_column(field)) is not None:
                try:
                    checked_handle(platform, value)
                except BadHandle as exc:
                    problems.append(f"line {line}: {field}: {exc}")
                    continue
                key = (f"handle:{platform}", handle_key(value))
                if key not in claimed:
                    held = handle_holder(session, org.id or 0, platform, value)
                    claimed[key] = held if held is not None else code
                if claimed[key] != code:
                    problems.append(f"line {line}: {field} {value} already belongs to {claimed[key]}")
        plan.append((line, row))
    if problems:
        raise ImportProblem("; ".join(problems))
    created = updated = 0
    for _, row in plan:
        member = members.get(row["member"])
        before = member_state(member)
        if member is None:
            member = Member(org_id=org.id, code=row["member"], name=row["name"], role=row["role"],
                            timezone=row.get("timezone") or default_timezone,
                            locale=row.get("locale") or default_locale)
            members[member.code] = member
            created += 1
        else:
            updated += 1
        for field in ("name", "role", "timezone", "locale"):
            if row.get(field):
                setattr(member, field, row[field])
        if row.get("team"):
            member.team_id = teams[row["team"]].id
        session.add(member)
        session.flush()
        audit_member(session, member, before, path.name)
        for field, value in row.items():
            if value and (column := identity_column(field)) is not None:
                bind_identity(session, member, column[0], value, column[1])
            elif value and (platform := handle_column(field)) is not None:
                set_handle(session, member, platform, value)
    audit(session, None, "import.members", "import", path.name, {"rows": len(plan), "created": created,
                                                                 "updated": updated})
    return ImportResult(created, updated)


def _read(path: Path, encoding: str | None) -> list[tuple[int, dict[str, str]]]:
    try:
        header, rows = read_table(path, encoding)
    except TableProblem as exc:
        raise ImportProblem(str(exc)) from None
    unknown = [h for h in header if h and h not in COLUMNS and identity_column(h) is None
               and handle_column(h) is None]
    if "member" not in header or unknown:
        raise ImportProblem(f"{path}: the header must name the columns {', '.join(COLUMNS)} or PLATFORM_user_id "
                            "or PLATFORM_handle (member is required)"
                            + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    return rows


