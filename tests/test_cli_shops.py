"""The shop commands of the CLI against the fake shop APIs, on SQLite and PostgreSQL: `shops add|token|list`,
`sync` (TikTok Shop and Shopee, --since, --resource, the progress bar, failures), `import` of a messy export
and `attribute`. Expected figures come from the fakes' seeds (expected_totals) or are worked out in comments."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.cli import main
from storage.attribution import AttributionCounts, attribute_orders
from storage.ingest.token_store import DbTokenStore
from storage.ingest.writer import StoreWriter
from storage.models import (
    Creator,
    Order,
    OrderLine,
    Organisation,
    Product,
    PromoCode,
    Refund,
    Shop,
    ShopHealth,
)
from tests.clock import DEMO_MIDNIGHT
from tests.fakes.shopee import FakeShopee
from tests.fakes.tiktok_shop import FakeTikTokShop
from tests.test_attribution_store import _order

DATA = Path(__file__).parent / "data" / "imports"
ORDERS_SEARCH = "/order/202309/orders/search"
LA = ZoneInfo("America/Los_Angeles")
NOW = DEMO_MIDNIGHT          # the CLI's and the fakes' data clock in these tests


class Cli:
    """Runs `kpibot --config FILE ...` in this process; returns (exit code, stdout, stderr)."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.config, self.capsys, self.monkeypatch = config, capsys, monkeypatch

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        code = main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def configure(self, body: str) -> None:
        store = self.config.read_text(encoding="utf-8").split("\n[platforms", 1)[0]
        self.config.write_text(store + "\n" + body, encoding="utf-8")


