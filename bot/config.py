"""Configuration: a TOML file (or built-in defaults) plus secrets from the environment.

Every problem becomes a `ConfigError` naming the key and the file, which the CLI prints as one line
with exit code 2. Unknown keys are errors too: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scoring.alerts import AlertRules, in_quiet_hours
from scoring.money import is_currency
from scoring.rules import DEFAULT_GRADE_BANDS, CountOrdersAt, Rules
from scoring.sendtime import parse_hhmm

DEFAULT_FILE = Path("config.toml")
BUILT_IN = "<built-in defaults>"

# Secrets may come from the environment instead of the file; the environment wins.
SECRET_ENV = {
    ("feishu", "app_id"): "KPIBOT_FEISHU_APP_ID",
    ("feishu", "app_secret"): "KPIBOT_FEISHU_APP_SECRET",
    ("dingtalk", "client_id"): "KPIBOT_DINGTALK_CLIENT_ID",
    ("dingtalk", "client_secret"): "KPIBOT_DINGTALK_CLIENT_SECRET",
    ("store", "url"): "KPIBOT_STORE_URL",
    ("store", "buyer_key"): "KPIBOT_BUYER_KEY",
    ("platforms.tiktok_shop", "app_key"): "KPIBOT_TIKTOK_SHOP_APP_KEY",
    ("platforms.tiktok_shop", "app_secret"): "KPIBOT_TIKTOK_SHOP_APP_SECRET",
    ("platforms.shopee", "partner_id"): "KPIBOT_SHOPEE_PARTNER_ID",
    ("platforms.shopee", "partner_key"): "KPIBOT_SHOPEE_PARTNER_KEY",
    ("platforms.amazon", "client_id"): "KPIBOT_AMAZON_CLIENT_ID",
    ("platforms.amazon", "client_secret"): "KPIBOT_AMAZON_CLIENT_SECRET",
}
# A platform section is read when it is in the file or its app id is in the environment.
PLATFORM_ID_ENV = {"tiktok_shop": "KPIBOT_TIKTOK_SHOP_APP_KEY", "shopee": "KPIBOT_SHOPEE_PARTNER_ID",
                   "amazon": "KPIBOT_AMAZON_CLIENT_ID"}


class ConfigError(Exception):
    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///kpibot.db"
    # the secret that pseudonymises buyer ids (storage.ingest.writer.hash_buyer); keep it once chosen
    buyer_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OrgConfig:
    name: str = "My team"
    reporting_currency: str = "USD"
    timezone: str = "Asia/Shanghai"
    locale: str = "en"
    count_orders_at: CountOrdersAt = CountOrdersAt.PAID
    net_refunds: bool = True


@dataclass(frozen=True)
class ScoringConfig:
    achievement_cap: Decimal = Decimal("1.5")
    grade_bands: tuple[tuple[str, Decimal], ...] = DEFAULT_GRADE_BANDS
    new_sku_hit_units: int = 30
    refund_maturity_days: int = 14


@dataclass(frozen=True)
class FeishuConfig:
    app_id: str
    app_secret: str
    domain: str = "https://open.feishu.cn"


@dataclass(frozen=True)
class DingTalkConfig:
    client_id: str                       # the app's AppKey (Client ID)
    client_secret: str
    endpoint: str = "https://api.dingtalk.com"          # Stream gateway, token, cards, robot messages
    media_endpoint: str = "https://oapi.dingtalk.com"   # media upload (charts) lives on the older host
    card_template_id: str | None = None  # kpibot's card template; without it cards go out as markdown
    robot_code: str | None = None        # defaults to client_id (an app robot's robotCode is its AppKey)

    @property
    def robot(self) -> str:
        return self.robot_code or self.client_id


@dataclass(frozen=True)
class TikTokShopPlatform:
    """The TikTok Shop app (Partner Center); each shop's tokens are in the store. URLs None: the source's."""

    app_key: str
    app_secret: str = field(repr=False)
    base_url: str | None = None          # https://open-api.tiktokglobalshop.com
    auth_url: str | None = None          # https://auth.tiktok-shops.com (token refresh)


@dataclass(frozen=True)
class ShopeePlatform:
    partner_id: int
    partner_key: str = field(repr=False)
    base_url: str | None = None          # https://partner.shopeemobile.com


@dataclass(frozen=True)
class AmazonPlatform:
    """The SP-API application's LWA credentials; each seller's refresh token is in the store."""

    client_id: str
    client_secret: str = field(repr=False)
    endpoint: str | None = None          # https://sellingpartnerapi-na.amazon.com (eu, fe for other regions)
    token_url: str | None = None         # https://api.amazon.com/auth/o2/token


@dataclass(frozen=True)
class ShopifyPlatform:
    """Shopify custom apps need no app credentials: each store's Admin API token is in the store."""

    api_version: str | None = None       # the source's default when None
    base_url: str | None = None          # instead of https://<shop>.myshopify.com (a proxy, or a test fake)


