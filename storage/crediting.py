"""The store's side of crediting orders to hosts (rules: scoring.crediting; the use case: services.crediting).

- `set_handle`: a member's account on a shop platform (MemberHandle), kept as compared (scoring.crediting.handle_key).
- `match_hosts`: sets each live session's host and each video's author of a shop from their handles (the
  member's handle, then the member code, then, for sessions without a handle, the roster); returns the handles
  that match nobody (`unmatched_handles`).
- `unmatched_handles`: the one test of "a handle matching no member", shared by host crediting (its log and
  `kpibot credit --unmatched`) and the admins' notice (services.handle_notices), so they always agree.
- `credit_batch`: credits a batch of a shop's paid orders (member_id, live_session_id, credit_rule). Orders
  credited by something else (a member but no rule: the demo seeds them so) or by an approved appeal (rule
  "appeal", storage.adjustments) are left alone.
Each runs inside the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from scoring.crediting import DEFAULT_MAX_SHIFT, OnAir, Shift, by_shift, credit, handle_key, host_of, shifts_of
from scoring.text import HANDLE_MAX
from storage.adjustments import APPEAL_RULE, APPEAL_SESSION_PREFIX
from storage.audit import audit
from storage.identity import MAX_PLATFORM, PLATFORM_NAME
from storage.ingest.records import FILE_PLATFORMS
from storage.models import AffiliateLine, ContentPost, LiveRoster, LiveSession, Member, MemberHandle, Order, Shop
from storage.types import table_of

BATCH = 2000


ORDER, LIVE, POST, AFFILIATE = table_of(Order), table_of(LiveSession), table_of(ContentPost), table_of(AffiliateLine)
HANDLE, ROSTER, MEMBER, SHOP = table_of(MemberHandle), table_of(LiveRoster), table_of(Member), table_of(Shop)

SET_CREDIT = (update(ORDER).where(ORDER.c.id == bindparam("order"))
              .values(member_id=bindparam("member"), live_session_id=bindparam("session"),
                      credit_rule=bindparam("rule")))




class HandleTaken(ValueError):
    """The handle is another member's on that platform."""


def handle_platform(shop_platform: str) -> str:
    """The platform a shop's handles live on: tiktok_shop -> tiktok."""
    return shop_platform.removesuffix("_shop")


def set_handle(session: Session, member: Member, platform: str, handle: str) -> bool:
    """Give `member` the handle on `platform`; False when they had it already."""
    key, platform = handle_key(handle), handle_platform(platform.strip().lower())
    if not key or not platform:
        raise ValueError("a handle and a platform are needed")
    if not PLATFORM_NAME.fullmatch(platform) or len(platform) > MAX_PLATFORM:
        raise ValueError(f"a platform is named in lower-case letters, digits and _ (at most {MAX_PLATFORM}), "
                         f"e.g. tiktok; got {platform[:40]!r}")
    if len(key) > HANDLE_MAX:   # the column's size: PostgreSQL would refuse it with a driver error, SQLite keep it
        raise ValueError(f"a handle has at most {HANDLE_MAX} characters; got {len(key)}")
    held = session.execute(select(MemberHandle).where(
        MemberHandle.org_id == member.org_id, MemberHandle.platform == platform,  # type: ignore[arg-type]
        MemberHandle.handle == key)).scalar_one_or_none()  # type: ignore[arg-type]
    if held is not None:
        if held.member_id != member.id:
            owner = session.get(Member, held.member_id)
            raise HandleTaken(f"{platform} handle {key} already belongs to {owner.code if owner else held.member_id}")
        return False
    session.add(MemberHandle(org_id=member.org_id, member_id=member.id or 0, platform=platform, handle=key))
    session.flush()
    audit(session, None, "handle.add", "member", member.code, {"platform": platform, "handle": key})
    return True


def handle_holder(session: Session, org_id: int, platform: str, handle: str) -> str | None:
    """The code of the member holding the handle, or None."""
    return session.execute(select(Member.code).join(MemberHandle, MemberHandle.member_id == Member.id)  # type: ignore[arg-type]
                           .where(MemberHandle.org_id == org_id,  # type: ignore[arg-type]
                                  MemberHandle.platform == handle_platform(platform),  # type: ignore[arg-type]
                                  MemberHandle.handle == handle_key(handle))).scalar_one_or_none()  # type: ignore[arg-type]


