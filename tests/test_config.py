"""Configuration: defaults, the example file, environment secrets, and one clear line per mistake."""

from __future__ import annotations

import os
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import (
    KEYS,
    PLATFORM_NAMES,
    ConfigError,
    Env,
    ShopeePlatform,
    ShopifyPlatform,
    TikTokShopPlatform,
    load_config,
    parse_config,
)
from bot.shop_sources import API_PLATFORMS
from scoring.alerts import AlertRules
from scoring.rules import CountOrdersAt
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _no_kpibot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The configuration reads KPIBOT_* variables; these tests set the ones they mean, never the machine's."""
    for name in [n for n in os.environ if n.startswith("KPIBOT_")]:
        monkeypatch.delenv(name)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "kpibot.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.source == "<built-in defaults>"
    assert (config.store.url.get_secret_value(), config.store.buyer_key) == ("sqlite:///kpibot.db", None)
    assert (config.org.reporting_currency, config.org.count_orders_at, config.org.net_refunds) == \
        ("USD", CountOrdersAt.PAID, True)
    assert config.feishu is None and config.dingtalk is None
    assert (config.schedule.refresh_minutes, config.schedule.score_time) == (30, time(6, 0))


def test_config_toml_in_the_current_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text('[org]\nreporting_currency = "CNY"\n[schedule]\nscore_time = "07:45"\n',
                                          encoding="utf-8")
    assert (load_config().org.reporting_currency, load_config().schedule.score_time) == ("CNY", time(7, 45))


def test_the_example_file_is_valid_and_documents_every_section() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.scoring.achievement_cap == Decimal("1.5")
    assert config.rules.refund_maturity_days == 14
    assert [g for g, _ in config.scoring.grade_bands] == ["S", "A", "B", "C", "D"]
    assert config.alerts.rules == AlertRules()   # the example shows the defaults
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for section in ("[store]", "[org]", "[scoring]", "[feishu]", "[dingtalk]", "[schedule]", "[charts]",
                    "[commission]", "[alerts]",
                    "[platforms.tiktok_shop]", "[platforms.shopee]", "[platforms.amazon]", "[platforms.shopify]"):
        assert section in text


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPIBOT_FEISHU_APP_ID", "cli_env")
    monkeypatch.setenv("KPIBOT_FEISHU_APP_SECRET", "s3cret")
    config = load_config(write(tmp_path, '[feishu]\ndomain = "http://127.0.0.1:9"\n'))
    assert config.feishu is not None
    assert (config.feishu.app_id, config.feishu.app_secret.get_secret_value(), config.feishu.domain) == \
        ("cli_env", "s3cret", "http://127.0.0.1:9")


def test_the_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPIBOT_STORE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("KPIBOT_BUYER_KEY", "")                    # empty: not set, the file's value stays
    monkeypatch.setenv("KPIBOT_FEISHU_APP_ID", "cli_env")
    monkeypatch.setenv("KPIBOT_AMAZON_CLIENT_SECRET", "amzn-env")  # a secret alone does not turn Amazon on
    config = load_config(write(tmp_path, '[store]\nurl = "sqlite:///from-file.db"\nbuyer_key = "file-key"\n'
                                         '[feishu]\napp_id = "cli_file"\napp_secret = "file-secret"\n'))
    assert config.feishu is not None and config.store.buyer_key is not None
    assert (config.store.url.get_secret_value(), config.store.buyer_key.get_secret_value(), config.feishu.app_id,
            config.feishu.app_secret.get_secret_value(), config.platforms.amazon) == \
        ("sqlite:///from-env.db", "file-key", "cli_env", "file-secret", None)