@dataclass(frozen=True)
class PlatformsConfig:
    tiktok_shop: TikTokShopPlatform | None = None
    shopee: ShopeePlatform | None = None
    amazon: AmazonPlatform | None = None
    shopify: ShopifyPlatform = field(default_factory=ShopifyPlatform)

    def get(self, platform: str) -> TikTokShopPlatform | ShopeePlatform | AmazonPlatform | ShopifyPlatform | None:
        """The app configuration of a shop platform, None when it is not configured (or not an API platform)."""
        return getattr(self, platform, None) if platform in PLATFORM_NAMES else None


PLATFORM_NAMES = ("tiktok_shop", "shopee", "amazon", "shopify")


@dataclass(frozen=True)
class ScheduleConfig:
    refresh_minutes: int = 30
    score_time: time = time(6, 0)   # local, in each member's zone (bot.jobs.score_snapshots)


@dataclass(frozen=True)
class ChartsConfig:
    dir: str = "kpibot-charts"


@dataclass(frozen=True)
class Config:
    source: str = BUILT_IN
    store: StoreConfig = field(default_factory=StoreConfig)
    org: OrgConfig = field(default_factory=OrgConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    feishu: FeishuConfig | None = None
    dingtalk: DingTalkConfig | None = None
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    charts: ChartsConfig = field(default_factory=ChartsConfig)
    alerts: AlertRules = field(default_factory=AlertRules)
    platforms: PlatformsConfig = field(default_factory=PlatformsConfig)

    @property
    def rules(self) -> Rules:
        return Rules(
            reporting_currency=self.org.reporting_currency,
            count_orders_at=self.org.count_orders_at,
            net_refunds=self.org.net_refunds,
            achievement_cap=self.scoring.achievement_cap,
            grade_bands=self.scoring.grade_bands,
            new_sku_hit_units=self.scoring.new_sku_hit_units,
            refund_maturity_days=self.scoring.refund_maturity_days,
        )


class _Reader:
    """Reads one table of the file, remembering which keys it consumed."""

    def __init__(self, source: str, section: str, table: dict[str, Any]) -> None:
        self.source, self.section, self.table, self.used = source, section, table, set()

    def key(self, name: str) -> str:
        return f"[{self.section}] {name}"

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.used.add(name)
        env = SECRET_ENV.get((self.section, name))
        if env and os.environ.get(env):   # text; a number is read from it when the key holds one
            raw = os.environ[env]
            if int not in (kind if isinstance(kind, tuple) else (kind,)):
                return raw
            if not raw.strip().isdigit():
                raise self.fail(name, f"must be a whole number, got {raw!r} (from {env})")
            return int(raw)
        if name not in self.table:
            if required:
                hint = f" (or set {env})" if env else ""
                raise self.fail(name, f"missing{hint}")
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = {"str": "a string", "int": "a whole number", "bool": "true or false", "dict": "a table",
                     "float": "a number"}
            wanted = " or ".join(names.get(k.__name__, k.__name__) for k in kinds)
            raise self.fail(name, f"must be {wanted}, got {value!r}")
        return value

    def finish(self) -> None:
        extra = sorted(set(self.table) - self.used)
        if extra:
            raise self.fail(extra[0], "unknown key")


def load_config(path: str | Path | None = None) -> Config:
    """Load `path`, else ./config.toml when it exists, else the built-in defaults."""
    if path is None:
        if not DEFAULT_FILE.exists():
            return parse_config({}, BUILT_IN)
        path = DEFAULT_FILE
    path = Path(path)
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, "file", "not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "syntax", str(exc)) from None
    return parse_config(data, source)


def parse_config(data: dict[str, Any], source: str) -> Config:
    sections = {"store", "org", "scoring", "feishu", "dingtalk", "schedule", "charts", "alerts", "platforms"}
    for name, value in data.items():
        if name not in sections:
            raise ConfigError(source, f"[{name}]", "unknown section")
        if not isinstance(value, dict):
            raise ConfigError(source, f"[{name}]", "must be a table")

    def reader(name: str) -> _Reader:
        return _Reader(source, name, data.get(name, {}))

    r = reader("store")
    store = StoreConfig(url=r.get("url", str, StoreConfig.url), buyer_key=r.get("buyer_key", str, None) or None)
    r.finish()

    r = reader("org")
    currency = r.get("reporting_currency", str, OrgConfig.reporting_currency)
    if not is_currency(currency):
        raise r.fail("reporting_currency", f"unknown currency {currency!r}")
    tz = _zone(r, "timezone", r.get("timezone", str, OrgConfig.timezone))
    locale = r.get("locale", str, OrgConfig.locale)
    if locale.split("-")[0] not in ("en", "zh"):
        raise r.fail("locale", f"must be en or zh-CN, got {locale!r}")
    count_at = r.get("count_orders_at", str, "paid")
    if count_at not in {c.value for c in CountOrdersAt}:
        raise r.fail("count_orders_at", f'must be "paid" or "shipped", got {count_at!r}')
    org = OrgConfig(name=r.get("name", str, OrgConfig.name), reporting_currency=currency, timezone=tz,
                    locale=locale, count_orders_at=CountOrdersAt(count_at),
                    net_refunds=r.get("net_refunds", bool, True))
    r.finish()

    r = reader("scoring")
    cap = _decimal(r, "achievement_cap", r.get("achievement_cap", (int, float, str), "1.5"))
    if cap <= 0:
        raise r.fail("achievement_cap", "must be positive")
    grades_raw = r.get("grades", dict, None)
    bands = DEFAULT_GRADE_BANDS
    if grades_raw is not None:
        bands = tuple(sorted(((g, _decimal(r, f"grades.{g}", v)) for g, v in grades_raw.items()),
                             key=lambda b: b[1], reverse=True))
        if not bands or bands[-1][1] != 0:
            raise r.fail("grades", "the lowest grade must start at 0, e.g. D = 0")
    hit_units = r.get("new_sku_hit_units", int, 30)
    if hit_units < 1:
        raise r.fail("new_sku_hit_units", "must be at least 1")
    maturity = r.get("refund_maturity_days", int, 14)
    if not 0 <= maturity <= 90:
        raise r.fail("refund_maturity_days", "must be between 0 and 90")
    scoring = ScoringConfig(achievement_cap=cap, grade_bands=bands, new_sku_hit_units=hit_units,
                            refund_maturity_days=maturity)
    r.finish()

    feishu = None
    if "feishu" in data or os.environ.get("KPIBOT_FEISHU_APP_ID"):
        r = reader("feishu")
        feishu = FeishuConfig(app_id=r.get("app_id", str, required=True),
                              app_secret=r.get("app_secret", str, required=True),
                              domain=r.get("domain", str, "https://open.feishu.cn"))
        r.finish()

    dingtalk = None
    if "dingtalk" in data or os.environ.get("KPIBOT_DINGTALK_CLIENT_ID"):
        r = reader("dingtalk")
        dingtalk = DingTalkConfig(client_id=r.get("client_id", str, required=True),
                                  client_secret=r.get("client_secret", str, required=True),
                                  endpoint=_url(r, "endpoint", r.get("endpoint", str, DingTalkConfig.endpoint)),
                                  media_endpoint=_url(r, "media_endpoint",
                                                      r.get("media_endpoint", str, DingTalkConfig.media_endpoint)),
                                  card_template_id=r.get("card_template_id", str) or None,
                                  robot_code=r.get("robot_code", str) or None)
        r.finish()

    r = reader("schedule")
    minutes = r.get("refresh_minutes", int, 30)
    if minutes < 1:
        raise r.fail("refresh_minutes", "must be at least 1")
    score_time = _hhmm(r, "score_time", r.get("score_time", str, "06:00"))
    schedule = ScheduleConfig(refresh_minutes=minutes, score_time=score_time)
    r.finish()

    r = reader("alerts")
    margin = _decimal(r, "behind_margin", r.get("behind_margin", (int, float, str), "0.10"))
    if not 0 <= margin < 1:
        raise r.fail("behind_margin", f"must be at least 0 and below 1, got {margin}")
    from_day = r.get("from_day", int, 5)
    if not 1 <= from_day <= 28:
        raise r.fail("from_day", f"must be a day of the month from 1 to 28, got {from_day}")
    times = {}
    for name, default in (("time", "18:00"), ("quiet_start", "22:00"), ("quiet_end", "08:00")):
        times[name] = _hhmm(r, name, r.get(name, str, default))
    alerts = AlertRules(enabled=r.get("enabled", bool, True), behind_margin=margin, from_day=from_day,
                        at=times["time"], quiet_start=times["quiet_start"], quiet_end=times["quiet_end"])
    if in_quiet_hours(alerts.at, alerts):
        raise r.fail("time", "falls in the quiet hours, so no alert would ever go out")
    r.finish()

    r = reader("charts")
    charts = ChartsConfig(dir=r.get("dir", str, ChartsConfig.dir))
    r.finish()

    platforms = _platforms(source, data.get("platforms", {}))

    return Config(source, store, org, scoring, feishu, dingtalk, schedule, charts, alerts, platforms)


def _platforms(source: str, data: dict[str, Any]) -> PlatformsConfig:
    """[platforms.tiktok_shop], [platforms.shopee], [platforms.amazon], [platforms.shopify]."""
    for name, value in data.items():
        if name not in PLATFORM_NAMES:
            raise ConfigError(source, f"[platforms.{name}]",
                              f"unknown platform (platforms: {', '.join(PLATFORM_NAMES)})")
        if not isinstance(value, dict):
            raise ConfigError(source, f"[platforms.{name}]", "must be a table")

    def wanted(name: str) -> _Reader | None:
        env = PLATFORM_ID_ENV.get(name)
        if name in data or (env and os.environ.get(env)):
            return _Reader(source, f"platforms.{name}", data.get(name, {}))
        return None

    tiktok = shopee = amazon = None
    if r := wanted("tiktok_shop"):
        tiktok = TikTokShopPlatform(app_key=r.get("app_key", str, required=True),
                                    app_secret=r.get("app_secret", str, required=True),
                                    base_url=_optional_url(r, "base_url"), auth_url=_optional_url(r, "auth_url"))
        r.finish()
    if r := wanted("shopee"):
        shopee = ShopeePlatform(partner_id=r.get("partner_id", int, required=True),
                                partner_key=r.get("partner_key", str, required=True),
                                base_url=_optional_url(r, "base_url"))
        r.finish()
    if r := wanted("amazon"):
        amazon = AmazonPlatform(client_id=r.get("client_id", str, required=True),
                                client_secret=r.get("client_secret", str, required=True),
                                endpoint=_optional_url(r, "endpoint"), token_url=_optional_url(r, "token_url"))
        r.finish()
    r = _Reader(source, "platforms.shopify", data.get("shopify", {}))
    shopify = ShopifyPlatform(api_version=r.get("api_version", str) or None, base_url=_optional_url(r, "base_url"))
    r.finish()
    return PlatformsConfig(tiktok, shopee, amazon, shopify)


def _optional_url(r: _Reader, name: str) -> str | None:
    value = r.get(name, str)
    return None if value is None else _url(r, name, value)


def _zone(r: _Reader, name: str, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder: IsADirectoryError
        raise r.fail(name, f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
    return value


def _url(r: _Reader, name: str, value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise r.fail(name, f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _decimal(r: _Reader, name: str, value: object) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
        return number
    except InvalidOperation:
        raise r.fail(name, f"must be a number, got {value!r}") from None


def _hhmm(r: _Reader, name: str, value: str) -> time:
    try:
        return parse_hhmm(value)
    except ValueError:
        raise r.fail(name, f'must be "HH:MM", got {value!r}') from None