@pytest.fixture
def cli(engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("KPIBOT_NOW", NOW.isoformat())      # the CLI's clock (bot.app.clock_from_env)
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    return Cli(config, capsys, monkeypatch)


@pytest.fixture
def tiktok() -> Iterator[FakeTikTokShop]:
    """120 orders updated over the 19 days before NOW, a UTC midnight (seed 3), at pinned dates: how many lives
    the seed makes depends on the calendar days it covers."""
    now = int(NOW.timestamp())
    with FakeTikTokShop(seed=3, n_orders=120, start=now - 20 * 86_400, span_s=19 * 86_400) as fake:
        yield fake


def tiktok_config(fake: FakeTikTokShop) -> str:
    return (f'[platforms.tiktok_shop]\napp_key = "{fake.app_key}"\napp_secret = "{fake.app_secret}"\n'
            f'base_url = "{fake.base_url}"\nauth_url = "{fake.auth_base_url}"\n')


def tiktok_tokens(fake: FakeTikTokShop) -> dict[str, str]:
    tokens = fake.initial_tokens()
    assert tokens.refresh_token and tokens.expires_at
    return {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.isoformat(), "shop_cipher": tokens.extra["shop_cipher"]}


def add_us1(cli: Cli, tokens: dict[str, str] | None = None) -> None:
    args = ["shops", "add", "us1", "--platform", "tiktok_shop", "--name", "TikTok US", "--region", "us",
            "--currency", "usd", "--timezone", "America/Los_Angeles"]
    code, _, err = cli(*args, *(["--tokens-stdin"] if tokens else []), stdin=json.dumps(tokens or {}))
    assert (code, err) == (0, "")


def sync_lines(out: str) -> dict[str, tuple[int, str]]:
    """'us1 orders: 2 pages, 120 records (120 new, ...)' -> {'orders': (120, '120 new, ...')}."""
    found = {}
    for line in out.splitlines():
        m = re.fullmatch(r"us1 (\w+): \d+ pages, (\d+) records \((.*)\)", line)
        if m:
            found[m[1]] = (int(m[2]), m[3])
    return found


# --- shops add, token, list ------------------------------------------------------------------------------------

def test_shops_add_token_and_list(cli: Cli, engine: Engine) -> None:
    secret = {"access_token": "TTP_secret_access", "refresh_token": "TTR_secret_refresh",
              "expires_at": "2026-12-01T00:00:00+00:00", "shop_cipher": "ROW_cipher_x"}
    code, out, err = cli("shops", "add", "us1", "--platform", "tiktok_shop", "--name", "TikTok US", "--region", "us",
                         "--currency", "usd", "--timezone", "America/Los_Angeles", "--tokens-stdin",
                         stdin=json.dumps(secret))
    assert (code, err) == (0, "")
    assert out == ("added shop us1: tiktok_shop US USD America/Los_Angeles; stored access_token, refresh_token, "
                   "expires_at, shop_cipher\n")
    code, out, err = cli("shops", "add", "sg1", "--platform", "shopee", "--region", "SG", "--currency", "SGD",
                         "--timezone", "Asia/Singapore", "--platform-shop-id", "601234")
    assert (code, err) == (0, "")
    assert out == ("added shop sg1: shopee SG SGD Asia/Singapore\n"
                   "next: kpibot shops token sg1 --tokens-stdin (the shop's API tokens)\n")
    # key=value lines from an environment variable named by a flag; a bare token would do for Shopee
    cli.monkeypatch.setenv("SG1_TOKENS", "refresh_token = shpr_secret\n# a comment\n")
    assert cli("shops", "token", "sg1", "--tokens-env", "SG1_TOKENS") == \
        (0, "stored tokens for shop sg1: refresh_token, expires_at\n", "")
    assert cli("shops", "add", "temu1", "--platform", "temu", "--region", "US", "--currency", "USD",
               "--timezone", "UTC")[0] == 0

    with Session(engine) as s:
        shops = {x.code: x for x in s.execute(select(Shop)).scalars()}
    us1 = shops["us1"]
    assert (us1.name, us1.platform, us1.region, us1.currency, us1.timezone, us1.platform_shop_id) == \
        ("TikTok US", "tiktok_shop", "US", "USD", "America/Los_Angeles", None)
    assert (shops["sg1"].platform_shop_id, shops["temu1"].name) == ("601234", "temu1")
    stored = DbTokenStore(engine, us1.id or 0).load()
    assert stored is not None
    assert (stored.access_token, stored.refresh_token, stored.expires_at, stored.extra) == (
        "TTP_secret_access", "TTR_secret_refresh", datetime(2026, 12, 1, tzinfo=UTC), {"shop_cipher": "ROW_cipher_x"})
    sg1 = DbTokenStore(engine, shops["sg1"].id or 0).load()
    assert sg1 is not None
    # no access token yet: stored as expired so that the first call refreshes
    assert (sg1.access_token, sg1.refresh_token, sg1.expires_at) == \
        ("", "shpr_secret", datetime(1970, 1, 1, tzinfo=UTC))

    code, out, err = cli("shops", "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "shop         platform     region cur  team       tokens  health       last success      last error",
        "sg1          shopee       SG     SGD  -          yes     never synced -                 -",
        "temu1        temu         US     USD  -          -       never synced -                 -",
        "us1          tiktok_shop  US     USD  -          yes     never synced -                 -",
    ]


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--platform", "tiktok", "--region", "US", "--currency", "USD", "--timezone", "UTC"], "",
     "kpibot: unknown platform 'tiktok'; platforms: tiktok_shop, shopee, amazon, shopify, temu, shein, file\n"),
    (["--platform", "shopee", "--region", "SG", "--currency", "SGX", "--timezone", "UTC"], "",
     "kpibot: unknown currency 'SGX' (an ISO 4217 code such as USD, GBP, IDR)\n"),
    (["--platform", "shopee", "--region", "SG", "--currency", "SGD", "--timezone", "Asia"], "",
     "kpibot: unknown time zone 'Asia' (an IANA name such as America/Los_Angeles)\n"),
    (["--platform", "shopee", "--region", "SGP", "--currency", "SGD", "--timezone", "UTC"], "",
     "kpibot: --region 'SGP' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)\n"),
    (["--platform", "shopee", "--region", "SG", "--currency", "SGD", "--timezone", "UTC"], "",
     "kpibot: shopee shops need --platform-shop-id (the numeric Shopee shop_id)\n"),
    (["--platform", "amazon", "--region", "US", "--currency", "USD", "--timezone", "UTC", "--platform-shop-id",
      "ATVPDKIKX0DER", "--tokens-stdin"], "access_token=x\n", "kpibot: tokens: amazon needs refresh_token\n"),
    (["--platform", "tiktok_shop", "--region", "US", "--currency", "USD", "--timezone", "UTC", "--tokens-stdin"],
     '{"access_token": "TTP_x", "shop_cipher": "c", "password": "p"}',
     "kpibot: tokens: unknown token field(s) password (fields: access_token, refresh_token, expires_at, "
     "refresh_expires_at, shop_cipher)\n"),
    (["--platform", "shopify", "--region", "US", "--currency", "USD", "--timezone", "UTC", "--platform-shop-id",
      "x.myshopify.com", "--tokens-env", "NOT_SET_ANYWHERE"], "",
     "kpibot: the environment variable NOT_SET_ANYWHERE is not set\n"),
    (["--platform", "shopee", "--region", "SG", "--currency", "SGD", "--timezone", "UTC", "--platform-shop-id",
      "sg-601234"], "", "kpibot: --platform-shop-id must be the numeric Shopee shop_id, got 'sg-601234'\n"),
])
def test_shops_add_refuses_bad_arguments_in_one_line(cli: Cli, engine: Engine, args: list[str], stdin: str,
                                                     message: str) -> None:
    assert cli("shops", "add", "x1", *args, stdin=stdin) == (2, "", message)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Shop)).scalar_one() == 0


