"""Builds the API client (`Source`) of a shop from its Shop row, the platform's app credentials in the
configuration and the shop's own tokens in the store (`DbTokenStore`).

What a shop needs, per platform (`Shop.platform_shop_id` and the tokens an admin stores with `kpibot shops
token`):

* tiktok_shop: `[platforms.tiktok_shop]`; tokens access_token, refresh_token (expires_at) and shop_cipher.
* shopee: `[platforms.shopee]`; platform_shop_id = the numeric shop_id; tokens refresh_token (access_token and
  expires_at optional: without them the first call refreshes). Shopee's refresh token is single-use: the
  source saves each new one atomically.
* amazon: `[platforms.amazon]`; platform_shop_id = the marketplace id(s), comma-separated; token refresh_token
  (the seller's LWA authorization).
* shopify: nothing in the configuration is required; platform_shop_id = the *.myshopify.com domain; token
  access_token (a custom app's Admin API token, which does not expire).

temu, shein and file shops have no API: their data comes from seller-center exports (`kpibot import`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from storage.ingest.records import FILE_PLATFORMS, Source, Tokens

# The store, the shop clients and the configuration's models (pydantic) are imported by the functions that build a
# source: the CLI reads the names below for its help, and parse_tokens needs none of them.
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.config import PlatformsConfig
    from storage.ingest.fetch_process import ProcessSource
    from storage.ingest.writer import StoreWriter
    from storage.models import Shop

# bot.config's PLATFORM_NAMES, the [platforms.*] sections (tests/test_config.py keeps the two equal)
API_PLATFORMS = ("tiktok_shop", "shopee", "amazon", "shopify")
RESOURCES = ("orders", "returns", "affiliate_orders", "lives")   # what the API sources offer, together
SHOP_PLATFORMS = (*API_PLATFORMS, *FILE_PLATFORMS)
TOKEN_FIELDS = ("access_token", "refresh_token", "expires_at", "refresh_expires_at", "shop_cipher")
# what each API platform needs in a shop's token set (one of the names in a tuple)
REQUIRED_TOKENS: dict[str, tuple[tuple[str, ...], ...]] = {
    "tiktok_shop": (("access_token", "refresh_token"), ("shop_cipher",)),
    "shopee": (("refresh_token",),),
    "amazon": (("refresh_token",),),
    "shopify": (("access_token",),),
}
# a bare token (not JSON, not key=value) means this field
BARE_TOKEN = {"shopify": "access_token", "amazon": "refresh_token", "shopee": "refresh_token"}
# what platform_shop_id holds, for the platforms that need it
SHOP_ID_NEEDED = {"shopee": "the numeric Shopee shop_id", "amazon": "the marketplace id(s), comma-separated",
                  "shopify": "the shop's *.myshopify.com domain"}


class NoSource(Exception):
    """The shop cannot be synced through an API; the message says why and what to do (no secrets)."""

    safe_message = True   # its text may cross from a source's own process (storage.ingest.fetch_process)


class TokensLocked(NoSource):
    """The shop's tokens are stored but KPIBOT_TOKEN_KEY is missing, malformed or does not open them: a failure
    the refresh records and counts (unlike a shop that has no API), since the shop stops syncing."""

    def __init__(self, code: str, reason: str) -> None:
        from storage.token_cipher import LOCKED_FIX

        super().__init__(f"shop {code}: {reason}; {LOCKED_FIX}")
        self.code, self.reason = code, reason   # reason: the shop's last error (storage.token_cipher LOCKED_*)

    def __reduce__(self) -> tuple[type[TokensLocked], tuple[str, str]]:   # raised again in the sync's process
        return type(self), (self.code, self.reason)


class NoCredentials(NoSource):
    """The shop's platform has no app credentials in the configuration ([platforms.<platform>]): like
    TokensLocked, a failure the refresh records and counts, since the shop stops syncing."""

    def __init__(self, code: str, platform: str) -> None:
        self.code, self.platform, self.reason = code, platform, credentials_missing(platform)   # its last error
        super().__init__(f"shop {code}: {self.reason}")

    def __reduce__(self) -> tuple[type[NoCredentials], tuple[str, str]]:   # raised again in the sync's process
        return type(self), (self.code, self.platform)


# the environment variables of each platform's app credentials (bot.config's Env names)
CREDENTIAL_ENV = {"tiktok_shop": ("KPIBOT_TIKTOK_SHOP_APP_KEY", "KPIBOT_TIKTOK_SHOP_APP_SECRET"),
                  "shopee": ("KPIBOT_SHOPEE_PARTNER_ID", "KPIBOT_SHOPEE_PARTNER_KEY"),
                  "amazon": ("KPIBOT_AMAZON_CLIENT_ID", "KPIBOT_AMAZON_CLIENT_SECRET")}
CREDENTIALS_MISSING = "no [platforms.{platform}] credentials"


def credentials_missing(platform: str) -> str:
    """The last error of a shop whose platform has no app credentials, naming what to set."""
    first, second = CREDENTIAL_ENV.get(platform, ("its app key", "secret"))
    return f"{CREDENTIALS_MISSING.format(platform=platform)}: set {first} and {second}"


def build_source(engine: Engine, shop: Shop, platforms: PlatformsConfig) -> Source:
    """The shop's API client (the caller closes it); NoSource when it has none or something is missing."""
    if shop.platform in FILE_PLATFORMS:
        raise NoSource(f"shop {shop.code} ({shop.platform}) has no API: import its exports with kpibot import")
    app = platforms.get(shop.platform)
    if app is None:
        raise NoCredentials(shop.code, shop.platform)
    if shop.platform in SHOP_ID_NEEDED and not (shop.platform_shop_id or "").strip():
        raise NoSource(f"shop {shop.code}: its platform shop id ({SHOP_ID_NEEDED[shop.platform]}) is not set")
    from bot.config import AmazonPlatform, ShopeePlatform, TikTokShopPlatform
    from storage.ingest.token_store import DbTokenStore
    from storage.token_cipher import LOCKED_BAD_KEY, TokenKeyError

    try:
        store = DbTokenStore(engine, shop.id or 0)
    except TokenKeyError:   # a malformed key
        raise TokensLocked(shop.code, LOCKED_BAD_KEY) from None
    # without a key a refreshed token could not be saved: a single-use refresh token would be lost
    reason = store.locked()
    if reason is not None:
        raise TokensLocked(shop.code, reason)
    try:
        tokens = store.load()
    except TokenKeyError as exc:
        raise NoSource(f"shop {shop.code}: {exc}") from None
    if tokens is None:
        raise NoSource(f"shop {shop.code}: no tokens stored; run: kpibot shops token {shop.code} --tokens-stdin")
    if isinstance(app, TikTokShopPlatform):
        from bot.shops.tiktok_shop import DEFAULT_AUTH_URL, DEFAULT_BASE_URL, TikTokShopSource

        return TikTokShopSource(app_key=app.app_key, app_secret=app.app_secret.get_secret_value(), tokens=store,
                                base_url=app.base_url or DEFAULT_BASE_URL,
                                auth_base_url=app.auth_url or DEFAULT_AUTH_URL, currency=shop.currency,
                                shop_tz=shop.timezone)
    if isinstance(app, ShopeePlatform):
        from bot.shops.shopee import LIVE_HOST, ShopeeSource

        shop_id = (shop.platform_shop_id or "").strip()
        if not shop_id.isdigit():
            raise NoSource(f"shop {shop.code}: the Shopee shop id must be a number, got {shop_id!r}")
        return ShopeeSource(partner_id=app.partner_id, partner_key=app.partner_key.get_secret_value(),
                            shop_id=int(shop_id), currency=shop.currency, tokens=store,
                            base_url=app.base_url or LIVE_HOST, shop_tz=shop.timezone)
    if isinstance(app, AmazonPlatform):
        from bot.shops.amazon import LWA_URL, NA_ENDPOINT, AmazonSource

        if not tokens.refresh_token:
            raise NoSource(f"shop {shop.code}: no refresh token stored; run: kpibot shops token {shop.code}")
        marketplaces = [m.strip() for m in (shop.platform_shop_id or "").split(",") if m.strip()]
        return AmazonSource(client_id=app.client_id, client_secret=app.client_secret.get_secret_value(),
                            refresh_token=tokens.refresh_token, marketplace_ids=marketplaces,
                            currency=shop.currency, endpoint=app.endpoint or NA_ENDPOINT,
                            lwa_url=app.token_url or LWA_URL, shop=f"shop:{shop.id}")
    from bot.shops.shopify import DEFAULT_API_VERSION, ShopifySource

    if not tokens.access_token:
        raise NoSource(f"shop {shop.code}: no access token stored; run: kpibot shops token {shop.code}")
    return ShopifySource((shop.platform_shop_id or "").strip(), tokens.access_token,
                         api_version=getattr(app, "api_version", None) or DEFAULT_API_VERSION,
                         base_url=getattr(app, "base_url", None))