def handles_of(session: Session, member_id: int | None) -> list[tuple[str, str]]:
    """(platform, handle) of a member, sorted."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(MemberHandle.platform, MemberHandle.handle).where(MemberHandle.member_id == member_id)  # type: ignore[arg-type]
        .order_by(MemberHandle.platform, MemberHandle.handle))]




def handle_map(conn: Connection, org_id: int, platform: str) -> dict[str, int]:
    """handle -> member on the shop's platform; for an export-fed shop, on any platform, leaving out a handle that
    names different members on two platforms (it cannot say who was on air)."""
    query = select(HANDLE.c.handle, HANDLE.c.member_id).where(HANDLE.c.org_id == org_id)  # type: ignore[arg-type]
    if platform not in FILE_PLATFORMS:   # an export-fed shop: a TikTok export names TikTok handles
        query = query.where(HANDLE.c.platform == handle_platform(platform))  # type: ignore[arg-type]
    found: dict[str, int] = {}
    clashing: set[str] = set()
    for handle, member_id in conn.execute(query):
        if found.setdefault(handle, member_id) != member_id:
            clashing.add(handle)
    return {h: m for h, m in found.items() if h not in clashing}


def code_map(conn: Connection, org_id: int) -> dict[str, int]:
    return {handle_key(code): mid for mid, code in conn.execute(
        select(MEMBER.c.id, MEMBER.c.code).where(MEMBER.c.org_id == org_id).order_by(MEMBER.c.id.desc()))}


def roster_shifts(conn: Connection, shop_id: int, max_shift: timedelta = DEFAULT_MAX_SHIFT) -> list[Shift]:
    """The shop's roster; a shift still open ends at the next shift's start or `max_shift` after its own
    (scoring.crediting.shifts_of)."""
    return shifts_of(tuple(r) for r in conn.execute(  # type: ignore[misc]
        select(ROSTER.c.member_id, ROSTER.c.started_at, ROSTER.c.ended_at).where(ROSTER.c.shop_id == shop_id)
        .order_by(ROSTER.c.started_at, ROSTER.c.id)))


def match_hosts(conn: Connection, shop_id: int, org_id: int, platform: str,
                max_shift: timedelta = DEFAULT_MAX_SHIFT) -> tuple[int, dict[str, int]]:
    """Set the shop's sessions' hosts and videos' authors; (rows changed, unmatched handle -> rows)."""
    handles, codes = handle_map(conn, org_id, platform), code_map(conn, org_id)
    roster = roster_shifts(conn, shop_id, max_shift)
    changed = 0
    for table, member_col, handle_col, at_col in ((LIVE, "host_member_id", "host_handle", "started_at"),
                                                  (POST, "member_id", "author_handle", "published_at")):
        shifts = roster if table is LIVE else []
        todo = []
        for rid, member, handle, at in conn.execute(
                select(table.c.id, table.c[member_col], table.c[handle_col], table.c[at_col])
                .where(*_not_from_appeal(table), table.c.shop_id == shop_id).order_by(table.c.id)):
            found = host_of(handle, at, handles, codes, shifts)
            if found is None and not handle:
                continue   # nobody on the roster: keep what the row has (set by hand, or the demo)
            if found != member:
                todo.append({"row": rid, "member": found})
        if todo:
            conn.execute(update(table).where(table.c.id == bindparam("row"))
                         .values({member_col: bindparam("member")}), todo)
            changed += len(todo)
    return changed, {u.handle: u.sessions + u.videos for u in unmatched_handles(conn, [shop_id])}


def _not_from_appeal(table: Table) -> list[ColumnElement[bool]]:
    """A session an approved appeal added keeps its host (storage.adjustments)."""
    if table is not LIVE:
        return []
    return [LIVE.c.platform_session_id.not_like(APPEAL_SESSION_PREFIX + "%")]


@dataclass(slots=True)
class UnmatchedRows:
    shop_id: int
    handle: str          # as compared (scoring.crediting.handle_key)
    sessions: int = 0
    videos: int = 0


def unmatched_handles(conn: Connection, shop_ids: Sequence[int] | None = None) -> list[UnmatchedRows]:
    """The shops' (None: every shop's) sessions and videos without a member whose handle matches no member now
    (no member holds it on the shop's platform or has it as code), by shop id and handle. Reads only rows without
    a member (an index): a row the roster gave a host is not listed."""
    shop_query = select(SHOP.c.id, SHOP.c.org_id, SHOP.c.platform)
    if shop_ids is not None:
        shop_query = shop_query.where(SHOP.c.id.in_(list(shop_ids)))
    shops = {sid: (org, platform) for sid, org, platform in conn.execute(shop_query)}
    maps: dict[tuple[int, str], tuple[dict[str, int], dict[str, int]]] = {}
    found: dict[tuple[int, str], UnmatchedRows] = {}
    for table, member_col, handle_col in ((LIVE, "host_member_id", "host_handle"),
                                          (POST, "member_id", "author_handle")):
        query = (select(table.c.shop_id, table.c[handle_col], func.count())
                 .where(table.c[member_col].is_(None), table.c[handle_col].is_not(None))
                 .group_by(table.c.shop_id, table.c[handle_col]))
        if shop_ids is not None:
            query = query.where(table.c.shop_id.in_(list(shop_ids)))
        for shop_id, raw, count in conn.execute(query):
            key = handle_key(raw)
            if not key or shop_id not in shops:
                continue
            org_id, platform = shops[shop_id]
            if (org_id, platform) not in maps:
                maps[org_id, platform] = handle_map(conn, org_id, platform), code_map(conn, org_id)
            handles, codes = maps[org_id, platform]
            if key in handles or key in codes:
                continue   # matched since the rows were credited: the next crediting gives them their member
            entry = found.setdefault((shop_id, key), UnmatchedRows(shop_id, key))
            if table is LIVE:
                entry.sessions += count
            else:
                entry.videos += count
    return [found[k] for k in sorted(found)]


