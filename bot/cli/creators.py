"""kpibot attribute and kpibot creators: credit orders to creators, and mark a shop's own buyer accounts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from bot.cli.common import print_attribution, shop_named
from bot.config import Config
from bot.shop_sources import (
    SHOP_PLATFORMS,
)
from bot.usage import UsageError
from services.container import Services
from storage.creators import add_own_buyer, creator_names, find_creator
from storage.models import Shop


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.command == "creators":
        return _own_buyer(services, args)
    return _attribute(services, args)


def _attribute(services: Services, args: argparse.Namespace) -> int:
    shop_ids: list[int] | None = None
    if args.shop:
        with Session(services.engine) as session:
            shop_ids = [shop_named(session, args.shop).id or 0]
    print_attribution(services, shop_ids, everything=args.all)
    return 0


def _own_buyer(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        creator = find_creator(session, args.creator)
        if creator is None:
            names = ", ".join(creator_names(session)) or "none yet"
            raise UsageError(f"no creator {args.creator!r}; creators: {names}")
        platform = args.platform or creator.platform
        if platform not in SHOP_PLATFORMS:
            raise UsageError(f"unknown platform {platform!r}; one of {', '.join(SHOP_PLATFORMS)}")
        added = add_own_buyer(session, creator, platform, args.buyer_id, services.buyer_key)
        session.commit()
        shop_ids = [s.id or 0 for s in session.execute(select(Shop).where(Shop.org_id == creator.org_id)).scalars()]
    print(f"{creator.handle}: {'own buyer id recorded' if added else 'own buyer id already known'} ({platform})")
    if added:   # earlier orders may be theirs
        print_attribution(services, shop_ids, everything=True)
    return 0
