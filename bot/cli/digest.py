"""kpibot digest: the group chats' daily digest subscriptions."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.config import Config
from bot.usage import UsageError
from scoring.sendtime import parse_hhmm
from services.container import Services
from storage.models import (
    DigestSubscription,
    Team,
)
from storage.queries import find_team, teams


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    return _digest(services, args)


def _digest(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        if args.action == "subscribe":
            team = find_team(session, args.team)
            if team is None:
                raise UsageError(f"no team {args.team!r}; teams: {', '.join(x.code for x in teams(session))}")
            try:
                parse_hhmm(args.time)
                ZoneInfo(args.tz or team.timezone)
            except (ValueError, ZoneInfoNotFoundError, OSError) as exc:
                raise UsageError(f"--time must be HH:MM and --tz an IANA zone ({exc})") from None
            already = f"{args.platform} chat {args.chat} already gets the digest of {team.code}"
            settings = {"send_time": args.time, "timezone": args.tz or team.timezone,
                        "locale": args.lang or team.locale, "finance": args.finance, "weekly": not args.no_weekly}
            # one row a (team, platform, chat): a chat unsubscribed before is subscribed again with these settings
            sub = session.execute(select(DigestSubscription).where(
                DigestSubscription.team_id == team.id, DigestSubscription.platform == args.platform,
                DigestSubscription.chat_id == args.chat)).scalar_one_or_none()
            if sub is not None and sub.active:
                raise UsageError(already)
            if sub is None:
                sub = DigestSubscription(team_id=team.id or 0, platform=args.platform, chat_id=args.chat, **settings)
                session.add(sub)
            else:
                for name, value in {**settings, "active": True}.items():
                    setattr(sub, name, value)
            try:
                session.commit()
            except IntegrityError:   # subscribed by another process at the same moment
                raise UsageError(already) from None
            print(f"subscription {sub.id}: {team.code} -> {args.platform} {args.chat} at {sub.send_time} "
                  f"{sub.timezone} ({sub.locale}{', finance' if sub.finance else ''}"
                  f"{', weekly on Mondays' if sub.weekly else ''})")
            return 0
        if args.action == "unsubscribe":
            found = session.get(DigestSubscription, args.id)
            if found is None or not found.active:
                raise UsageError(f"no active subscription {args.id}")
            found.active = False
            session.commit()
            print(f"subscription {args.id} stopped")
            return 0
        rows = session.execute(select(DigestSubscription, Team).join(Team)
                               .where(DigestSubscription.active)).all()  # type: ignore[arg-type]
        for sub, team in rows:
            print(f"{sub.id:<4} {team.code:<10} {sub.platform:<9} {sub.chat_id:<24} {sub.send_time} {sub.timezone} "
                  f"{sub.locale}{' finance' if sub.finance else ''}{' weekly' if sub.weekly else ''}")
        if not rows:
            print("no subscriptions")
        return 0