@dataclass(slots=True)
class CreditCounts:
    orders: int = 0
    platform: int = 0
    live_session: int = 0
    nobody: int = 0
    roster: int = 0
    changed: int = 0


def credit_batch(conn: Connection, shop_id: int, org_id: int, platform: str, tail: timedelta,
                 since: datetime | None, after: int, counts: CreditCounts,
                 max_shift: timedelta = DEFAULT_MAX_SHIFT) -> int:
    """Credit up to BATCH paid orders of the shop with ids above `after` (paid since `since`); the last id, or
    -1 when there were none left."""
    query = (select(ORDER.c.id, ORDER.c.platform_order_id, ORDER.c.paid_at, ORDER.c.member_id,
                    ORDER.c.live_session_id, ORDER.c.credit_rule)
             .where(ORDER.c.shop_id == shop_id, ORDER.c.id > after, ORDER.c.paid_at.is_not(None),
                    or_(and_(ORDER.c.credit_rule.is_not(None), ORDER.c.credit_rule != APPEAL_RULE),
                        ORDER.c.member_id.is_(None)))   # an appeal's credit stays (storage.adjustments)
             .order_by(ORDER.c.id).limit(BATCH))
    if since is not None:
        query = query.where(ORDER.c.paid_at >= since)
    orders = conn.execute(query).all()
    if not orders:
        return -1
    first, last = min(o.paid_at for o in orders), max(o.paid_at for o in orders)
    handles, codes = handle_map(conn, org_id, platform), code_map(conn, org_id)
    roster = roster_shifts(conn, shop_id, max_shift)
    sessions: list[OnAir] = []
    for sid, host, start, end, handle in conn.execute(
            select(LIVE.c.id, LIVE.c.host_member_id, LIVE.c.started_at, LIVE.c.ended_at, LIVE.c.host_handle)
            .where(LIVE.c.shop_id == shop_id, LIVE.c.host_member_id.is_not(None), LIVE.c.started_at <= last,
                   LIVE.c.ended_at >= first - tail)):
        session = OnAir(sid, host, start, end)
        key = handle_key(handle) if handle else None
        known = key is not None and (key in handles or key in codes)   # the platform says who: not the roster
        sessions.extend([session] if known else by_shift(session, roster))
    own = platform_credits(conn, shop_id, org_id, platform, [o.platform_order_id for o in orders])
    changes = []
    for o in orders:
        found = credit(o.paid_at, own.get(o.platform_order_id), sessions, tail, roster)
        counts.orders += 1
        if found.rule is None:
            counts.nobody += 1
        elif found.rule == "platform":
            counts.platform += 1
        elif found.rule == "roster":
            counts.roster += 1
        else:
            counts.live_session += 1
        rule = None if found.rule is None else str(found.rule)
        if (found.member_id, found.session_id, rule) != (o.member_id, o.live_session_id, o.credit_rule):
            counts.changed += 1
            changes.append({"order": o.id, "member": found.member_id, "session": found.session_id, "rule": rule})
    if changes:
        conn.execute(SET_CREDIT, changes)
    return int(orders[-1].id)


def platform_credits(conn: Connection, shop_id: int, org_id: int, platform: str,
                     order_ids: list[str]) -> dict[str, int]:
    """platform order id -> the member whose own creator handle the platform's affiliate data credits (the
    largest affiliated amount of such members; ties: the lowest member id)."""
    handles = handle_map(conn, org_id, platform)
    if not handles:
        return {}
    amounts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for oid, handle, amount in conn.execute(
            select(AFFILIATE.c.platform_order_id, AFFILIATE.c.creator_handle, AFFILIATE.c.amount_minor)
            .where(AFFILIATE.c.shop_id == shop_id, AFFILIATE.c.platform_order_id.in_(order_ids))):
        member = handles.get(handle_key(handle))
        if member is not None:
            amounts[oid][member] += amount
    return {oid: min(by, key=lambda m: (-by[m], m)) for oid, by in amounts.items()}
