"""What the benchmarks share: the store they write into (empty, migrated, with one TikTok shop) and this
process's resident memory."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import Order, Organisation, Shop


def empty_store(url: str | None, reset: bool, pragmas: list[str]) -> Engine:
    engine = make_engine(url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    if pragmas:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            for pragma in pragmas:
                dbapi_conn.execute(f"PRAGMA {pragma}")
    if reset:
        if engine.dialect.name != "postgresql":
            raise SystemExit("--reset is for a PostgreSQL store")
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    with Session(engine) as session:
        if session.execute(select(func.count()).select_from(Order)).scalar_one():
            raise SystemExit("the store is not empty (PostgreSQL: pass --reset to empty it)")
    return engine


def bench_shop(engine: Engine) -> int:
    with Session(engine) as session:
        org = Organisation(code="bench", name="Bench")
        session.add(org)
        session.flush()
        shop = Shop(org_id=org.id, code="bench-tts", name="Bench TikTok US", platform="tiktok_shop", region="US",
                    currency="USD", timezone="America/Los_Angeles")
        session.add(shop)
        session.commit()
        assert shop.id is not None
        return shop.id


def rss_mb() -> float:
    """This process's resident set size now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
