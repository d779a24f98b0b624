"""What `kpibot members handle` and members import check of a member's shop-platform handle, and its removal
(adding is storage.crediting.set_handle). Sessions, videos and orders follow a handle change the next time
orders are credited (services.crediting.credit_shops: after every sync or import, or `kpibot credit`)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session

from scoring.crediting import handle_key
from scoring.text import HANDLE_MAX, BadText, exact_text, shown
from storage.audit import audit
from storage.crediting import handle_platform
from storage.ingest.records import HANDLE_PLATFORMS
from storage.models import Member, MemberHandle


class BadHandle(ValueError):
    """A handle or platform that cannot be kept, in one line."""


def checked_handle(platform: str, handle: str) -> tuple[str, str]:
    """(platform, handle) as typed, checked: the platform one of HANDLE_PLATFORMS (tiktok_shop is tiktok), the
    handle without control characters (refused, not cleaned: it must be the platform's exactly)."""
    name = handle_platform(platform.strip().lower())
    if name not in HANDLE_PLATFORMS:
        raise BadHandle(f"unknown platform {shown(platform)!r}; handles are kept for {', '.join(HANDLE_PLATFORMS)}")
    try:
        return name, exact_text(handle, HANDLE_MAX)
    except BadText as exc:
        raise BadHandle(f"the handle {shown(handle)!r} {exc}") from None


def remove_handle(session: Session, member: Member, platform: str, handle: str) -> bool:
    """Take the handle on `platform` from `member` (flushed, not committed); False when they did not have it."""
    name, value = checked_handle(platform, handle)
    gone = session.execute(delete(MemberHandle).where(
        MemberHandle.member_id == member.id, MemberHandle.platform == name,  # type: ignore[arg-type]
        MemberHandle.handle == handle_key(value)))  # type: ignore[arg-type]
    session.flush()
    if gone.rowcount:  # type: ignore[attr-defined]
        audit(session, None, "handle.remove", "member", member.code, {"platform": name, "handle": handle_key(value)})
    return bool(gone.rowcount)  # type: ignore[attr-defined]