def test_secrets_never_show_in_repr_or_str(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPIBOT_DINGTALK_CLIENT_SECRET", "ding-env-secret")
    config = load_config(write(tmp_path, '[store]\nurl = "postgresql+psycopg://kpibot:pg-pass@db/kpibot"\n'
                                         'buyer_key = "buyer-k3y"\n'
                                         '[feishu]\napp_id = "cli_x"\napp_secret = "feishu-s3cret"\n'
                                         '[dingtalk]\nclient_id = "ding_x"\n'
                                         '[platforms.tiktok_shop]\napp_key = "6abc"\napp_secret = "tts-s3cret"\n'
                                         '[platforms.shopee]\npartner_id = 7\npartner_key = "shpk-s3cret"\n'
                                         '[platforms.amazon]\nclient_id = "amzn"\nclient_secret = "amzn-s3cret"\n'))
    secrets = ("pg-pass", "buyer-k3y", "feishu-s3cret", "ding-env-secret", "tts-s3cret", "shpk-s3cret", "amzn-s3cret")
    shown = repr(config) + str(config) + repr(config.platforms) + str(config.store)
    assert [s for s in secrets if s in shown] == []
    assert config.dingtalk is not None and config.dingtalk.client_secret.get_secret_value() == "ding-env-secret"


def test_a_secret_of_the_wrong_type_is_not_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, '[feishu]\napp_id = "cli_x"\napp_secret = 12345\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: [feishu] app_secret: must be a string"


def test_every_environment_variable_is_documented() -> None:
    names = {m.name for info in KEYS.values() for m in info.metadata if isinstance(m, Env)}
    assert len(names) == 13
    for doc in ("README.md", "config.example.toml"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert sorted(n for n in names if f"`{n}`" not in text and f"#   {n} " not in text) == []


def test_the_command_line_names_the_same_platforms() -> None:
    assert PLATFORM_NAMES == API_PLATFORMS


@pytest.mark.parametrize(("body", "key", "problem"), [
    ('[org]\ncount_orders_at = "delivered"\n', "[org] count_orders_at", 'must be "paid" or "shipped"'),
    ('[org]\nreporting_currency = "XYZ"\n', "[org] reporting_currency", "unknown currency 'XYZ'"),
    ('[org]\nreporting_currency = "XAU"\n', "[org] reporting_currency", "unknown currency 'XAU'"),
    ('[org]\ntimezone = "Mars/Olympus"\n', "[org] timezone", "unknown time zone 'Mars/Olympus'"),
    ('[org]\nlocale = "fr-FR"\n', "[org] locale", "must be en, zh-CN or id-ID, got 'fr-FR'"),
    ("[org]\nnet_refunds = \"yes\"\n", "[org] net_refunds", "must be true or false, got 'yes'"),
    ("[org]\nnet_refund = true\n", "[org] net_refund", "unknown key"),
    ("[stroe]\nurl = \"x\"\n", "[stroe]", "unknown section"),
    ("[feishu]\napp_id = \"cli_x\"\n", "[feishu] app_secret", "missing (or set KPIBOT_FEISHU_APP_SECRET)"),
    ("[schedule]\nrefresh_minutes = 0\n", "[schedule] refresh_minutes", "must be at least 1"),
    ("[schedule]\nscore_time = \"25:00\"\n", "[schedule] score_time", 'must be "HH:MM"'),
    ("[scoring]\ngrades = { A = 90, B = 10 }\n", "[scoring] grades", "the lowest grade must start at 0"),
    ("[scoring]\nachievement_cap = \"lots\"\n", "[scoring] achievement_cap", "must be a number"),
    ("[scoring]\nachievement_cap = nan\n", "[scoring] achievement_cap", "must be a number"),
    ("[scoring]\nrefund_maturity_days = -1\n", "[scoring] refund_maturity_days", "must be between 0 and 90"),
    ('[org]\ntimezone = "Asia"\n', "[org] timezone", "unknown time zone 'Asia'"),
    ("[org\n", "syntax", "Expected ']'"),
    ('[alerts]\ntime = "23:00"\n', "[alerts] time", "falls in the quiet hours, so no alert would ever go out"),
    ("[alerts]\nbehind_margin = 1\n", "[alerts] behind_margin", "must be at least 0 and below 1, got 1"),
    ("[scoring]\ngrades = { A = \"x\", D = 0 }\n", "[scoring] grades.A", "must be a number, got 'x'"),
    ("[dingtalk]\nclient_id = \"d\"\nclient_secret = \"s\"\nendpoint = \"api\"\n", "[dingtalk] endpoint",
     "must be an http(s) URL, got 'api'"),
    ('[store]\nbuyer_key = "k"\nurl = "x"\npool = 5\n', "[store] pool", "unknown key"),
])
def test_each_mistake_names_the_key_and_the_file(tmp_path: Path, body: str, key: str, problem: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize("locale", ["id", "id-ID", "zh-CN", "en"])
def test_the_org_locale_may_be_any_language_kpibot_speaks(locale: str) -> None:
    assert parse_config({"org": {"locale": locale}}, "x.toml").org.locale == locale


def test_any_iso_4217_currency_can_be_the_reporting_currency() -> None:
    config = parse_config({"org": {"reporting_currency": "CHF"}}, "x.toml")
    assert config.org.reporting_currency == "CHF"


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_grades_are_sorted_by_floor() -> None:
    config = parse_config({"scoring": {"grades": {"D": 0, "A": 90, "B": 75}}}, "x.toml")
    assert config.rules.grade_bands == (("A", Decimal(90)), ("B", Decimal(75)), ("D", Decimal(0)))


def test_shop_platforms_from_the_file_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPIBOT_TIKTOK_SHOP_APP_SECRET", "tts-env-secret")
    monkeypatch.setenv("KPIBOT_SHOPEE_PARTNER_ID", "2001887")      # the id alone turns the section on
    monkeypatch.setenv("KPIBOT_SHOPEE_PARTNER_KEY", "shpk-env")
    config = load_config(write(tmp_path, '[platforms.tiktok_shop]\napp_key = "6abc"\napp_secret = "in-file"\n'
                                         'base_url = "http://127.0.0.1:9/"\n'
                                         '[platforms.shopify]\napi_version = "2025-07"\n'))
    platforms = config.platforms
    assert platforms.tiktok_shop == TikTokShopPlatform("6abc", "tts-env-secret", "http://127.0.0.1:9", None)
    assert platforms.shopee == ShopeePlatform(2001887, "shpk-env", None)
    assert platforms.amazon is None and platforms.get("amazon") is None and platforms.get("temu") is None
    assert platforms.shopify == ShopifyPlatform("2025-07", None)
    assert "tts-env-secret" not in repr(config) and "shpk-env" not in repr(config)


def test_without_platform_sections_only_shopify_is_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    platforms = load_config().platforms
    assert (platforms.tiktok_shop, platforms.shopee, platforms.amazon) == (None, None, None)
    assert platforms.get("shopify") == ShopifyPlatform()


@pytest.mark.parametrize(("body", "env", "key", "problem"), [
    ("[platforms.lazada]\napp_key = \"x\"\n", {}, "[platforms.lazada]",
     "unknown platform (platforms: tiktok_shop, shopee, amazon, shopify)"),
    ("[platforms.tiktok_shop]\napp_key = \"x\"\n", {}, "[platforms.tiktok_shop] app_secret",
     "missing (or set KPIBOT_TIKTOK_SHOP_APP_SECRET)"),
    ("[platforms.amazon]\nclient_id = \"a\"\nclient_secret = \"b\"\nendpoint = \"sellingpartnerapi-na\"\n", {},
     "[platforms.amazon] endpoint", "must be an http(s) URL, got 'sellingpartnerapi-na'"),
    ("[platforms.shopee]\npartner_key = \"k\"\n", {"KPIBOT_SHOPEE_PARTNER_ID": "shop-1"},
     "[platforms.shopee] partner_id", "must be a whole number, got 'shop-1' (from KPIBOT_SHOPEE_PARTNER_ID)"),
    ("[platforms.shopee]\npartner_id = 1.5\npartner_key = \"k\"\n", {}, "[platforms.shopee] partner_id",
     "must be a whole number, got 1.5"),
    ("[platforms.shopify]\napi_verison = \"2025-07\"\n", {}, "[platforms.shopify] api_verison", "unknown key"),
    ("[platforms]\nshopee = 1\n", {}, "[platforms.shopee]", "must be a table"),
])
def test_each_platform_mistake_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str,
                                             env: dict[str, str], key: str, problem: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, body))
    assert (caught.value.key, caught.value.problem) == (key, problem)