def test_a_shop_code_is_added_once_and_unknown_shops_and_teams_are_named(cli: Cli) -> None:
    add_us1(cli)
    args = ("--platform", "tiktok_shop", "--region", "US", "--currency", "USD", "--timezone", "UTC")
    assert cli("shops", "add", "us1", *args) == \
        (2, "", "kpibot: there is already a shop us1 (see: kpibot shops list)\n")
    assert cli("shops", "add", "us2", *args, "--team", "live") == (2, "", "kpibot: no team 'live'; teams: none\n")
    assert cli("shops", "token", "us9", "--tokens-stdin") == (2, "", "kpibot: no shop 'us9'; shops: us1\n")


# --- sync -----------------------------------------------------------------------------------------------------------

@pytest.mark.wallclock
def test_sync_a_tiktok_shop_through_the_cli(cli: Cli, engine: Engine, tiktok: FakeTikTokShop,
                                            caplog: pytest.LogCaptureFixture) -> None:
    cli.configure(tiktok_config(tiktok))
    tokens = tiktok_tokens(tiktok)
    add_us1(cli, tokens)
    caplog.set_level(logging.DEBUG)
    code, out, err = cli("-v", "sync")
    assert (code, err) == (0, "")
    totals = tiktok.expected_totals()
    # seed 3: 120 orders (31 of them with affiliate lines: 37 lines), 4 returns and 13 cancellations, 41 lives
    assert (totals.orders, totals.returns + totals.cancellations, totals.affiliate_lines, totals.lives) == \
        (120, 17, 37, 41)
    assert sync_lines(out) == {
        "orders": (120, "120 new, 0 updated, 0 unchanged, 0 pending"),
        "returns": (17, "17 new, 0 updated, 0 unchanged, 0 pending"),
        "affiliate_orders": (37, "37 new, 0 updated, 0 unchanged, 0 pending"),
        "lives": (41, "41 new, 0 updated, 0 unchanged, 0 pending"),
        # the catalogue: one product no order sold yet, 39 the orders' lines made, now filled (launch day, stock)
        "products": (40, "1 new, 39 updated, 0 unchanged, 0 pending"),
    }
    # the fake's 41 lives are of two shop accounts (27 shop.official, 14 shop.studio) no member holds yet
    assert out.splitlines()[-2:] == ["attribution: 120 orders, 31 credited to creators, 0 self-referrals, "
                                     "89 unattributed",
                                     "host credit: 113 paid orders, 0 by the platform, 0 by live session, "
                                     "0 by the roster, 113 nobody's; 2 handles match no member"]
    with Session(engine) as s:
        assert s.execute(select(func.count(), func.sum(Order.merchandise_minor), func.sum(Order.total_minor))
                         .select_from(Order)).one() == (120, totals.merchandise_minor, totals.total_minor)
        assert s.execute(select(func.count()).select_from(Refund)).scalar_one() == 17
        health = s.execute(select(ShopHealth)).scalars().one()
        assert (health.consecutive_failures, health.unhealthy_since, health.last_error) == (0, None, None)

    # again: the overlap is fetched again and nothing changes; a refresh of the expired access token is logged
    # without any secret
    tiktok.expire_tokens()
    code, out, err = cli("-v", "sync", "--shop", "us1", "--resource", "orders")
    assert (code, err) == (0, "")
    assert list(sync_lines(out)) == ["orders"]
    assert "attribution" not in out                         # nothing changed: nothing to attribute
    assert tiktok.refreshes == 1
    logged = caplog.text + out + err
    for secret in (tokens["access_token"], tokens["refresh_token"], tiktok.app_secret):
        assert secret not in logged
    code, out, _ = cli("shops", "list")
    row = out.splitlines()[1].split()
    assert row[:7] == ["us1", "tiktok_shop", "US", "USD", "-", "yes", "ok"] and row[-1] == "-"


