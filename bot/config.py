"""Configuration: a TOML file (or built-in defaults) plus secrets from the environment.

Each section is declared once below, as a pydantic dataclass with its types, defaults and checks; pydantic-settings
merges the KPIBOT_* variables (named by `Env` on their keys) over the file, the environment winning. Secrets are
`SecretStr`: they show as '**********' in repr and logs, and readers call `.get_secret_value()`.

Every problem becomes a `ConfigError` naming the key and the file, which the CLI prints as one line
with exit code 2. Unknown keys are errors too: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.dataclasses import dataclass, is_pydantic_dataclass
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from scoring.alerts import AlertRules, in_quiet_hours
from scoring.languages import LOCALE_HINT, supported_locale
from scoring.money import UnknownCurrency, exponent
from scoring.periods import is_zone
from scoring.rules import DEFAULT_GRADE_BANDS, CountOrdersAt, Rules
from scoring.sendtime import parse_hhmm
from services.appeal_routing import AppealRules

DEFAULT_FILE = Path("config.toml")
BUILT_IN = "<built-in defaults>"
SECTION = ConfigDict(extra="forbid")


class ConfigError(Exception):
    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


class Env(NamedTuple):
    """The environment variable that may set a key instead of the file (the environment wins). `turns_on`: set
    alone, it turns its optional section on (the app id does; a secret alone must not switch a platform on)."""

    name: str
    turns_on: bool = False


# --- value checks: each raises ValueError with the message the user sees after the key -------------------------

def _check(ok: Callable[[Any], bool], problem: str) -> AfterValidator:
    """Refuses a value `ok` rejects; `problem` may show it as {value}."""
    def check(value: Any) -> Any:
        if not ok(value):
            raise ValueError(problem.format(value=value))
        return value
    return AfterValidator(check)


def _zone(value: str) -> str:
    if is_zone(value):
        return value
    raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)")


def _currency(code: str) -> str:
    try:
        exponent(code)
    except UnknownCurrency:
        raise ValueError(f"unknown currency {code!r}") from None
    return code


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _decimal(value: object) -> Decimal:
    """A TOML number or a numeric string, exactly: 0.1 is Decimal("0.1"), never the float's binary expansion."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise InvalidOperation
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
        return number
    except InvalidOperation:
        raise ValueError(f"must be a number, got {value!r}") from None


def _hhmm(value: object) -> time:
    if isinstance(value, time):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError
        return parse_hhmm(value)
    except ValueError:
        raise ValueError(f'must be "HH:MM", got {value!r}') from None


def _count_orders_at(value: object) -> CountOrdersAt:
    if not isinstance(value, str) or value not in {c.value for c in CountOrdersAt}:
        raise ValueError(f'must be "paid" or "shipped", got {value!r}')
    return CountOrdersAt(value)


def _blank_is_none(value: object) -> object:
    return value or None


Zone = Annotated[str, AfterValidator(_zone)]
Currency = Annotated[str, AfterValidator(_currency)]
Url = Annotated[str, AfterValidator(_url)]
Number = Annotated[Decimal, BeforeValidator(_decimal)]
HHMM = Annotated[time, BeforeValidator(_hhmm)]
EmptyIsNone = BeforeValidator(_blank_is_none)   # an empty string in the file means "not set"
Locale = Annotated[str, _check(supported_locale, f"must be {LOCALE_HINT}, got {{value!r}}")]
GradeFloors = Annotated[dict[str, Number], _check(lambda g: bool(g) and min(g.values()) == 0,
                                                  "the lowest grade must start at 0, e.g. D = 0")]


