"""Shop tokens at rest: the SQLite store file is private (0600), the access and refresh tokens are stored
encrypted with KPIBOT_TOKEN_KEY (Fernet), tokens stored in clear before are still read and encrypted on the next
write, and `kpibot store rotate-key` moves every token to a new key, all or nothing; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.config import PlatformsConfig, TikTokShopPlatform
from bot.jobs.refresh import RefreshContext, run_refresh
from bot.shop_sources import NoSource, build_source
from cards.chart_cache import ChartCache
from scoring.alerts import AlertRules
from scoring.rules import Rules
from services.container import Services
from storage.engine import make_engine
from storage.ingest import token_store
from storage.ingest.records import Tokens
from storage.ingest.token_store import CREDENTIAL, DbTokenStore, Rotation, rotate_tokens
from storage.models import Shop
from storage.token_cipher import TokenCipher, TokenKeyError
from tests.clock import DEMO_MIDNIGHT
from tests.conftest import TEST_TOKEN_KEY
from tests.test_cli_shops import Cli

OLD, NEW, STRANGER = TEST_TOKEN_KEY, Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOKENS = {"access_token": "AT-clear-0001", "refresh_token": "RT-clear-0001", "shop_cipher": "GCP_1"}
WRONG_KEY = "a stored token was encrypted with a key that is not in KPIBOT_TOKEN_KEY"
LOCKED_FIX = ("set KPIBOT_TOKEN_KEY to the key that stored them (for a shop's first tokens, make a key with: "
              "kpibot store new-key)")
NO_KEY = ("kpibot: shop tokens are stored encrypted and KPIBOT_TOKEN_KEY is not set: make a key with: "
          "kpibot store new-key, and set KPIBOT_TOKEN_KEY\n")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_store_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kpibot.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    files = {p.name: mode(p) for p in tmp_path.iterdir()}
    engine.dispose()
    assert files == {"kpibot.db": 0o600, "kpibot.db-wal": 0o600, "kpibot.db-shm": 0o600}


def test_an_existing_store_readable_by_others_is_made_0600_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "kpibot.db"
    make_engine(f"sqlite:///{db}").dispose()
    wal = tmp_path / "kpibot.db-wal"
    wal.write_bytes(b"")
    os.chmod(db, 0o644)
    os.chmod(wal, 0o664)
    with caplog.at_level(logging.WARNING, logger="storage.engine"):
        make_engine(f"sqlite:///{db}").dispose()
        make_engine(f"sqlite:///{db}").dispose()     # already private: no second warning
    assert (mode(db), mode(wal)) == (0o600, 0o600)
    assert [r.getMessage() for r in caplog.records] == [f"the store {db} was readable by others (mode 644); "
                                                        "made it 0600"]


@pytest.fixture
def cli(engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("KPIBOT_NOW", DEMO_MIDNIGHT.isoformat())
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    return Cli(config, capsys, monkeypatch)


def add_shop(cli: Cli, code: str, tokens: dict[str, str] = TOKENS) -> tuple[int, str, str]:
    return cli("shops", "add", code, "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "UTC", "--tokens-stdin", stdin=json.dumps(tokens))


def raw(engine: Engine) -> list[tuple[str, str | None]]:
    """The stored columns as they are in the database, read with plain SQL."""
    with engine.connect() as conn:
        return [(a, r) for a, r in conn.execute(
            text("SELECT access_token, refresh_token FROM shop_credential ORDER BY shop_id"))]


def shop_id(engine: Engine, code: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM shop WHERE code = :c"), {"c": code}).scalar_one())


def test_tokens_are_stored_encrypted_and_read_back(engine: Engine, cli: Cli) -> None:
    assert add_shop(cli, "us1") == (0, "added shop us1: tiktok_shop US USD UTC; stored access_token, "
                                       "refresh_token, shop_cipher\n", "")
    [(access, refresh)] = raw(engine)
    assert access.startswith("fernet:") and refresh is not None and refresh.startswith("fernet:")
    assert "AT-clear-0001" not in access and "RT-clear-0001" not in refresh
    assert Fernet(OLD).decrypt(access.removeprefix("fernet:").encode()) == b"AT-clear-0001"
    loaded = DbTokenStore(engine, shop_id(engine, "us1")).load()
    assert loaded == Tokens("AT-clear-0001", "RT-clear-0001", None, None, {"shop_cipher": "GCP_1"})


def test_tokens_stored_in_clear_before_are_read_and_encrypted_by_the_next_save(engine: Engine, cli: Cli) -> None:
    add_shop(cli, "us1")
    with engine.begin() as conn:   # as a store written before encryption holds them
        conn.execute(update(CREDENTIAL).values(access_token="AT-legacy", refresh_token="RT-legacy"))
    store = DbTokenStore(engine, shop_id(engine, "us1"))
    tokens = store.load()
    assert tokens is not None and (tokens.access_token, tokens.refresh_token) == ("AT-legacy", "RT-legacy")
    store.save(tokens)
    [(access, refresh)] = raw(engine)
    assert access.startswith("fernet:") and refresh is not None and refresh.startswith("fernet:")
    assert store.load() == tokens


def test_rotation_moves_every_token_to_the_new_key(engine: Engine, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    add_shop(cli, "us1")
    add_shop(cli, "us2", {**TOKENS, "access_token": "AT-clear-0002"})
    with engine.begin() as conn:   # us2's tokens were stored in clear, before encryption
        conn.execute(update(CREDENTIAL).where(CREDENTIAL.c.shop_id == shop_id(engine, "us2"))
                     .values(access_token="AT-clear-0002", refresh_token="RT-clear-0001"))
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        assert b"AT-clear-0002" in store_bytes(engine)
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", f"{NEW},{OLD}")
    vacuumed = "; the store file was vacuumed so the old values do not stay in its free pages" if sqlite else ""
    assert cli("store", "rotate-key") == (0, "re-encrypted the tokens of 2 shop(s) with the first key of "
                                             "KPIBOT_TOKEN_KEY (1 of them stored in clear until now); the other "
                                             f"keys may now be removed from it{vacuumed}\n", "")
    if sqlite:   # secure_delete, VACUUM and a truncated WAL: the clear value is nowhere in the files
        assert b"AT-clear-0002" not in store_bytes(engine)
    for access, _ in raw(engine):
        assert access.startswith("fernet:")
        Fernet(NEW).decrypt(access.removeprefix("fernet:").encode())     # the new key alone reads it
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", NEW)                          # the old key removed
    assert [DbTokenStore(engine, shop_id(engine, c)).load().access_token   # type: ignore[union-attr]
            for c in ("us1", "us2")] == ["AT-clear-0001", "AT-clear-0002"]
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", OLD)                          # the old key alone no longer reads them
    with pytest.raises(TokenKeyError) as refused:
        DbTokenStore(engine, shop_id(engine, "us1")).load()
    assert str(refused.value) == WRONG_KEY


def store_bytes(engine: Engine) -> bytes:
    """The SQLite store's file and its WAL, as they are on disk."""
    db = Path(str(engine.url.database))
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_tokens_a_refresh_saves_during_the_rotation_are_never_overwritten(engine: Engine, cli: Cli) -> None:
    """The refresh's save runs between the rotation's read and its writes (the `between` hook). SQLite has no
    row locks: the rotation sees the row changed, rolls back whole and says to run it again. PostgreSQL locked
    the rows it read (FOR UPDATE): the save waits (0.5 s stands for however long) and lands after the rotation.
    Either way the refreshed tokens are what the store holds."""
    add_shop(cli, "us1")
    add_shop(cli, "us2", {**TOKENS, "access_token": "AT-clear-0002"})
    store = DbTokenStore(engine, shop_id(engine, "us1"), TokenCipher([OLD]))
    refreshed = Tokens("AT-refreshed", "RT-refreshed", None, None, {"shop_cipher": "GCP_1"})
    saver = threading.Thread(target=store.save, args=(refreshed,))

    def between() -> None:
        saver.start()
        saver.join(timeout=0.5)

    done = rotate_tokens(engine, TokenCipher([NEW, OLD]), between)
    saver.join(timeout=30)
    assert not saver.is_alive()
    both = TokenCipher([NEW, OLD])
    assert DbTokenStore(engine, shop_id(engine, "us1"), both).load() == refreshed
    if engine.dialect.name == "sqlite":
        assert done == Rotation(0, 0, changed=("us1",))
        [(us1, _), (us2, _)] = raw(engine)
        assert Fernet(OLD).decrypt(us1.removeprefix("fernet:").encode()) == b"AT-refreshed"   # as the save left it
        assert Fernet(OLD).decrypt(us2.removeprefix("fernet:").encode()) == b"AT-clear-0002"  # rolled back too
    else:
        assert done == Rotation(2, 0)