@pytest.mark.wallclock
def test_sync_since_fetches_again_from_that_local_day(cli: Cli, tiktok: FakeTikTokShop) -> None:
    cli.configure(tiktok_config(tiktok))
    add_us1(cli, tiktok_tokens(tiktok))
    assert cli("sync", "--resource", "orders")[0] == 0
    day = (NOW.astimezone(LA) - timedelta(days=5)).date()
    since = datetime(day.year, day.month, day.day, tzinfo=LA)        # midnight in the shop's zone
    tiktok.reset_calls()
    code, out, err = cli("sync", "--since", day.isoformat(), "--resource", "orders", "--progress")
    assert code == 0
    bodies = [c.body for c in tiktok.calls_to(ORDERS_SEARCH)]
    assert bodies and all(b["update_time_ge"] == int(since.timestamp()) for b in bodies)
    expected = tiktok.expected_totals(since, NOW).orders
    assert 0 < expected < 120
    assert sync_lines(out) == {"orders": (expected, f"0 new, 0 updated, {expected} unchanged, 0 pending")}
    assert "us1 orders: " in err and f"{expected} records" in err       # the progress bar, on stderr
    assert cli("sync", "--since", "5 days ago") == (2, "", "kpibot: --since must be YYYY-MM-DD, got '5 days ago'\n")
    assert cli("sync", "--resource", "refunds") == \
        (2, "", "kpibot: --resource must be one of orders, returns, affiliate_orders, lives, got 'refunds'\n")


def test_sync_options_are_checked_before_anything_else_also_without_shops(cli: Cli) -> None:
    assert cli("sync", "--resource", "refunds") == \
        (2, "", "kpibot: --resource must be one of orders, returns, affiliate_orders, lives, got 'refunds'\n")
    assert cli("sync", "--since", "2026-13-01") == (2, "", "kpibot: --since must be YYYY-MM-DD, got '2026-13-01'\n")
    assert cli("sync") == (0, "no shops with an API to sync (add one: kpibot shops add CODE --platform P ...)\n", "")


@pytest.mark.wallclock
def test_sync_a_shopee_shop_whose_first_call_refreshes_its_token(cli: Cli, engine: Engine) -> None:
    with FakeShopee(now=NOW, orders=60, seed=5) as fake:    # orders in the 45 days before NOW
        fake.set_now(datetime.now(UTC))   # its server clock checks the CLI's request timestamps, which are real
        cli.configure(f'[platforms.shopee]\npartner_id = {fake.partner_id}\npartner_key = "{fake.partner_key}"\n'
                      f'base_url = "{fake.base_url}"\n')
        refresh = fake.initial_tokens().refresh_token
        code, _, err = cli("shops", "add", "sg1", "--platform", "shopee", "--region", "SG", "--currency", "SGD",
                           "--timezone", "Asia/Singapore", "--platform-shop-id", str(fake.shop_id), "--tokens-stdin",
                           stdin=f"{refresh}\n")            # the refresh token alone
        assert (code, err) == (0, "")
        code, out, err = cli("sync")
        assert (code, err) == (0, "")
        totals = fake.expected_totals()
        assert (totals["count"], fake.expected_returns()["count"]) == (60, 3)
        assert re.fullmatch(r"sg1 orders: \d+ pages, 60 records \(60 new, 0 updated, 0 unchanged, 0 pending\)\n"
                            r"sg1 returns: \d+ pages, 3 records \(3 new, 0 updated, 0 unchanged, 0 pending\)\n"
                            r"sg1 products: 1 pages, 29 records \(0 new, 29 updated, 0 unchanged, 0 pending\)\n"
                            r"attribution: 60 orders, 0 credited to creators, 0 self-referrals, 60 unattributed\n",
                            out), out
        assert fake.refreshes == 1
        assert cli("sync", "--resource", "lives") == (0, "", "skipped: shop sg1 (shopee) has no resource lives\n")
        assert cli("sync", "--shop", "sg1", "--resource", "lives") == \
            (2, "", "kpibot: --resource must be one of orders, returns, products, got 'lives'\n")
        with Session(engine) as s:
            assert s.execute(select(func.count(), func.sum(Order.merchandise_minor), func.sum(Order.total_minor))
                             .select_from(Order)).one() == (60, totals["merchandise_minor"], totals["total_minor"])
            shop_id = s.execute(select(Shop.id)).scalar_one()
        stored = DbTokenStore(engine, shop_id).load()           # the single-use refresh token was replaced
        assert stored is not None and stored.refresh_token != refresh and stored.refresh_token in \
            fake.live_refresh_tokens