# --- the sections ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, config=SECTION)
class StoreConfig:
    # SecretStr: a PostgreSQL URL carries the password
    url: Annotated[SecretStr, Env("KPIBOT_STORE_URL")] = SecretStr("sqlite:///kpibot.db")
    # the secret that pseudonymises buyer ids (storage.ingest.writer.hash_buyer); keep it once chosen
    buyer_key: Annotated[SecretStr | None, Env("KPIBOT_BUYER_KEY"), EmptyIsNone] = None
    # `kpibot run` only: how often to try a store that cannot be reached at start-up (a database still starting)
    # before giving up, and the first wait between tries (doubling, at most 30 s)
    start_attempts: Annotated[StrictInt, _check(lambda v: v >= 1, "must be at least 1, got {value}")] = 10
    start_backoff_s: Annotated[Number, _check(lambda v: 0 < v <= 60, "must be above 0 and at most 60, got {value}")] \
        = Decimal("1")


@dataclass(frozen=True, config=SECTION)
class OrgConfig:
    name: str = "My team"
    reporting_currency: Currency = "USD"
    timezone: Zone = "Asia/Shanghai"
    locale: Locale = "en"
    count_orders_at: Annotated[CountOrdersAt, BeforeValidator(_count_orders_at)] = CountOrdersAt.PAID
    net_refunds: StrictBool = True


@dataclass(frozen=True, config=SECTION)
class ScoringConfig:
    achievement_cap: Annotated[Number, _check(lambda v: v > 0, "must be positive")] = Decimal("1.5")
    # the lowest score that earns each grade; read sorted as grade_bands
    grades: GradeFloors = Field(default_factory=lambda: dict(DEFAULT_GRADE_BANDS))
    new_sku_hit_units: Annotated[StrictInt, _check(lambda v: v >= 1, "must be at least 1")] = 30
    refund_maturity_days: Annotated[StrictInt, _check(lambda v: 0 <= v <= 90, "must be between 0 and 90")] = 14

    @property
    def grade_bands(self) -> tuple[tuple[str, Decimal], ...]:
        """(grade, lowest score), best grade first."""
        return tuple(sorted(self.grades.items(), key=lambda band: band[1], reverse=True))


@dataclass(frozen=True, config=SECTION)
class FeishuConfig:
    app_id: Annotated[str, Env("KPIBOT_FEISHU_APP_ID", turns_on=True)]
    app_secret: Annotated[SecretStr, Env("KPIBOT_FEISHU_APP_SECRET")]
    domain: str = "https://open.feishu.cn"


@dataclass(frozen=True, config=SECTION)
class DingTalkConfig:
    client_id: Annotated[str, Env("KPIBOT_DINGTALK_CLIENT_ID", turns_on=True)]   # the app's AppKey (Client ID)
    client_secret: Annotated[SecretStr, Env("KPIBOT_DINGTALK_CLIENT_SECRET")]
    endpoint: Url = "https://api.dingtalk.com"          # Stream gateway, token, cards, robot messages
    media_endpoint: Url = "https://oapi.dingtalk.com"   # media upload (charts) lives on the older host
    card_template_id: Annotated[str | None, EmptyIsNone] = None   # kpibot's card template; else cards go as markdown
    robot_code: Annotated[str | None, EmptyIsNone] = None   # defaults to client_id (an app robot's robotCode: AppKey)

    @property
    def robot(self) -> str:
        return self.robot_code or self.client_id


@dataclass(frozen=True, config=SECTION)
class TikTokShopPlatform:
    """The TikTok Shop app (Partner Center); each shop's tokens are in the store. URLs None: the source's."""

    app_key: Annotated[str, Env("KPIBOT_TIKTOK_SHOP_APP_KEY", turns_on=True)]
    app_secret: Annotated[SecretStr, Env("KPIBOT_TIKTOK_SHOP_APP_SECRET")]
    base_url: Url | None = None          # https://open-api.tiktokglobalshop.com
    auth_url: Url | None = None          # https://auth.tiktok-shops.com (token refresh)


@dataclass(frozen=True, config=SECTION)
class ShopeePlatform:
    partner_id: Annotated[StrictInt, Env("KPIBOT_SHOPEE_PARTNER_ID", turns_on=True)]
    partner_key: Annotated[SecretStr, Env("KPIBOT_SHOPEE_PARTNER_KEY")]
    base_url: Url | None = None          # https://partner.shopeemobile.com


