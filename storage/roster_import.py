"""The team's shift roster (`kpibot lives roster import FILE`): who was on air for a shop's own account.

Columns (header row): shop, member, start, end. Times are ISO 8601 (2026-12-01T20:00 or with an offset); a time
without an offset is in the shop's time zone. All-or-nothing: a bad row changes nothing and names its line. A
member's stored shift of the shop that a row overlaps (imported before, or told in chat with /live start and
/live end) takes the row's start and end instead of a second shift for the same time.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from storage.models import LiveRoster, Member, Shop
from storage.tabular import TableProblem, joined_problems, read_table

COLUMNS = ("shop", "member", "start", "end")


class RosterProblem(ValueError):
    """What is wrong with the file, with line numbers."""


def import_roster(session: Session, path: Path, encoding: str | None = None) -> list[int]:
    """Store the file's shifts (flushed, not committed); the ids of the shops they are for."""
    try:
        header, rows = read_table(path, encoding)
    except TableProblem as exc:
        raise RosterProblem(str(exc)) from None
    if any(c not in header for c in COLUMNS):
        raise RosterProblem(f"{path.name}: the header must name the columns {', '.join(COLUMNS)}")
    shops = {s.code: s for s in session.execute(select(Shop)).scalars()}
    members = {(m.org_id, m.code): m for m in session.execute(select(Member)).scalars()}   # codes are per org
    problems: list[str] = []
    plan: list[tuple[Shop, Member, datetime, datetime]] = []
    for line, row in rows:
        shop = shops.get(row["shop"])
        member = members.get((shop.org_id, row["member"])) if shop else None
        if shop is None:   # nor a zone to read its times in: one problem for the line
            problems.append(f"line {line}: no shop {row['shop'][:40]!r}")
            continue
        if member is None:
            problems.append(f"line {line}: no member {row['member'][:40]!r} in shop {shop.code}'s organisation")
        try:
            zone = ZoneInfo(shop.timezone) if shop else None
            start, end = (_when(row[c], zone) for c in ("start", "end"))
        except ValueError:
            problems.append(f"line {line}: start and end must be times like 2026-12-01T20:00")
            continue
        if end <= start:
            problems.append(f"line {line}: the end must be after the start")
        elif shop is not None and member is not None:
            plan.append((shop, member, start, end))
    if problems:
        raise RosterProblem(joined_problems(problems))
    shop_ids = {shop.id for shop, _, _, _ in plan}
    stored: dict[tuple[int, int], list[LiveRoster]] = {}   # one read, not one per row
    for row in session.execute(select(LiveRoster).where(LiveRoster.shop_id.in_(shop_ids))  # type: ignore[union-attr]
                               .order_by(LiveRoster.id)).scalars():  # type: ignore[arg-type]
        stored.setdefault((row.shop_id, row.member_id), []).append(row)
    claimed: set[int] = set()   # id() of the rows this file's lines are: two lines of the file are two shifts
    for shop, member, start, end in plan:
        mine = stored.setdefault((shop.id or 0, member.id or 0), [])
        claimed.add(id(_store(session, [r for r in mine if id(r) not in claimed], shop, member, start, end, mine)))
    session.flush()
    return sorted({shop.id or 0 for shop, _, _, _ in plan})


def _store(session: Session, earlier: list[LiveRoster], shop: Shop, member: Member, start: datetime,
           end: datetime, mine: list[LiveRoster]) -> LiveRoster:
    """The file's shift of a member, in place of the member's stored shifts it overlaps (an earlier import, or
    their own /live start .. /live end in chat, open or not): one shift for one time, never two."""
    overlapping = [r for r in earlier if r.started_at < end and (r.ended_at is None or r.ended_at > start)]
    for extra in overlapping[1:]:
        session.delete(extra)
        mine.remove(extra)
    if overlapping[1:]:
        session.flush()   # before a kept row takes a start one of them had (uq_live_roster)
    row = overlapping[0] if overlapping else LiveRoster(shop_id=shop.id or 0, member_id=member.id or 0,
                                                        started_at=start, ended_at=end)
    row.started_at, row.ended_at = start, end
    if not overlapping:
        mine.append(row)
    session.add(row)
    return row


def _when(text: str, zone: ZoneInfo | None) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        if zone is None:
            raise ValueError(text)
        at = at.replace(tzinfo=zone)
    return at