def test_a_failing_shop_fails_the_sync_and_others_still_sync(cli: Cli, engine: Engine, tiktok: FakeTikTokShop) -> None:
    cli.configure(tiktok_config(tiktok).replace(tiktok.app_secret, "wrong-secret"))
    add_us1(cli, tiktok_tokens(tiktok))
    assert cli("shops", "add", "amz1", "--platform", "amazon", "--region", "US", "--currency", "USD",
               "--timezone", "America/New_York", "--platform-shop-id", "ATVPDKIKX0DER")[0] == 0
    assert cli("shops", "add", "temu1", "--platform", "temu", "--region", "US", "--currency", "USD",
               "--timezone", "UTC")[0] == 0
    for run in (1, 2, 3):
        code, out, err = cli("sync")
        assert (code, out) == (1, "")
        lines = err.splitlines()
        assert lines[0] == ("skipped: shop amz1: no [platforms.amazon] credentials: set KPIBOT_AMAZON_CLIENT_ID and "
                            "KPIBOT_AMAZON_CLIENT_SECRET")
        assert [line.split(":")[0] for line in lines[1:6]] == [
            f"us1 {r}" for r in ("orders", "returns", "affiliate_orders", "lives", "products")]
        assert "FAILED after 0 pages, 0 records kept: auth: " in lines[1]
        assert lines[6:] == (["us1: unhealthy after 3 failed syncs in a row"] if run == 3 else [])
    code, out, _ = cli("shops", "list")
    us1 = next(line for line in out.splitlines() if line.startswith("us1 "))
    assert " unhealthy " in us1 and "orders: auth: " in us1
    assert cli("sync", "--shop", "temu1") == \
        (2, "", "kpibot: shop temu1 (temu) has no API: import its exports with kpibot import\n")


# --- import and attribute ------------------------------------------------------------------------------------------

def test_import_a_messy_export_all_or_nothing_or_skipping_bad_rows(cli: Cli, engine: Engine) -> None:
    add_us1(cli)
    messy = str(DATA / "tiktok_bad_orders.csv")
    code, out, err = cli("import", messy, "--preset", "tiktok_orders", "--shop", "us1", "--date-order", "mdy")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0] == ("kpibot: tiktok_bad_orders.csv: 10 problem(s), nothing imported (fix the file, or import the "
                        "good rows with --skip-bad-rows):")
    assert lines[1:3] == [
        "  line 4: order 576461234567890300: Order Amount is '15.00' on this line but '10.00' on line 3",
        "  line 5: Created Time: '13/45/2026 10:00:00 AM' is not a valid date and time (month must be in 1..12)"]
    assert len(lines) == 11
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == 0

    code, out, err = cli("import", messy, "--preset", "tiktok_orders", "--shop", "us1", "--skip-bad-rows",
                          "--date-order", "MDY")
    assert code == 0
    assert out == ("imported tiktok_bad_orders.csv into us1: 1 records (1 new, 0 updated, 0 unchanged, 0 pending); "
                   "10 bad rows skipped\n"
                   "attribution: 1 orders, 0 credited to creators, 0 self-referrals, 1 unattributed\n")
    assert err.splitlines()[0] == ("skipped line 4: order 576461234567890300: Order Amount is '15.00' on this line "
                                   "but '10.00' on line 3")
    assert len(err.splitlines()) == 10
    with Session(engine) as s:
        # the one good order: 3 x 2.00 + 1.00 shipping + 0.48 tax = 7.48, at 07:45 PM PST = 03:45 UTC
        order = s.execute(select(Order)).scalars().one()
        assert (order.platform_order_id, order.merchandise_minor, order.total_minor, order.created_at) == \
            ("576461234567890305", 600, 748, datetime(2026, 11, 27, 3, 45, tzinfo=UTC))

    # a file with other columns is refused with the missing ones and the presets that would fit
    code, out, err = cli("import", str(DATA / "videos.csv"), "--preset", "live_sessions", "--shop", "us1")
    assert (code, out) == (2, "")
    assert err == ("kpibot: nothing imported: videos.csv does not fit live_sessions: missing column(s) session_id, "
                   "started_at, ended_at, gmv, viewers. The file's columns: post_id, author, published_at, views, "
                   "likes, comments, … (11 in all). Its columns fit: videos. To import it as live_sessions, map its "
                   "columns with --mapping FILE (a TOML mapping file; its form is at the top of "
                   "bot/shops/files.py).\n")
    assert cli("import", str(DATA / "nope.csv"), "--preset", "videos", "--shop", "us1") == \
        (2, "", f"kpibot: no file {DATA / 'nope.csv'}\n")