@dataclass(frozen=True, config=SECTION)
class AmazonPlatform:
    """The SP-API application's LWA credentials; each seller's refresh token is in the store."""

    client_id: Annotated[str, Env("KPIBOT_AMAZON_CLIENT_ID", turns_on=True)]
    client_secret: Annotated[SecretStr, Env("KPIBOT_AMAZON_CLIENT_SECRET")]
    endpoint: Url | None = None          # https://sellingpartnerapi-na.amazon.com (eu, fe for other regions)
    token_url: Url | None = None         # https://api.amazon.com/auth/o2/token


@dataclass(frozen=True, config=SECTION)
class ShopifyPlatform:
    """Shopify custom apps need no app credentials: each store's Admin API token is in the store."""

    api_version: Annotated[str | None, EmptyIsNone] = None   # the source's default when None
    base_url: Url | None = None          # instead of https://<shop>.myshopify.com (a proxy, or a test fake)


@dataclass(frozen=True, config=SECTION)
class PlatformsConfig:
    tiktok_shop: TikTokShopPlatform | None = None
    shopee: ShopeePlatform | None = None
    amazon: AmazonPlatform | None = None
    shopify: ShopifyPlatform = Field(default_factory=ShopifyPlatform)

    def get(self, platform: str) -> TikTokShopPlatform | ShopeePlatform | AmazonPlatform | ShopifyPlatform | None:
        """The app configuration of a shop platform, None when it is not configured (or not an API platform)."""
        return getattr(self, platform, None) if platform in PLATFORM_NAMES else None


PLATFORM_NAMES: tuple[str, ...] = tuple(PlatformsConfig.__pydantic_fields__)


@dataclass(frozen=True, config=SECTION)
class ScheduleConfig:
    refresh_minutes: Annotated[StrictInt, _check(lambda v: v >= 1, "must be at least 1")] = 30
    score_time: HHMM = time(6, 0)   # local, in each member's team's zone (bot.jobs.score_snapshots)


@dataclass(frozen=True, config=SECTION)
class AttributionConfig:
    # an order paid up to this long after a live session ended is still the host's (services.crediting)
    live_tail_minutes: Annotated[StrictInt, _check(lambda v: 0 <= v <= 1440, "must be between 0 and 1440")] = 30
    # a shift a host opened with /live start and never ended counts as this long (services.live_shifts)
    max_shift_hours: Annotated[StrictInt, _check(lambda v: 1 <= v <= 24, "must be between 1 and 24")] = 8


@dataclass(frozen=True, config=SECTION)
class CommissionConfig:
    # the highest rate a tier of a money-based plan may pay (1 = 100 % of the basis); `kpibot commission plan`
    # refuses more. A new-customers plan's rate is money per customer, not a share, and is not capped here.
    max_tier_rate: Annotated[Number, _check(lambda v: 0 < v <= 1, "must be above 0 and at most 1, got {value}")] \
        = Decimal(1)


@dataclass(frozen=True, config=SECTION)
class AppealsConfig:
    # a month may still be appealed this many days after it ends (services.appeals)
    window_days: Annotated[StrictInt, _check(lambda v: 0 <= v <= 366, "must be between 0 and 366")] = 7
    # an approver is reminded once a day when an appeal has waited this many days (bot.jobs.appeals) ...
    remind_after_days: Annotated[StrictInt, _check(lambda v: 1 <= v <= 60, "must be between 1 and 60")] = 2
    # ... and the appeal climbs to the next level (lead -> manager -> admin) after this many
    escalate_after_days: Annotated[StrictInt, _check(lambda v: 1 <= v <= 120, "must be between 1 and 120")] = 5

    @property
    def rules(self) -> AppealRules:
        return AppealRules(window=timedelta(days=self.window_days), remind_after=timedelta(days=self.remind_after_days),
                           escalate_after=timedelta(days=self.escalate_after_days))


@dataclass(frozen=True, config=SECTION)
class ChartsConfig:
    dir: str = "kpibot-charts"