def shop_source(store_url: str, shop_id: int, platforms: PlatformsConfig) -> Source:
    """`build_source` for a shop by id, with an engine of its own: ProcessSource's factory, run in the source's
    own process (see process_source)."""
    from sqlmodel import Session

    from storage.engine import make_engine
    from storage.models import Shop

    engine = make_engine(store_url)
    with Session(engine) as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise NoSource(f"shop {shop_id} is not in the store any more")
        session.expunge(shop)
    return build_source(engine, shop, platforms)


def process_source(engine: Engine, shop: Shop, platforms: PlatformsConfig, writer: StoreWriter) -> ProcessSource:
    """The shop's source run in a process of its own, encoding orders for `writer`'s store there: for large syncs
    (storage.ingest.fetch_process). NoSource when it has none."""
    from storage.ingest.fetch_process import ProcessSource

    factory = partial(shop_source, engine.url.render_as_string(hide_password=False), shop.id or 0, platforms)
    return ProcessSource(factory, writer.encoder(shop.id or 0))


def parse_tokens(platform: str, text: str) -> Tokens:
    """A shop's tokens as an admin hands them over: a JSON object, `key=value` lines, or (Shopify, Amazon,
    Shopee) the one token alone. Keys: access_token, refresh_token, expires_at and refresh_expires_at (ISO
    8601 or Unix seconds), shop_cipher. ValueError names what is wrong, never a value."""
    if platform not in REQUIRED_TOKENS:
        raise ValueError(f"{platform} shops have no API tokens")
    text = text.strip()
    if not text:
        raise ValueError("no tokens given (empty input)")
    values: dict[str, object]
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the tokens are not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(loaded, dict):
            raise ValueError("the tokens must be a JSON object")
        values = loaded
    elif "=" in text.splitlines()[0]:
        values = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"line {number} is not key=value")
            values[key.strip()] = value.strip()
    elif platform in BARE_TOKEN and len(text.split()) == 1:
        values = {BARE_TOKEN[platform]: text}
    else:
        raise ValueError("give the tokens as a JSON object or key=value lines")
    unknown = sorted(set(values) - set(TOKEN_FIELDS))
    if unknown:
        raise ValueError(f"unknown token field(s) {', '.join(unknown)} (fields: {', '.join(TOKEN_FIELDS)})")
    for key, value in values.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError(f"{key} must be a string")
    strings = {k: str(v).strip() for k, v in values.items() if str(v).strip()}
    for group in REQUIRED_TOKENS[platform]:
        if not any(name in strings for name in group):
            raise ValueError(f"{platform} needs {' or '.join(group)}")
    expires = _when(strings, "expires_at")
    if "access_token" not in strings and expires is None:
        expires = datetime(1970, 1, 1, tzinfo=UTC)      # no access token yet: the first call refreshes
    return Tokens(access_token=strings.get("access_token", ""), refresh_token=strings.get("refresh_token"),
                  expires_at=expires, refresh_expires_at=_when(strings, "refresh_expires_at"),
                  extra={"shop_cipher": strings["shop_cipher"]} if "shop_cipher" in strings else {})


def token_fields(tokens: Tokens) -> list[str]:
    """The names of the fields a token set holds (for messages: never the values)."""
    names = [n for n, v in (("access_token", tokens.access_token), ("refresh_token", tokens.refresh_token),
                            ("expires_at", tokens.expires_at), ("refresh_expires_at", tokens.refresh_expires_at))
             if v]
    return names + sorted(tokens.extra)


def _when(values: Mapping[str, str], key: str) -> datetime | None:
    text = values.get(key)
    if text is None:
        return None
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{key} must be ISO 8601 with an offset or Unix seconds") from None
    if moment.tzinfo is None:
        raise ValueError(f"{key} needs a UTC offset, e.g. 2026-11-30T00:00:00+00:00")
    return moment.astimezone(UTC)
