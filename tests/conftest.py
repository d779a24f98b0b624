"""Shared fixtures: a fresh store on SQLite and on a real PostgreSQL server, and a seeded demo store.

PostgreSQL comes from scripts/test-postgres.sh (run by .ci/run). Tests marked `postgres` FAIL, never skip,
when the server is missing, so a green run always means both backends were exercised.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from bot.config import DingTalkConfig, FeishuConfig
from bot.dispatch import Dispatcher
from bot.platforms.common import WorkerPool
from bot.platforms.dingtalk import DingTalkAdapter
from bot.platforms.feishu import FeishuAdapter
from cards.chart_cache import ChartCache
from cards.model import Button, Buttons, Card, Fields, Image, Note, Progress, Table, Tone
from scoring.rules import Rules
from services.container import Services
from storage.audit import SYSTEM, acting_as
from storage.demo import seed_demo
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.models import Organisation, Shop, Team
from tests.clock import DEMO_NOW, DEMO_TODAY
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.feishu import FakeFeishu

# the shop tokens' key (storage.token_cipher) of every test and of the kpibot processes they start; tests of a
# missing or wrong key take it away with monkeypatch
TEST_TOKEN_KEY = "KPfbAGVCWUM-MjitDYgC-uCGVw-3skwUguqqFv3VkBI="
os.environ["KPIBOT_TOKEN_KEY"] = TEST_TOKEN_KEY
PG_URL = os.environ.get("KPIBOT_TEST_PG_URL", "postgresql+psycopg://kpibot:kpibot@127.0.0.1:5432/kpibot_test")


class PgDatabases:
    """The databases this test process makes on the PostgreSQL test server, each with a random name, and drops
    at its end: nothing else on the server is touched, so two suites (or xdist workers) can share a server.
    One database is migrated once and shared by the tests that take the `engine` fixture, emptied before each
    of them (`empty`); a test that needs its own schema (migrations, temporary tables) gets a fresh one
    (`fresh_engine`)."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.made: list[str] = []
        self._migrated: URL | None = None
        self._tables: list[str] = []

    def _admin(self) -> Engine:
        try:
            engine = make_engine(self.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT",
                                 poolclass=NullPool)
            with engine.connect():
                return engine
        except Exception as exc:  # a missing server must fail loudly, not skip
            pytest.fail(f"PostgreSQL test server not reachable at {self.url!r} ({exc.__class__.__name__}); "
                        "run: bash scripts/test-postgres.sh", pytrace=False)

    def create(self) -> URL:
        """A new, empty database."""
        name = f"{self.url.database}_{secrets.token_hex(6)}"
        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.made.append(name)
        return self.url.set(database=name)

    def migrated(self) -> URL:
        """The shared database, migrated to the newest schema on first use."""
        if self._migrated is None:
            url = self.create()
            engine = make_engine(url.render_as_string(hide_password=False))
            upgrade(engine)
            # children before parents, for deleting rows without breaking a foreign key
            meta = MetaData()
            meta.reflect(engine)
            self._tables = [t.name for t in reversed(meta.sorted_tables) if t.name != "alembic_version"]
            engine.dispose()
            self._migrated = url
        return self._migrated

    def empty(self, engine: Engine) -> None:
        """Delete every row of the shared database, drop the tables the migrations did not make and restart its
        sequences: as freshly migrated, at a fraction of the cost of migrating. Rows are deleted where there
        are any, not truncated: a TRUNCATE of every table costs 80-90 ms, this 5-10 ms."""
        with engine.begin() as conn:
            made_by_tests = set(conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()) - {*self._tables,
                                                                                             "alembic_version"}
            for table in made_by_tests:   # tables a test made itself
                conn.execute(text(f'DROP TABLE "{table}" CASCADE'))
            filled = conn.execute(text("SELECT " + ", ".join(
                f'EXISTS (SELECT FROM "{t}")' for t in self._tables))).one()
            for table, has_rows in zip(self._tables, filled, strict=True):
                if has_rows and table == "audit_log":   # append-only (storage.audit_guard): its owner lifts that
                    conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
                    conn.execute(text("DELETE FROM audit_log"))
                    conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
                elif has_rows and table == "store_version":   # its rows are the migration's (identity_version)
                    conn.execute(text("UPDATE store_version SET version = 0"))
                elif has_rows:
                    conn.execute(text(f'DELETE FROM "{table}"'))
            conn.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
                              "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"))

    def drop_all(self) -> None:
        if not self.made:
            return
        admin = self._admin()
        with admin.connect() as conn:
            for name in self.made:
                # connections an engine left open are this role's own to end (WITH (FORCE) would also need
                # the right to end the server's autovacuum workers, which the test role has not)
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                                  "AND usename = current_user AND pid <> pg_backend_pid()"), {"name": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
        self.made.clear()


POSTGRES = PgDatabases(PG_URL)


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases() -> Iterator[None]:
    """Drops the databases this run made (only those) when the session ends."""
    yield
    POSTGRES.drop_all()


class StoreTemplates:
    """Store files made once and copied for each test that wants one: a migrated empty SQLite store (migrating
    costs 0.16 s, a copy under 1 ms) and the seeded demos (3 s each to seed). Made once per test process, or,
    under xdist, once per run in a folder the workers share (`share`): one worker builds, the others wait on a
    lock and copy (four workers seeded the same demo four times)."""

    def __init__(self) -> None:
        self.folder: Path | None = None   # made on first use: xdist's controller imports this and tests nothing
        self.shared: Path | None = None
        self._made: dict[str, Path] = {}

    def share(self, folder: Path) -> None:
        """Build templates in `folder`, shared with the other processes of this run (each gets the same ones)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.shared = folder

    def copy(self, name: str, build: Callable[[Engine], None], to: Path) -> Engine:
        template = self._made.get(name)
        if template is None:
            template = self._made[name] = self._build(name, build)
        shutil.copyfile(template, to)
        return make_engine(f"sqlite:///{to}")

    def _build(self, name: str, build: Callable[[Engine], None]) -> Path:
        if self.shared is None:
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="kpibot-templates-"))
            template = self.folder / f"{name}.db"
            self._build_at(template, build)
            return template
        template = self.shared / f"{name}.db"
        with open(self.shared / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes, also when this process dies
            if not template.exists():          # the first worker here builds; a half-built file is never seen
                part = self.shared / f"{name}.{os.getpid()}.part"
                self._build_at(part, build)
                os.replace(part, template)
        return template

    @staticmethod
    def _build_at(path: Path, build: Callable[[Engine], None]) -> None:
        engine = make_engine(f"sqlite:///{path}")
        build(engine)
        engine.dispose()   # the last connection closing checkpoints the WAL into the file

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder, self._made = None, {}


TEMPLATES = StoreTemplates()


@pytest.fixture(scope="session", autouse=True)
def _remove_store_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if os.environ.get("PYTEST_XDIST_WORKER"):   # the workers' base folders have this run's folder as parent
        TEMPLATES.share(tmp_path_factory.getbasetemp().parent / "store-templates")
    yield
    TEMPLATES.remove()   # a shared folder goes with pytest's own (it keeps the last three runs)


def fresh_engine(backend: str, folder: Path, **engine_options: Any) -> Engine:
    """An empty store with no schema yet: a new file on SQLite, a new database on PostgreSQL."""
    if backend == "sqlite":
        return make_engine(f"sqlite:///{folder / 'kpibot.db'}", **engine_options)
    return make_engine(POSTGRES.create().render_as_string(hide_password=False), **engine_options)


def migrated_sqlite(path: Path) -> Engine:
    """An empty SQLite store at `path` with the newest schema."""
    return TEMPLATES.copy("migrated", lambda e: upgrade(e), path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store on each backend."""
    if request.param == "sqlite":
        eng = migrated_sqlite(tmp_path / "kpibot.db")
    else:
        eng = make_engine(POSTGRES.migrated().render_as_string(hide_password=False))
        POSTGRES.empty(eng)
    yield eng
    eng.dispose()


def _seed_demo(engine: Engine) -> None:
    """As `kpibot seed-demo` under KPIBOT_NOW=DEMO_NOW: its audit rows are stamped by the demo's clock, so rows the
    tests add at DEMO_NOW sort after them (storage.audit)."""
    upgrade(engine)
    with Session(engine) as session, acting_as(SYSTEM, lambda: DEMO_NOW):
        seed_demo(session, DEMO_TODAY)
        session.commit()


def seeded_demo(path: Path) -> Engine:
    """A SQLite store at `path`, migrated, holding the demo organisation seeded for 2026-11-22 (seeded once per
    test process, then copied)."""
    return TEMPLATES.copy("demo", _seed_demo, path)


def _seed_demo_by_cli(now: str) -> Callable[[Engine], None]:
    def build(engine: Engine) -> None:
        from bot.cli import main  # the whole CLI: imported only by the tests that want its seeding

        config = Path(tempfile.mkdtemp(prefix="kpibot-seed-")) / "config.toml"
        config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("KPIBOT_NOW", now)
            code = main(["--config", str(config), "seed-demo"])   # disposes its engine: the file is complete
        shutil.rmtree(config.parent, ignore_errors=True)
        assert code == 0, f"kpibot seed-demo answered {code}"
    return build


def seeded_by_cli(path: Path, now: str) -> None:
    """A SQLite store at `path` as `kpibot seed-demo` leaves it with its clock (KPIBOT_NOW) at `now`: migrated,
    the demo seeded and last month's commission closed. The CLI seeds once per test process (3 s), then the file
    is copied (under 1 ms)."""
    TEMPLATES.copy(f"cli-demo-{now}", _seed_demo_by_cli(now), path).dispose()


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo store shared read-only by the command tests."""
    eng = seeded_demo(tmp_path_factory.mktemp("demo") / "demo.db")
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def demo_app(demo_engine: Engine) -> Services:
    return Services(engine=demo_engine, rules=Rules(), org_timezone="Asia/Shanghai", org_locale="en",
                    charts=ChartCache())


@pytest.fixture
def dispatcher(demo_app: Services) -> Dispatcher:
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


def a_shop(session: Session, org: Organisation, team: Team, currency: str, platform: str = "tiktok_shop",
           region: str = "US") -> Shop:
    """A shop (code "s") of `team` in `currency`, on UTC, flushed so it has an id."""
    shop = Shop(org_id=org.id, team_id=team.id, code="s", name="S", platform=platform, region=region,
                currency=currency, timezone="UTC")
    session.add(shop)
    session.flush()
    return shop


@pytest.fixture
def demo_copy(tmp_path: Path) -> Iterator[Engine]:
    """A private demo store for tests that change data."""
    eng = seeded_demo(tmp_path / "copy.db")
    yield eng
    eng.dispose()


def dispatcher_for(engine: Engine, locale: str = "en", now: datetime = DEMO_NOW) -> Dispatcher:
    """A dispatcher over `engine` with default rules, the demo's home zone and a fixed clock."""
    return Dispatcher(Services(engine, Rules(), "Asia/Shanghai", locale, ChartCache()), clock=lambda: now)


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
def connected_feishu(store: Engine, services: Services) -> Iterator[tuple[FakeFeishu, FeishuAdapter]]:
    """A fake Feishu and the real adapter connected to it, answering from `store` (for the scheduled jobs)."""
    with FakeFeishu() as fake:
        adapter = FeishuAdapter(FeishuConfig(fake.app_id, fake.app_secret, fake.base_url), Dispatcher(services), store,
                                backoff_s=0.01)
        adapter.start()
        try:
            yield fake, adapter
        finally:
            adapter.stop()


@contextmanager
def connected_dingtalk(store: Engine, services: Services, attempts: int = 5) -> Iterator[tuple[FakeDingTalk,
                                                                                               DingTalkAdapter]]:
    """A fake DingTalk and the real adapter connected to it with kpibot's card template, answering from `store`."""
    with FakeDingTalk() as fake:
        config = DingTalkConfig(fake.client_id, fake.client_secret, endpoint=fake.base_url,
                                media_endpoint=fake.base_url, card_template_id="kpibot_card.schema")
        adapter = DingTalkAdapter(config, Dispatcher(services), store, attempts=attempts, backoff_s=0.01)
        adapter.start()
        try:
            yield fake, adapter
        finally:
            adapter.stop()


ROOT = Path(__file__).resolve().parent.parent   # the checkout


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment for a `python -m bot.cli` subprocess started outside the checkout: this checkout's code
    first on its path (else `bot` comes from wherever `pip install -e` last pointed, maybe another clone)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


class WaitingFake(Protocol):
    def wait_for(self, predicate: Callable[[], bool], timeout: float = ..., what: str = ...) -> None: ...


def settle(fake: WaitingFake, pool: WorkerPool) -> None:
    """Wait until an adapter's pool has done all that the events it acked so far lead to (a fake's push returns
    on the ack, and an event's work is handed to the pool before it is acked): an answer that was going to
    come has come, so its absence can be asserted without waiting a fixed time."""
    fake.wait_for(pool.idle, what="the adapter's work to finish")
