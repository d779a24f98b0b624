"""kpibot credit (orders to hosts: run, --explain ORDER, --unmatched) and kpibot lives roster import."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from bot.cli.common import shop_named
from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from services.crediting import credit_shops, explain
from storage.audit import audit
from storage.crediting import unmatched_handles
from storage.models import Shop
from storage.roster_import import RosterProblem, import_roster
from storage.tabular import read_note


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.command == "lives":
        return _roster(services, args)
    if args.explain:
        found = explain(services.engine, args.explain, services.live_tail, services.max_shift)
        if not found:
            raise UsageError(f"no order {args.explain!r}")
        for e in found:
            print("\n".join(e.lines()))
        return 0
    shop_ids: list[int] | None = None
    if args.shop:
        with Session(services.engine) as session:
            shop_ids = [shop_named(session, args.shop).id or 0]
    if args.unmatched:    # read only: what the last crediting left, as the admins' notices say it
        with services.engine.connect() as conn:
            codes = dict(conn.execute(select(Shop.id, Shop.code)).all())  # type: ignore[call-overload]
            rows = unmatched_handles(conn, shop_ids)
        for u in rows:
            print(f"{codes[u.shop_id]:<12} {u.handle:<24} {_count(u.sessions, 'session')}, "
                  f"{_count(u.videos, 'video')}")
        print("link each to its member: kpibot members handle MEMBER HANDLE --platform P" if rows
              else "every session and video handle matches a member")
        return 0
    done = credit_shops(services.engine, shop_ids, tail=services.live_tail, max_shift=services.max_shift)
    c = done.counts
    print(f"host credit: {c.orders} paid orders, {c.platform} by the platform, {c.live_session} by live session, "
          f"{c.roster} by the roster, {c.nobody} nobody's ({c.changed} changed); {len(done.unmatched)} handles "
          "match no member")
    return 0


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _roster(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        try:
            shop_ids = import_roster(session, Path(args.file), args.encoding)
        except RosterProblem as exc:
            raise UsageError(f"nothing imported: {exc}") from None
        audit(session, None, "import.roster", "import", Path(args.file).name, {"shops": sorted(shop_ids)})
        session.commit()
    done = credit_shops(services.engine, shop_ids, tail=services.live_tail, max_shift=services.max_shift)
    print(f"roster {args.file}: imported; {done.hosts_changed} sessions got their host, "
          f"{done.counts.live_session} orders credited by live session, {done.counts.roster} by the roster"
          + read_note(Path(args.file), args.encoding))
    return 0
