"""Shared fixtures: a fresh store on SQLite and on a real PostgreSQL server, and a seeded demo store.

PostgreSQL comes from scripts/test-postgres.sh (run by .ci/run). Tests marked `postgres` FAIL, never skip,
when the server is missing, so a green run always means both backends were exercised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.config import FeishuConfig
from bot.dispatch import Dispatcher
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from cards.model import Button, Buttons, Card, Fields, Image, Note, Progress, Table, Tone
from commands.context import App
from scoring.rules import Rules
from storage.demo import seed_demo
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import Organisation, Team
from tests.clock import DEMO_NOW, DEMO_TODAY
from tests.fakes.feishu import FakeFeishu

PG_URL = os.environ.get("KPIBOT_TEST_PG_URL", "postgresql+psycopg://kpibot:kpibot@127.0.0.1:5432/kpibot_test")


def _fresh_postgres() -> Engine:
    engine = make_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # a missing server must fail loudly, not skip
        pytest.fail(f"PostgreSQL test server not reachable at {PG_URL} ({exc.__class__.__name__}); "
                    "run: bash scripts/test-postgres.sh", pytrace=False)
    return engine


def fresh_engine(backend: str, folder: Path) -> Engine:
    if backend == "sqlite":
        return make_engine(f"sqlite:///{folder / 'kpibot.db'}")
    return _fresh_postgres()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store on each backend."""
    eng = fresh_engine(request.param, tmp_path)
    upgrade(eng)
    yield eng
    eng.dispose()


def seeded_demo(path: Path) -> Engine:
    """A SQLite store at `path`, migrated, holding the demo organisation seeded for 2026-11-22."""
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    with Session(eng) as session:
        seed_demo(session, DEMO_TODAY)
        session.commit()
    return eng


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo store shared read-only by the command tests."""
    eng = seeded_demo(tmp_path_factory.mktemp("demo") / "demo.db")
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_app(demo_engine: Engine) -> App:
    return App(engine=demo_engine, rules=Rules(), org_timezone="Asia/Shanghai", org_locale="en", charts=ChartCache())


@pytest.fixture
def dispatcher(demo_app: App) -> Dispatcher:
    return Dispatcher(demo_app, clock=lambda: DEMO_NOW)


@pytest.fixture(scope="module")
def module_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A demo store private to one test module, for tests that change data and build on each other."""
    eng = seeded_demo(tmp_path_factory.mktemp("demo") / "kpibot.db")
    yield eng
    eng.dispose()


def org_and_team(session: Session, timezone: str = "UTC") -> tuple[Organisation, Team]:
    """An organisation with one team (code "t"), flushed so both have ids."""
    org = Organisation(code="o", name="Org")
    session.add(org)
    session.flush()
    team = Team(org_id=org.id, code="t", name="T", timezone=timezone, locale="en")
    session.add(team)
    session.flush()
    return org, team


@pytest.fixture
def demo_copy(tmp_path: Path) -> Iterator[Engine]:
    """A private demo store for tests that change data."""
    eng = seeded_demo(tmp_path / "copy.db")
    yield eng
    eng.dispose()


def dispatcher_for(engine: Engine, locale: str = "en", now: datetime = DEMO_NOW) -> Dispatcher:
    """A dispatcher over `engine` with default rules, the demo's home zone and a fixed clock."""
    return Dispatcher(App(engine, Rules(), "Asia/Shanghai", locale, ChartCache()), clock=lambda: now)


# One card with every kind of block, for the renderer tests of each platform.
SAMPLE_CARD = Card("Lin Xiaoyu 林小雨 · This month KPI", (
    Fields((("Score", "113.0"), ("Grade", "A"))),
    Progress("Net GMV (40%)", Decimal("0.5"), "100.00 USD / 200.00 USD"),
    Table(("Member", "Score"), (("Sun Li 孙丽", "77.2"),)),
    Image(b"\x89PNG...", "chartkey", "chart alt"),
    Note("As of 2026-11-22"),
    Buttons((Button("Week", "mykpi", ("week",), primary=True), Button("Refresh", "mykpi", ("month",)))),
), Tone.GOOD, "en")


@contextmanager
def connected_feishu(store: Engine, app: App) -> Iterator[tuple[FakeFeishu, FeishuAdapter]]:
    """A fake Feishu and the real adapter connected to it, answering from `store` (for the scheduled jobs)."""
    with FakeFeishu() as fake:
        adapter = FeishuAdapter(FeishuConfig(fake.app_id, fake.app_secret, fake.base_url), Dispatcher(app), store,
                                backoff_s=0.01)
        adapter.start()
        try:
            yield fake, adapter
        finally:
            adapter.stop()