def test_clear_tokens_are_encrypted_when_first_read_with_a_key(engine: Engine, cli: Cli) -> None:
    """A shop whose adapter never saves tokens (Amazon, Shopify) would otherwise keep them in clear."""
    add_shop(cli, "us1")
    with engine.begin() as conn:
        conn.execute(update(CREDENTIAL).values(access_token="AT-legacy", refresh_token="RT-legacy"))
    store = DbTokenStore(engine, shop_id(engine, "us1"), TokenCipher([OLD]))
    assert store.load() == Tokens("AT-legacy", "RT-legacy", None, None, {"shop_cipher": "GCP_1"})
    [(access, refresh)] = raw(engine)
    assert refresh is not None
    assert [Fernet(OLD).decrypt(v.removeprefix("fernet:").encode()) for v in (access, refresh)] == [
        b"AT-legacy", b"RT-legacy"]
    assert store.load() == Tokens("AT-legacy", "RT-legacy", None, None, {"shop_cipher": "GCP_1"})
    assert raw(engine) == [(access, refresh)]          # already encrypted: not written again


def test_clear_tokens_read_without_a_key_are_warned_about_once(engine: Engine, cli: Cli,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    add_shop(cli, "us1")
    with engine.begin() as conn:
        conn.execute(update(CREDENTIAL).values(access_token="AT-legacy", refresh_token="RT-legacy"))
    monkeypatch.delenv("KPIBOT_TOKEN_KEY")
    monkeypatch.setattr(token_store, "_warned_clear", False)     # a new process
    with caplog.at_level(logging.WARNING, logger="storage.ingest.token_store"):
        for _ in range(2):
            assert DbTokenStore(engine, shop_id(engine, "us1")).load() == Tokens(
                "AT-legacy", "RT-legacy", None, None, {"shop_cipher": "GCP_1"})
    assert [r.getMessage() for r in caplog.records] == [
        "shop tokens are stored in clear: set KPIBOT_TOKEN_KEY (make a key with: kpibot store new-key) and run "
        "kpibot store rotate-key to encrypt them"]
    assert raw(engine) == [("AT-legacy", "RT-legacy")]


def test_a_token_no_key_decrypts_stops_the_rotation_and_changes_nothing(
        engine: Engine, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    add_shop(cli, "us1")
    assert cli("shops", "add", "us2", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "UTC")[0] == 0
    # stored with another key, which is then lost (`shops token` now refuses a key that opens no other
    # shop's tokens, so as a store from before that check, or written by hand, would hold them)
    DbTokenStore(engine, shop_id(engine, "us2"), TokenCipher([STRANGER])).save(
        Tokens(access_token="AT-clear-0002", refresh_token="RT-clear-0002", expires_at=None))
    before = raw(engine)
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", f"{NEW},{OLD}")
    assert cli("store", "rotate-key") == (1, "", "kpibot: no key in KPIBOT_TOKEN_KEY decrypts the tokens of "
                                                 "shop(s) us2; nothing was changed (add the key they were stored "
                                                 "with, after the new one)\n")
    assert raw(engine) == before


def test_without_a_key_tokens_are_refused_and_nothing_is_stored(
        engine: Engine, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPIBOT_TOKEN_KEY")
    assert add_shop(cli, "us1") == (2, "", NO_KEY)
    assert cli("shops", "list")[1] == "no shops (add one: kpibot shops add CODE --platform P ...)\n"
    assert cli("shops", "add", "us1", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "UTC")[0] == 0                            # a shop without tokens needs no key
    assert cli("shops", "token", "us1", "--tokens-stdin", stdin=json.dumps(TOKENS)) == (2, "", NO_KEY)
    assert raw(engine) == []
    assert cli("store", "rotate-key") == (2, "", "kpibot: KPIBOT_TOKEN_KEY is not set: put the new key first and "
                                                 "the old ones after it, comma-separated (make a key with: kpibot "
                                                 "store new-key)\n")


def test_a_malformed_key_and_a_wrong_key_are_refused_with_the_fix(engine: Engine, cli: Cli,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    add_shop(cli, "us1")
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", "not-a-key")
    assert cli("shops", "token", "us1", "--tokens-stdin", stdin=json.dumps(TOKENS)) == (
        2, "", "kpibot: KPIBOT_TOKEN_KEY: key 1 of 1 is not a Fernet key (make a key with: kpibot store new-key, "
               "and set KPIBOT_TOKEN_KEY)\n")
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", STRANGER)
    with pytest.raises(TokenKeyError) as refused:
        DbTokenStore(engine, shop_id(engine, "us1")).load()
    assert str(refused.value) == WRONG_KEY
    with Session(engine) as session:   # the sync and the refresh job: the shop is skipped with the reason
        shop = session.execute(select(Shop)).scalar_one()
    platforms = PlatformsConfig(tiktok_shop=TikTokShopPlatform(app_key="k", app_secret=SecretStr("s")))
    with pytest.raises(NoSource) as skipped:
        build_source(engine, shop, platforms)
    assert str(skipped.value) == f"shop us1: tokens locked: KPIBOT_TOKEN_KEY does not open them; {LOCKED_FIX}"
    monkeypatch.delenv("KPIBOT_TOKEN_KEY")
    with pytest.raises(NoSource) as skipped:
        build_source(engine, shop, platforms)
    assert str(skipped.value) == f"shop us1: tokens locked: KPIBOT_TOKEN_KEY not set; {LOCKED_FIX}"


def test_new_key_prints_a_fernet_key_without_opening_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              ) -> None:
    from bot.cli import main

    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "none" / "kpibot.db"}"\n', encoding="utf-8")
    assert main(["--config", str(config), "store", "new-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert TokenCipher([key]).decrypt(TokenCipher([key]).encrypt("x")) == "x"
    assert not (tmp_path / "none").exists()


def test_tokens_no_key_opens_are_a_visible_sync_failure(engine: Engine, cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Shop tokens stored, then the bot run without the key or with another one: each refresh run warns once
    naming the shops and the fix, counts a sync failure per shop, and records the reason as the shop's last
    error; `shops list` shows their tokens as locked. A shop without tokens is only skipped, as before."""
    add_shop(cli, "us1")
    add_shop(cli, "us2")
    assert cli("shops", "add", "us3", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "UTC")[0] == 0
    platforms = PlatformsConfig(tiktok_shop=TikTokShopPlatform(app_key="k", app_secret=SecretStr("s")))
    services = Services(engine, Rules(), "UTC", "en", ChartCache(), AlertRules(enabled=False))
    counted = metrics.reset()
    runs = iter([DEMO_MIDNIGHT, DEMO_MIDNIGHT + timedelta(hours=1)])

    def refresh_run() -> list[str]:
        now = next(runs)
        ctx = RefreshContext(services=services, source_for=lambda shop: build_source(engine, shop, platforms),
                             messengers={}, clock=lambda: now, instance="r1", interval=timedelta(minutes=30))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bot.jobs.refresh"):
            run_refresh(ctx, now)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    monkeypatch.delenv("KPIBOT_TOKEN_KEY")
    assert refresh_run() == [
        "shop refresh: 2 shop(s) skipped, their API tokens cannot be opened: us1 (tokens locked: KPIBOT_TOKEN_KEY "
        f"not set), us2 (tokens locked: KPIBOT_TOKEN_KEY not set); {LOCKED_FIX}"]
    assert counted.sync_failures._value.get() == 2
    header = "shop         platform     region cur  team       tokens  health       last success      last error"
    assert cli("shops", "list") == (0, "\n".join([
        header,
        "us1          tiktok_shop  US     USD  -          locked  failing 1x   -                 "
        "tokens locked: KPIBOT_TOKEN_KEY not set",
        "us2          tiktok_shop  US     USD  -          locked  failing 1x   -                 "
        "tokens locked: KPIBOT_TOKEN_KEY not set",
        "us3          tiktok_shop  US     USD  -          no      never synced -                 -", ""]), "")

    monkeypatch.setenv("KPIBOT_TOKEN_KEY", STRANGER)
    assert refresh_run() == [
        "shop refresh: 2 shop(s) skipped, their API tokens cannot be opened: us1 (tokens locked: KPIBOT_TOKEN_KEY "
        f"does not open them), us2 (tokens locked: KPIBOT_TOKEN_KEY does not open them); {LOCKED_FIX}"]
    assert counted.sync_failures._value.get() == 4
    assert cli("shops", "list")[1].splitlines()[1] == (
        "us1          tiktok_shop  US     USD  -          locked  failing 2x   -                 "
        "tokens locked: KPIBOT_TOKEN_KEY does not open them")
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", OLD)   # the key that stored them: they open again, the error is stale
    assert cli("shops", "list")[1].splitlines()[1] == (
        "us1          tiktok_shop  US     USD  -          yes     failing 2x   -                 -")
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", "not-a-key")
    assert cli("shops", "list")[1].splitlines()[1] == (
        "us1          tiktok_shop  US     USD  -          locked (KPIBOT_TOKEN_KEY is not a valid key) failing 2x   "
        "-                 tokens locked: KPIBOT_TOKEN_KEY does not open them")


def test_a_platform_without_app_credentials_is_a_visible_sync_failure(
        engine: Engine, cli: Cli, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Tokens stored but no [platforms.tiktok_shop] in the configuration: as with locked tokens, one WARNING
    per refresh run naming the shops and what to set, a sync failure counted, the shop's last error in `shops
    list`; once the credentials are configured the error is no longer shown."""
    for name in ("KPIBOT_TIKTOK_SHOP_APP_KEY", "KPIBOT_TIKTOK_SHOP_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    add_shop(cli, "us1")
    services = Services(engine, Rules(), "UTC", "en", ChartCache(), AlertRules(enabled=False))
    counted = metrics.reset()
    ctx = RefreshContext(services=services, source_for=lambda shop: build_source(engine, shop, PlatformsConfig()),
                         messengers={}, clock=lambda: DEMO_MIDNIGHT, instance="r1", interval=timedelta(minutes=30))
    with caplog.at_level(logging.INFO, logger="bot.jobs.refresh"):
        result = run_refresh(ctx, DEMO_MIDNIGHT)
    missing = ("no [platforms.tiktok_shop] credentials: set KPIBOT_TIKTOK_SHOP_APP_KEY and "
               "KPIBOT_TIKTOK_SHOP_APP_SECRET")
    assert result.skipped == {"us1": f"shop us1: {missing}"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"shop refresh: 1 shop(s) skipped, their platform has no app credentials in the configuration: us1 ({missing})"]
    assert counted.sync_failures._value.get() == 1
    row = "us1          tiktok_shop  US     USD  -          yes     failing 1x   -                 "
    assert cli("shops", "list")[1].splitlines()[1] == row + missing
    monkeypatch.setenv("KPIBOT_TIKTOK_SHOP_APP_KEY", "k")
    monkeypatch.setenv("KPIBOT_TIKTOK_SHOP_APP_SECRET", "s")
    assert cli("shops", "list")[1].splitlines()[1] == row + "-"


def test_after_a_rotation_the_old_key_cannot_store_tokens_under_a_second_key(
        engine: Engine, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    add_shop(cli, "us1")
    assert cli("shops", "add", "us2", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "UTC")[0] == 0
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", f"{NEW},{OLD}")
    assert cli("store", "rotate-key")[0] == 0
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", OLD)
    refused = ("kpibot: the first key in KPIBOT_TOKEN_KEY is not the one the other shops' tokens are under: put "
               "that key first (or run kpibot store rotate-key first); nothing stored\n")
    before = raw(engine)
    assert cli("shops", "token", "us2", "--tokens-stdin", stdin=json.dumps(TOKENS)) == (2, "", refused)
    assert add_shop(cli, "us3") == (2, "", refused)
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", f"{OLD},{NEW}")   # NEW opens them, but OLD would encrypt
    assert cli("shops", "token", "us2", "--tokens-stdin", stdin=json.dumps(TOKENS)) == (2, "", refused)
    assert raw(engine) == before and len(before) == 1
    monkeypatch.setenv("KPIBOT_TOKEN_KEY", NEW)
    assert cli("shops", "token", "us2", "--tokens-stdin", stdin=json.dumps(TOKENS)) == (
        0, "stored tokens for shop us2: access_token, refresh_token, shop_cipher\n", "")
    assert [Fernet(NEW).decrypt(a.removeprefix("fernet:").encode()) for a, _ in raw(engine)] == [
        b"AT-clear-0001", b"AT-clear-0001"]
