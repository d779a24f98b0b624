"""Import members from a CSV or XLSX file (`kpibot members import FILE`), with their Feishu and DingTalk ids.

Columns (header row, any order): member, name, role, team, timezone, locale, feishu_open_id,
feishu_union_id, dingtalk_staff_id. `member` is required; a new member also needs name and role. An
existing member (same id) is updated with the non-empty cells. Every row is checked before anything is
written, and the import is all-or-nothing: a file with a bad row changes nothing and names the line.

The id columns are bindings (storage.identity): IDENTITIES says which platform and kind of id each one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlmodel import Session

from scoring.roles import Role
from storage.identity import ALIAS, PRIMARY, bind_identity, identity_holder
from storage.models import Member, Team
from storage.queries import organisation
from storage.tabular import TableProblem, read_table

COLUMNS = ("member", "name", "role", "team", "timezone", "locale", "feishu_open_id", "feishu_union_id",
           "dingtalk_staff_id")
ROLES = tuple(r.value for r in Role)
IDENTITIES = {"feishu_open_id": ("feishu", PRIMARY), "feishu_union_id": ("feishu", ALIAS),
              "dingtalk_staff_id": ("dingtalk", PRIMARY)}


class ImportProblem(ValueError):
    """What is wrong with the file, with line numbers."""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def import_members(session: Session, path: Path, default_timezone: str, default_locale: str,
                   org_name: str) -> ImportResult:
    rows = _read(path)
    org = organisation(session, org_name)
    teams = {t.code: t for t in session.execute(select(Team).where(Team.org_id == org.id)).scalars()}
    members = {m.code: m for m in session.execute(select(Member).where(Member.org_id == org.id)).scalars()}
    problems: list[str] = []
    claimed: dict[tuple[str, str], str] = {}   # (platform, id) -> the member code holding it, file or store
    plan: list[tuple[int, dict[str, str]]] = []
    for line, row in rows:
        code = row.get("member", "")
        if not code:
            problems.append(f"line {line}: member id is empty")
            continue
        existing = members.get(code)
        if existing is None and not (row.get("name") and row.get("role")):
            problems.append(f"line {line}: new member {code} needs a name and a role")
        if row.get("role") and row["role"] not in ROLES:
            problems.append(f"line {line}: role {row['role']!r} is not one of {', '.join(ROLES)}")
        if row.get("team") and row["team"] not in teams:
            problems.append(f"line {line}: no team {row['team']!r} (teams: {', '.join(sorted(teams)) or 'none'})")
        if row.get("timezone") and not _zone_ok(row["timezone"]):
            problems.append(f"line {line}: unknown time zone {row['timezone']!r}")
        if row.get("locale") and row["locale"].split("-")[0] not in ("en", "zh"):
            problems.append(f"line {line}: locale must be en or zh-CN, got {row['locale']!r}")
        for field, (platform, _kind) in IDENTITIES.items():
            value = row.get(field)
            if value:
                if (platform, value) not in claimed:
                    held = identity_holder(session, org.id or 0, platform, value)
                    claimed[platform, value] = held.code if held is not None else code
                holder = claimed[platform, value]
                if holder != code:
                    problems.append(f"line {line}: {field} {value} already belongs to {holder}")
        plan.append((line, row))
    if problems:
        raise ImportProblem("; ".join(problems))
    created = updated = 0
    for _, row in plan:
        member = members.get(row["member"])
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
        for field, (platform, kind) in IDENTITIES.items():
            if row.get(field):
                bind_identity(session, member, platform, row[field], kind)
    return ImportResult(created, updated)


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        header, rows = read_table(path)
    except TableProblem as exc:
        raise ImportProblem(str(exc)) from None
    unknown = [h for h in header if h and h not in COLUMNS]
    if "member" not in header or unknown:
        raise ImportProblem(f"{path}: the header must name the columns {', '.join(COLUMNS)} (member is required)"
                            + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    return rows


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