@dataclass(frozen=True, config=SECTION)
class AlertsConfig:
    enabled: StrictBool = True
    behind_margin: Annotated[Number, _check(lambda v: 0 <= v < 1, "must be at least 0 and below 1, got {value}")] \
        = Decimal("0.10")
    from_day: Annotated[StrictInt, _check(lambda v: 1 <= v <= 28,
                                          "must be a day of the month from 1 to 28, got {value}")] = 5
    # the quiet hours come before the alert time, which is checked against them
    quiet_start: HHMM = time(22, 0)
    quiet_end: HHMM = time(8, 0)
    at: HHMM = Field(time(18, 0), validation_alias="time")

    @field_validator("at")
    @classmethod
    def _not_in_quiet_hours(cls, at: time, info: ValidationInfo) -> time:
        start, end = info.data.get("quiet_start"), info.data.get("quiet_end")
        if start is not None and end is not None and in_quiet_hours(at, AlertRules(quiet_start=start, quiet_end=end)):
            raise ValueError("falls in the quiet hours, so no alert would ever go out")
        return at

    @property
    def rules(self) -> AlertRules:
        return AlertRules(enabled=self.enabled, behind_margin=self.behind_margin, from_day=self.from_day, at=self.at,
                          quiet_start=self.quiet_start, quiet_end=self.quiet_end)


@dataclass(frozen=True, config=SECTION)
class FxConfig:
    """The daily exchange-rate job (bot.jobs.fx_rates): the ECB's euro reference rates, stored EUR-based; cards
    in any reporting currency convert through EUR cross rates. The history feed fills the days the store lacks
    (a first start, or a bot down for days), up to 90 days back."""

    enabled: StrictBool = True
    url: Url = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
    history_url: Url = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
    at: HHMM = Field(time(15, 30), validation_alias="time")   # UTC; the ECB publishes around 16:00 CET


@dataclass(frozen=True, config=SECTION)
class OpsConfig:
    """Running kpibot run as a service: the health and metrics endpoint, the log format, the watchdog of the
    chat connections and the bound on the drain at SIGTERM."""

    host: str = "127.0.0.1"              # where /healthz, /readyz and /metrics are served
    port: Annotated[StrictInt, Env("KPIBOT_OPS_PORT"),
                    _check(lambda v: 0 <= v <= 65535, "must be between 0 (off) and 65535")] = 0
    log_format: Literal["text", "json"] = "text"
    # a chat connection that has heard nothing from the platform this long is open but deaf: reconnect
    watchdog_seconds: Annotated[Number, _check(lambda v: v > 0, "must be positive")] = Decimal(300)
    # SIGTERM: the answers in flight get at most this long in all (orchestrators kill after 30 s)
    drain_seconds: Annotated[Number, _check(lambda v: v > 0, "must be positive")] = Decimal(25)


