"""The audit log: who changed what, one row per change, written in the change's own transaction. Rows are never
changed or deleted (storage.audit_guard's triggers refuse it) and kept forever.

Who acted (`actor`), one rule everywhere:
- a chat command or card click: the member's code (an unbound chat user: "<platform>:<user id>");
- the command line: "cli:" + the first of $KPIBOT_ACTOR (deploy/kpibot-admin sets it to the sudo caller, as
  systemd-run passes on no environment), $SUDO_USER (sudo kpibot ...), the OS login name (cli_actor);
- a scheduled job: "job:<name>" (job_actor);
- "system" only when nothing acted for a person (a migration, a test writing directly).
The entry points (bot.dispatch, bot.cli.router, bot.scheduler, bot.jobs.refresh) set it with acting_as for everything
beneath them, so a writer deep in storage audits with `actor=None` and still names the person; an explicit actor wins.

When (`at`), one clock: acting_as also takes the entry point's clock (KPIBOT_NOW pins it, bot.app.clock_from_env),
and a row written without `at` is stamped by it, so rows from the command line, chat and jobs sort on one timeline;
outside any entry point, the real time."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage.models import AuditLog, Member, utcnow

AUDIT = cast(Table, AuditLog.__table__)  # type: ignore[attr-defined]
SYSTEM = "system"

_ACTOR: ContextVar[str | None] = ContextVar("kpibot_audit_actor", default=None)
_CLOCK: ContextVar[Callable[[], datetime] | None] = ContextVar("kpibot_audit_clock", default=None)


def cli_actor(env: Mapping[str, str] | None = None) -> str:
    """The person at the command line: "cli:" + $KPIBOT_ACTOR, else $SUDO_USER, else the OS login name."""
    env = os.environ if env is None else env
    who = (env.get("KPIBOT_ACTOR") or "").strip() or (env.get("SUDO_USER") or "").strip()
    if not who:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):   # a uid with no passwd entry (some containers)
            who = f"uid{os.getuid()}"
    return f"cli:{who}"[:128]


def job_actor(name: str) -> str:
    return f"job:{name}"


@contextmanager
def acting_as(actor: str, clock: Callable[[], datetime] | None = None) -> Iterator[None]:
    """Audit rows written inside (in this thread or task) name `actor` unless their writer names one, and are
    stamped by `clock` unless their writer gives `at` (no clock: the enclosing entry point's, else the real time)."""
    token = _ACTOR.set(actor)
    clock_token = _CLOCK.set(clock) if clock is not None else None
    try:
        yield
    finally:
        if clock_token is not None:
            _CLOCK.reset(clock_token)
        _ACTOR.reset(token)


def current_actor() -> str:
    return _ACTOR.get() or SYSTEM


def audit_now() -> datetime:
    """The time an audit row is stamped with: the entry point's clock (acting_as), else the real time."""
    clock = _CLOCK.get()
    return clock() if clock is not None else utcnow()


def audit(db: Session | Connection, actor: str | None, action: str, entity: str, entity_id: str | None,
          details: dict[str, Any], at: datetime | None = None) -> None:
    """Record one change in `db`'s transaction; `actor` None: whoever the entry point said is acting."""
    db.execute(AUDIT.insert().values(at=at or audit_now(), actor=(actor or current_actor())[:128], action=action,
                                     entity=entity, entity_id=entity_id, details=details))


# what of a member decides their score or pay (their template by role, their team's targets, trial, finance access)
MEMBER_FIELDS = ("role", "team_id", "trial_until", "finance", "active")


def member_state(member: Member | None) -> dict[str, Any] | None:
    """The member's audited fields as JSON values; None for a member not stored yet."""
    if member is None:
        return None
    return {f: (v.isoformat() if hasattr(v, "isoformat") else v)
            for f, v in ((f, getattr(member, f)) for f in MEMBER_FIELDS)}


def audit_member(db: Session, member: Member, before: dict[str, Any] | None, source: str | None = None) -> None:
    """One member.create / member.change row with the fields that changed (before and after), none when nothing
    did; `source` names an imported file."""
    after = member_state(member) or {}
    changed = [f for f in MEMBER_FIELDS if before is None or before.get(f) != after.get(f)]
    if before is not None and not changed:
        return
    details: dict[str, Any] = {"before": None if before is None else {f: before.get(f) for f in changed},
                               "after": {f: after[f] for f in changed}}
    if source:
        details["file"] = source
    audit(db, None, "member.create" if before is None else "member.change", "member", member.code, details)