MINIMAL_TIKTOK = ("Order ID,Order Status,SKU ID,Product Name,Quantity,SKU Subtotal Before Discount,"
                  "SKU Subtotal After Discount,Order Amount,Created Time,Country\n")


def _orders_csv(path: Path, n: int, last: str = "") -> None:
    """n one-line orders (10..n+9), 11's second line at the very end (its rows apart), then `last`."""
    rows = [f"{i},Completed,{i % 7},Mug {i},1,5.00,5.00,{'9.00' if i == 11 else '5.00'},2026-11-03 10:00:00,US\n"
            for i in range(10, n + 10)]
    rows.append("11,Completed,99,Saucer,1,4.00,4.00,9.00,2026-11-03 10:00:00,US\n")
    path.write_text(MINIMAL_TIKTOK + "".join(rows) + last, encoding="utf-8")


def test_an_import_bigger_than_one_batch_is_exact_and_a_bad_last_row_writes_nothing(
        cli: Cli, engine: Engine, tmp_path: Path) -> None:
    """2,100 orders are three of the CLI's batches of 1,000 records (bot.shops.files.BATCH_RECORDS)."""
    add_us1(cli)
    bad = tmp_path / "bad.csv"
    _orders_csv(bad, 2100, last="9999,Completed,1,Mug,-1,5.00,5.00,5.00,2026-11-03 10:00:00,US\n")
    code, out, err = cli("import", str(bad), "--preset", "tiktok_orders", "--shop", "us1")
    assert (code, out, err) == (2, "", "kpibot: bad.csv: 1 problem(s), nothing imported (fix the file, or import "
                                       "the good rows with --skip-bad-rows):\n"
                                       "  line 2103: Quantity: '-1' is negative\n")
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == 0
    good = tmp_path / "good.csv"
    _orders_csv(good, 2100)
    code, out, err = cli("import", str(good), "--preset", "tiktok_orders", "--shop", "us1")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ("imported good.csv into us1: 2100 records (2100 new, 0 updated, 0 unchanged, "
                                   "0 pending)")
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Order)).scalar_one() == 2100
        assert s.execute(select(func.count()).select_from(OrderLine)).scalar_one() == 2101
        eleven = s.execute(select(Order).where(Order.platform_order_id == "11")).scalars().one()
        assert (eleven.merchandise_minor, eleven.total_minor) == (900, 900)
        assert s.execute(select(func.max(Order.created_at))).scalar_one() == datetime(2026, 11, 3, 18, tzinfo=UTC)