class Config(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    store: StoreConfig = Field(default_factory=StoreConfig)
    org: OrgConfig = Field(default_factory=OrgConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    feishu: FeishuConfig | None = None
    dingtalk: DingTalkConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    charts: ChartsConfig = Field(default_factory=ChartsConfig)
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    commission: CommissionConfig = Field(default_factory=CommissionConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    appeals: AppealsConfig = Field(default_factory=AppealsConfig)
    fx: FxConfig = Field(default_factory=FxConfig)
    platforms: PlatformsConfig = Field(default_factory=PlatformsConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    _source: str = PrivateAttr(BUILT_IN)

    @property
    def source(self) -> str:
        """The file read, or BUILT_IN."""
        return self._source

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

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The KPIBOT_* variables over the file (given as keyword arguments). Not pydantic-settings' own environment
        source, which would read variables named after the sections (STORE, ORG), nor .env or secrets files."""
        file = getattr(init_settings, "init_kwargs", {})
        return _Environment(settings_cls, file), init_settings


# --- the environment ------------------------------------------------------------------------------------------

def _env(info: FieldInfo) -> Env | None:
    return next((m for m in info.metadata if isinstance(m, Env)), None)


def _section(info: FieldInfo) -> Any:
    """The section class a field holds (X or X | None), else None."""
    return next((t for t in (info.annotation, *get_args(info.annotation)) if is_pydantic_dataclass(t)), None)


def _key(name: str, info: FieldInfo) -> str:
    return info.validation_alias if isinstance(info.validation_alias, str) else name


def _from_environment(fields: Mapping[str, FieldInfo], file: Mapping[str, Any]) -> dict[str, Any]:
    """The values the KPIBOT_* variables set, as nested tables. An optional section takes them only when the file
    has it or one of its `turns_on` variables is set."""
    found: dict[str, Any] = {}
    for name, info in fields.items():
        key, env, section = _key(name, info), _env(info), _section(info)
        if env is not None:
            raw = os.environ.get(env.name)
            if raw:   # text; a number is read from it when the key holds one (else validation names the variable)
                found[key] = int(raw) if info.annotation is int and raw.strip().isdigit() else raw
        elif section is not None and isinstance(file.get(key, {}), dict):   # not a table: that stays the error
            inner = section.__pydantic_fields__
            values = _from_environment(inner, file.get(key, {}))
            turned_on = any((e := _env(i)) and e.turns_on and os.environ.get(e.name) for i in inner.values())
            if values and (info.default is not None or key in file or turned_on):
                found[key] = values
    return found


class _Environment(PydanticBaseSettingsSource):
    """pydantic-settings' source for the KPIBOT_* variables named by `Env` on the sections' keys."""

    def __init__(self, settings_cls: type[BaseSettings], file: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.file = file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False   # unused: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        return _from_environment(self.settings_cls.model_fields, self.file)


def _leaves(fields: Mapping[str, FieldInfo], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], FieldInfo]:
    """Every key of the file by its path, e.g. ("platforms", "shopee", "partner_key")."""
    found: dict[tuple[str, ...], FieldInfo] = {}
    for name, info in fields.items():
        section = _section(info)
        here = (*path, _key(name, info))
        found.update(_leaves(section.__pydantic_fields__, here) if section is not None else {here: info})
    return found


KEYS = _leaves(Config.model_fields)


# --- loading --------------------------------------------------------------------------------------------------

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
    for name in data:   # before pydantic-settings sees them: a table such as [_env_file] would be its own option
        if name not in Config.model_fields:
            raise ConfigError(source, f"[{name}]", "unknown section")
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise _one_line(source, exc) from None
    config._source = source
    return config


_EXPECTED = {"string_type": "a string", "int_type": "a whole number", "int_from_float": "a whole number",
             "int_parsing": "a whole number", "bool_type": "true or false", "bool_parsing": "true or false",
             "dict_type": "a table"}


def _one_line(source: str, exc: ValidationError) -> ConfigError:
    """pydantic's first error as "[section] key: problem", in the words the user needs (no pydantic URL)."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in error["loc"])
    depth = 2 if loc[0] == "platforms" and len(loc) > 1 else 1
    section, rest = loc[:depth], loc[depth:]
    key = f"[{'.'.join(section)}]" + (f" {'.'.join(rest)}" if rest else "")
    info = KEYS.get(loc)
    env = _env(info) if info is not None else None
    kind = error["type"]
    if kind in ("missing", "missing_argument"):
        return ConfigError(source, key, f"missing (or set {env.name})" if env else "missing")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        if rest:
            problem = "unknown key"
        elif depth == 2:
            problem = f"unknown platform (platforms: {', '.join(PLATFORM_NAMES)})"
        else:
            problem = "unknown section"
        return ConfigError(source, key, problem)
    secret = info is not None and SecretStr in (info.annotation, *get_args(info.annotation))
    got = "" if secret else f", got {error['input']!r}"   # a secret's value is never repeated
    if kind in ("dataclass_type", "model_type"):
        problem = "must be a table"
    elif kind in _EXPECTED:
        problem = f"must be {_EXPECTED[kind]}{got}"
    elif kind == "value_error":
        problem = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        problem = error["msg"]
    if env is not None and os.environ.get(env.name):
        problem += f" (from {env.name})"
    return ConfigError(source, key, problem)
