"""kpibot members: list, bind platform ids, import from a file, trials, finance access."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session

from bot.cli.common import member_named
from bot.config import Config
from bot.usage import UsageError
from scoring.text import shown
from services.container import Services
from storage.audit import audit_member, member_state
from storage.crediting import HandleTaken, handles_of, set_handle
from storage.handles import checked_handle, remove_handle
from storage.identity import BadIdentity, IdentityTaken, bind_identity, identities
from storage.member_import import ImportProblem, import_members
from storage.models import (
    Member,
)
from storage.queries import active_members
from storage.tabular import read_note


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _members(services, args, config)


def _members(services: Services, args: argparse.Namespace, config: Config) -> int:
    with Session(services.engine) as session:
        if args.action == "import":
            try:
                result = import_members(session, Path(args.file), services.org_timezone, services.org_locale,
                                        config.org.name, args.encoding)
            except ImportProblem as exc:
                raise UsageError(f"nothing imported: {exc}") from None
            session.commit()
            print(f"imported {args.file}: {result.created} new, {result.updated} updated"
                  + read_note(Path(args.file), args.encoding))
            return 0
        if args.action == "trial":
            found = member_named(session, args.member)
            before = member_state(found)
            try:
                found.trial_until = None if args.off else date.fromisoformat(args.until)
            except ValueError:
                raise UsageError(f"--until must be YYYY-MM-DD, got {args.until!r}") from None
            session.add(found)
            audit_member(session, found, before)
            session.commit()
            print(f"{found.code}: " + (f"in trial until {found.trial_until}" if found.trial_until else "no trial"))
            return 0
        if args.action == "finance":
            found = member_named(session, args.member)
            before = member_state(found)
            found.finance = args.allowed == "on"
            session.add(found)
            audit_member(session, found, before)
            session.commit()
            print(f"{found.code}: sees " + ("others' commission" if found.finance else "only their own commission"))
            return 0
        if args.action == "handle":
            found = member_named(session, args.member)
            try:
                platform, handle = checked_handle(args.platform, args.handle)
                if args.remove:
                    if not remove_handle(session, found, platform, handle):   # a typo: not done, so exit 2
                        raise UsageError(f"{found.code} has no {platform} handle {shown(handle)!r}; handles: "
                                         f"{_handles(session, found)}")
                    done = "handle removed"
                else:
                    done = "handle added" if set_handle(session, found, platform, handle) else "handle already set"
            except (HandleTaken, ValueError) as exc:
                raise UsageError(str(exc)) from None
            session.commit()
            print(f"{found.code}: {done}; handles: {_handles(session, found)}")
            return 0
        if args.action == "list":
            for m in active_members(session):
                print(f"{m.code:<12} {m.role:<9} {m.name:<24} {_bindings(session, m)}")
            return 0
        member = member_named(session, args.member)
        wanted = [("feishu", args.feishu), ("dingtalk", args.dingtalk)] + [_platform_id(text) for text in args.ids]
        if not any(user_id for _, user_id in wanted):
            raise UsageError("give --id PLATFORM:ID (or --feishu OPEN_ID, --dingtalk STAFF_ID)")
        for platform, user_id in wanted:
            if user_id:
                try:
                    bind_identity(session, member, platform, user_id)
                except (IdentityTaken, BadIdentity) as exc:
                    raise UsageError(str(exc)) from None
        session.commit()
        print(f"bound {member.code}: {_bindings(session, member)}")
    return 0


def _platform_id(text: str) -> tuple[str, str]:
    """("wecom", "zhangsan") of "wecom:zhangsan"."""
    platform, sep, user_id = text.partition(":")
    if not sep or not platform.strip() or not user_id.strip():
        raise UsageError(f"--id wants PLATFORM:ID, e.g. wecom:zhangsan; got {text[:40]!r}")
    return platform.strip().lower(), user_id.strip()


def _bindings(session: Session, member: Member) -> str:
    """Feishu and DingTalk always (the platforms kpibot ships adapters for), then any other the member is on."""
    ids = identities(session, member.id)
    platforms = ["feishu", "dingtalk", *(p for p in ids if p not in ("feishu", "dingtalk"))]
    return " ".join(f"{p}={ids.get(p) or '-'}" for p in platforms)


def _handles(session: Session, member: Member) -> str:
    return " ".join(f"{p}={h}" for p, h in handles_of(session, member.id)) or "-"