def test_import_date_order_and_encoding_flags(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    add_us1(cli)
    ambiguous = tmp_path / "ambiguous.csv"
    ambiguous.write_text(MINIMAL_TIKTOK + "1,Completed,9,Mug,1,5.00,5.00,5.00,03/11/2026 10:00:00,US\n",
                         encoding="utf-8")
    assert cli("import", str(ambiguous), "--preset", "tiktok_orders", "--shop", "us1") == (
        2, "", "kpibot: nothing imported: ambiguous.csv: no date in the file shows whether it is day/month or "
               "month/day (line 2 has '03/11/2026 10:00:00'); pass --date-order dmy or --date-order mdy (in a "
               "mapping file: date_order = \"dmy\")\n")
    code, _, err = cli("import", str(ambiguous), "--preset", "tiktok_orders", "--shop", "us1", "--date-order", "dmy")
    assert (code, err) == (0, "")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((MINIMAL_TIKTOK + "2,Completed,8,景德镇陶瓷杯,1,5.00,5.00,5.00,2026-11-02 10:00:00,美国\n")
                    .encode("gbk"))
    code, _, err = cli("import", str(gbk), "--preset", "tiktok_orders", "--shop", "us1", "--encoding", "gbk")
    assert (code, err) == (0, "")
    with Session(engine) as s:
        assert s.execute(select(Order.platform_order_id, Order.created_at).order_by(Order.platform_order_id)).all() \
            == [("1", datetime(2026, 11, 3, 18, tzinfo=UTC)), ("2", datetime(2026, 11, 2, 18, tzinfo=UTC))]
        assert s.execute(select(Product.name).order_by(Product.id)).scalars().all() == ["Mug", "景德镇陶瓷杯"]


def test_import_summary_says_which_date_order_the_file_proved(cli: Cli, tmp_path: Path) -> None:
    """Inferred from the file, the order is named with the date that proved it, as the encoding is; given with
    --date-order (or by ISO dates needing none), the summary says nothing of it."""
    add_us1(cli)
    days = tmp_path / "days.csv"
    days.write_text(MINIMAL_TIKTOK + "1,Completed,9,Mug,1,5.00,5.00,5.00,03/11/2026 10:00:00,US\n"
                    "2,Completed,9,Mug,1,5.00,5.00,5.00,04/11/2026 10:00:00,US\n"
                    "3,Completed,9,Mug,1,5.00,5.00,5.00,25/11/2026 10:00:00,US\n", encoding="utf-8")
    assert cli("import", str(days), "--preset", "tiktok_orders", "--shop", "us1")[:2] == (
        0, "imported days.csv into us1: 3 records (3 new, 0 updated, 0 unchanged, 0 pending); dates read as "
           "day/month (line 4: 25/11/2026 10:00:00)\n"
           "attribution: 3 orders, 0 credited to creators, 0 self-referrals, 3 unattributed\n")
    months = tmp_path / "months.csv"
    months.write_bytes((MINIMAL_TIKTOK + "4,Completed,9,景德镇陶瓷杯,1,5.00,5.00,5.00,11/25/2026 10:00:00,美国\n")
                       .encode("gbk"))
    assert cli("import", str(months), "--preset", "tiktok_orders", "--shop", "us1")[:2] == (
        0, "imported months.csv into us1: 1 records (1 new, 0 updated, 0 unchanged, 0 pending); read as GB18030; "
           "dates read as month/day (line 2: 11/25/2026 10:00:00)\n"
           "attribution: 1 orders, 0 credited to creators, 0 self-referrals, 1 unattributed\n")
    assert cli("import", str(days), "--preset", "tiktok_orders", "--shop", "us1", "--date-order", "dmy")[:2] == (
        0, "imported days.csv into us1: 3 records (0 new, 0 updated, 3 unchanged, 0 pending)\n")


def test_import_through_a_mapping_file_then_attribute_everything_again(cli: Cli) -> None:
    assert cli("shops", "add", "temu1", "--platform", "temu", "--region", "US", "--currency", "USD",
               "--timezone", "America/Los_Angeles")[0] == 0
    code, out, err = cli("import", str(DATA / "temu_orders.csv"), "--preset", "temu_orders", "--shop", "temu1",
                         "--mapping", str(DATA / "temu_mapping.toml"), "--skip-bad-rows")
    assert (code, out, err) == (
        0, "imported temu_orders.csv into temu1: 2 records (2 new, 0 updated, 0 unchanged, 0 pending); "
           "1 bad rows skipped\nattribution: 2 orders, 0 credited to creators, 0 self-referrals, 2 unattributed\n",
        "skipped line 6: order PO-211-003: this line is in EUR but line 5 is in USD\n")
    imported = 2
    assert cli("attribute", "--shop", "temu1") == \
        (0, "attribution: 0 orders, 0 credited to creators, 0 self-referrals, 0 unattributed\n", "")
    assert cli("attribute", "--all") == \
        (0, f"attribution: {imported} orders, 0 credited to creators, 0 self-referrals, {imported} unattributed\n", "")


def test_a_swiss_franc_shop_is_added_and_its_export_imported(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    # CHF was missing from the old hand list of currencies: such a shop could not even be added
    assert cli("shops", "add", "ch1", "--platform", "temu", "--region", "CH", "--currency", "chf",
               "--timezone", "Europe/Zurich")[::2] == (0, "")
    mapping = tmp_path / "temu_chf.toml"      # the Temu mapping without its currency: the shop's CHF applies
    mapping.write_text((DATA / "temu_mapping.toml").read_text(encoding="utf-8").replace('currency = "USD"\n', ""),
                       encoding="utf-8")
    export = tmp_path / "temu_chf.csv"
    export.write_text(
        "Order number,Order status,Item ID,Goods name,Quantity,Base price,Item total,Currency,Shipping fee,"
        "Order total,Purchase time,Buyer\n"
        "CH-1,Shipped,701,Watch Strap,2,CHF 12.50,CHF 25.00,CHF,4.90,29.90,2026-11-02 10:00:00,buyer_a\n"
        "CH-2,Processing by warehouse,702,Pocket Knife,1,39.95 chf,39.95,,0.00,39.95,2026-11-03 23:59:59,buyer_b\n",
        encoding="utf-8")
    code, out, err = cli("import", str(export), "--preset", "temu_orders", "--shop", "ch1", "--mapping", str(mapping))
    assert (code, out, err) == (
        0, "imported temu_chf.csv into ch1: 2 records (2 new, 0 updated, 0 unchanged, 0 pending)\n"
           "attribution: 2 orders, 0 credited to creators, 0 self-referrals, 2 unattributed\n", "")
    with Session(engine) as s:
        orders = s.execute(select(Order).order_by(Order.platform_order_id)).scalars().all()
        # Zurich is UTC+1 in November: 10:00 local = 09:00 UTC
        assert [(o.platform_order_id, o.currency, o.merchandise_minor, o.shipping_minor, o.total_minor,
                 o.created_at) for o in orders] == [
            ("CH-1", "CHF", 2500, 490, 2990, datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
            ("CH-2", "CHF", 3995, 0, 3995, datetime(2026, 11, 3, 22, 59, 59, tzinfo=UTC))]
    code, out, err = cli("shops", "list")
    assert (code, err, out.splitlines()[1]) == (
        0, "", "ch1          temu         CH     CHF  -          -       never synced -                 -")


def test_a_creators_own_buyer_id_flags_their_orders_hashed_with_the_stores_key(cli: Cli, engine: Engine) -> None:
    cli.config.write_text(cli.config.read_text(encoding="utf-8") + 'buyer_key = "k3y"\n', encoding="utf-8")
    with Session(engine) as s:
        org = Organisation(code="o", name="Org")
        s.add(org)
        s.flush()
        shop = Shop(org_id=org.id, code="us1", name="US", platform="tiktok_shop", region="US", currency="USD",
                    timezone="America/Los_Angeles")
        mia = Creator(org_id=org.id, handle="@glowwithmia", platform="tiktok_shop", name="Mia")
        s.add_all([shop, mia])
        s.flush()
        s.add(PromoCode(org_id=org.id, creator_id=mia.id, code="MIA15", shop_id=None))
        s.commit()
        shop_id = shop.id or 0
    StoreWriter(engine, b"k3y").write_page(shop_id, [_order("O1", buyer_ref="b1", promo_codes=("MIA15",)),
                                                     _order("O2", buyer_ref="b2", promo_codes=("MIA15",)),
                                                     _order("O3", buyer_ref="b1")])
    assert attribute_orders(engine) == AttributionCounts(orders=3, credited=2, unattributed=1, changed=2)

    assert cli("creators", "own-buyer", "GlowWithMia", " b1 ") == (
        0, "@glowwithmia: own buyer id recorded (tiktok_shop)\n"
           "attribution: 3 orders, 1 credited to creators, 1 self-referrals, 1 unattributed\n", "")
    with Session(engine) as s:
        rules = dict(s.execute(select(Order.platform_order_id, Order.attribution_rule)).all())
    assert rules == {"O1": "self_referral", "O2": "promo_code", "O3": None}
    assert cli("creators", "own-buyer", "glowwithmia", "b1") == (
        0, "@glowwithmia: own buyer id already known (tiktok_shop)\n", "")
    assert cli("creators", "own-buyer", "nobody", "b1") == (
        2, "", "kpibot: no creator 'nobody'; creators: glowwithmia\n")
