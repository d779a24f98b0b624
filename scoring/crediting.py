"""Which host (member) an order is credited to, and by which rule (pure).

Rules, in order; the first that applies decides, and the rule is stored with the order (Order.credit_rule):
1. platform: the platform's affiliate data credits the order to a creator handle that is a member's own
   (MemberHandle): the host sold it on their own creator account, in a LIVE or a video.
2. live_session: the order was paid while a session of the same shop with a known host was on air, or within
   `tail` after it ended (buyers finish checking out after the stream): start <= paid_at < end + tail. Where the
   roster says who was on air for a session without a host handle of its own, the order is the shift's member's
   by rule 3 instead (the session kept as evidence).
3. roster: a shift of the team's roster (the file, or a host's `/live start` .. `/live end` in chat) had the
   member on air for the shop's own account: start <= paid_at < end + tail, with or without a synced session.
   A roster file line and a chat shift are the same kind of data, so they credit alike.
4. nobody.
Sessions and shifts are ranked together, so the answer never depends on whether the shop's own session was synced
yet: someone on air at the payment (inside a session or a shift, not its tail) always beats a tail; among several
on air (or, when nobody is, several tails) the latest started wins; an exact tie goes to live_session before
roster, then a session's piece before a bare shift, then the lowest session id or member id.
A session's host is the member holding its platform handle, else the member whose code is the handle (how the
demo and early set-ups name hosts), else, for a session without a handle (the shop's own account, where the
platform does not know who was on air), the member the shift roster has on air at the session's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_TAIL = timedelta(minutes=30)
DEFAULT_MAX_SHIFT = timedelta(hours=8)   # a shift left open ends this long after its start ([attribution])


class CreditRule(StrEnum):
    PLATFORM = "platform"
    LIVE_SESSION = "live_session"
    ROSTER = "roster"


@dataclass(frozen=True, slots=True)
class OnAir:
    """A live session with a known host."""

    id: int
    host_member_id: int
    started_at: datetime
    ended_at: datetime
    by_roster: bool = False   # a piece of a session whose host the roster says (by_shift)


@dataclass(frozen=True, slots=True)
class Shift:
    """A roster entry: the member on air for the shop's own account from start to end."""

    member_id: int
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class Credit:
    member_id: int | None
    rule: CreditRule | None
    session_id: int | None = None


NOBODY = Credit(None, None)
_KIND = {CreditRule.PLATFORM: 0, CreditRule.LIVE_SESSION: 1, CreditRule.ROSTER: 2}   # exact ties: the first


def handle_key(handle: str) -> str:
    """A handle as compared: without @, case-folded (platforms and people write it both ways)."""
    return handle.strip().lstrip("@").casefold()


def credit(paid_at: datetime | None, platform_member_id: int | None, sessions: Iterable[OnAir],
           tail: timedelta = DEFAULT_TAIL, roster: Iterable[Shift] = ()) -> Credit:
    if platform_member_id is not None:
        return Credit(platform_member_id, CreditRule.PLATFORM)
    if paid_at is None:
        return NOBODY
    candidates: list[tuple[bool, float, int, int, int, Credit]] = []
    for s in sessions:
        if s.started_at <= paid_at < s.ended_at + tail:
            rule = CreditRule.ROSTER if s.by_roster else CreditRule.LIVE_SESSION
            candidates.append((paid_at >= s.ended_at, -s.started_at.timestamp(), _KIND[rule], 0, s.id,
                               Credit(s.host_member_id, rule, s.id)))
    for r in roster:
        if r.started_at <= paid_at < r.ended_at + tail:
            candidates.append((paid_at >= r.ended_at, -r.started_at.timestamp(), _KIND[CreditRule.ROSTER], 1,
                               r.member_id, Credit(r.member_id, CreditRule.ROSTER)))
    if not candidates:
        return NOBODY
    return min(candidates, key=lambda c: c[:5])[5]


def shifts_of(rows: Iterable[tuple[int, datetime, datetime | None]],
              max_shift: timedelta = DEFAULT_MAX_SHIFT) -> list[Shift]:
    """A shop's roster from (member, start, end or None while open): a shift still open (a `/live start` without
    `/live end`) ends at the next later shift start on the shop, by anyone (the next host took over: their going
    on air is the first sign of it), and at most `max_shift` after its start, so a forgotten end neither takes
    the next host's orders nor credits a whole day."""
    rows = list(rows)
    starts = sorted({start for _, start, _ in rows})
    out: list[Shift] = []
    for member, start, end in rows:
        if end is None:
            end = min((s for s in starts if s > start), default=start + max_shift)
            end = min(end, start + max_shift)
        out.append(Shift(member, start, end))
    return out


def host_of(handle: str | None, started_at: datetime, handles: Mapping[str, int], codes: Mapping[str, int],
            roster: Iterable[Shift]) -> int | None:
    """The member a session (or video, without a roster) belongs to; None: nobody known. A handle no member holds
    (often the shop's own account) says nothing of who was on air: the roster does."""
    if handle:
        key = handle_key(handle)
        found = handles.get(key, codes.get(key))
        if found is not None:
            return found
    on_air = [s for s in roster if s.started_at <= started_at < s.ended_at]
    return min(on_air, key=lambda s: (-s.started_at.timestamp(), s.member_id)).member_id if on_air else None


def by_shift(session: OnAir, roster: Iterable[Shift]) -> list[OnAir]:
    """A session whose host the roster says, in the pieces each shift had on air: hosts take turns on the shop's
    own account, so an order belongs to whoever was on air when it was paid, not to who opened the session. Time
    no shift covers stays the session's own host's (so a roster that covers only part of a session loses nothing)."""
    pieces: list[OnAir] = []
    at = session.started_at
    for start, end, member in sorted((max(s.started_at, session.started_at), min(s.ended_at, session.ended_at),
                                      s.member_id) for s in roster
                                     if s.started_at < session.ended_at and s.ended_at > session.started_at):
        if start > at:
            pieces.append(OnAir(session.id, session.host_member_id, at, start))
        pieces.append(OnAir(session.id, member, start, end, by_roster=True))
        at = max(at, end)
    if at < session.ended_at:
        pieces.append(OnAir(session.id, session.host_member_id, at, session.ended_at))
    return pieces
