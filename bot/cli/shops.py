"""kpibot shops: add a shop, store its API tokens, list shops with their sync health.

Tokens are read from stdin or from an environment variable named by a flag, never from the command line (where
`ps` and shell history would keep them), and are never printed."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot.cli.common import check_zone, shop_by_code, shop_named
from bot.config import Config
from bot.shop_sources import (
    FILE_PLATFORMS,
    SHOP_ID_NEEDED,
    SHOP_PLATFORMS,
    parse_tokens,
    token_fields,
)
from bot.usage import UsageError
from scoring.money import is_currency
from scoring.text import BadText, code_text, country_code, display_name, shown
from services.container import Services
from storage.ingest.token_store import DbTokenStore, key_fits_others
from storage.models import Shop, ShopCredential, ShopHealth, Team
from storage.queries import find_team, organisation, teams
from storage.token_cipher import LOCKED_BAD_KEY, TokenCipher, TokenKeyError, missing_key

OTHER_KEY = ("the first key in KPIBOT_TOKEN_KEY is not the one the other shops' tokens are under: put that key "
             "first (or run kpibot store rotate-key first); nothing stored")


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.action == "add":
        return _add(services, args, config)
    if args.action == "token":
        return _token(services, args)
    return _list(services, config)


def _add(services: Services, args: argparse.Namespace, config: Config) -> int:
    platform = args.platform.strip().lower()
    try:
        code = code_text(args.code)
    except BadText as exc:
        raise UsageError(f"shop code {shown(args.code)!r} {exc}") from None
    try:
        name = display_name(args.name) if args.name is not None else code
    except BadText as exc:
        raise UsageError(f"--name {shown(args.name)!r} {exc}") from None
    if platform not in SHOP_PLATFORMS:
        raise UsageError(f"unknown platform {args.platform!r}; platforms: {', '.join(SHOP_PLATFORMS)}")
    currency = args.currency.strip().upper()
    if not is_currency(currency):
        raise UsageError(f"unknown currency {args.currency!r} (an ISO 4217 code such as USD, GBP, IDR)")
    check_zone(args.timezone)
    try:
        region = country_code(args.region)
    except BadText as exc:
        raise UsageError(f"--region {shown(args.region)!r} {exc}") from None
    shop_id = (args.platform_shop_id or "").strip() or None
    if platform in SHOP_ID_NEEDED and shop_id is None:
        raise UsageError(f"{platform} shops need --platform-shop-id ({SHOP_ID_NEEDED[platform]})")
    if platform == "shopee" and not (shop_id or "").isdigit():
        raise UsageError(f"--platform-shop-id must be the numeric Shopee shop_id, got {shop_id!r}")
    tokens = _read_tokens(args, platform) if (args.tokens_stdin or args.tokens_env) else None
    if tokens is not None:   # refused before the shop is added
        cipher = TokenCipher.from_environment()
        if cipher is None:
            raise UsageError(str(missing_key()))
        if not key_fits_others(services.engine, cipher, None):
            raise UsageError(OTHER_KEY)
    with Session(services.engine) as session:
        team_id = None
        if args.team:
            team = find_team(session, args.team)
            if team is None:
                raise UsageError(f"no team {args.team!r}; teams: {', '.join(t.code for t in teams(session)) or 'none'}")
            team_id = team.id
        org = organisation(session, config.org.name)
        if shop_by_code(session, code) is not None:
            raise UsageError(f"there is already a shop {code} (see: kpibot shops list)")
        shop = Shop(org_id=org.id or 0, team_id=team_id, code=code, name=name, platform=platform,
                    platform_shop_id=shop_id, region=region, currency=currency, timezone=args.timezone)
        session.add(shop)
        session.commit()
        shop_pk = shop.id or 0
    if tokens is not None:
        DbTokenStore(services.engine, shop_pk).save(tokens)
    print(f"added shop {code}: {platform} {region} {currency} {args.timezone}"
          + (f", team {args.team}" if args.team else "")
          + (f"; stored {', '.join(token_fields(tokens))}" if tokens is not None else ""))
    if tokens is None and platform not in FILE_PLATFORMS:
        print(f"next: kpibot shops token {code} --tokens-stdin (the shop's API tokens)")
    return 0


def _token(services: Services, args: argparse.Namespace) -> int:
    with Session(services.engine) as session:
        shop = shop_named(session, args.code)
    store = DbTokenStore(services.engine, shop.id or 0)
    if store.cipher is None:
        raise UsageError(str(missing_key()))
    if not key_fits_others(services.engine, store.cipher, shop.id):   # tokens under two keys: none opens all
        raise UsageError(OTHER_KEY)
    tokens = _read_tokens(args, shop.platform)
    store.save(tokens)
    print(f"stored tokens for shop {shop.code}: {', '.join(token_fields(tokens))}")
    return 0


def _read_tokens(args: argparse.Namespace, platform: str) -> Any:
    if args.tokens_env:
        text = os.environ.get(args.tokens_env)
        if text is None:
            raise UsageError(f"the environment variable {args.tokens_env} is not set")
    else:
        text = sys.stdin.read()
    try:
        return parse_tokens(platform, text)
    except ValueError as exc:
        raise UsageError(f"tokens: {exc}") from None


def _list(services: Services, config: Config) -> int:
    with Session(services.engine) as session:
        rows = session.execute(select(Shop, ShopHealth, Team).outerjoin(ShopHealth, ShopHealth.shop_id == Shop.id)
                               .outerjoin(Team, Team.id == Shop.team_id).order_by(Shop.code)).all()
        with_tokens = {sid for sid in session.execute(select(ShopCredential.shop_id)).scalars()}
    locked = "locked"
    try:
        cipher = TokenCipher.from_environment()
    except TokenKeyError:   # a malformed key opens nothing
        cipher, locked = None, f"locked ({LOCKED_BAD_KEY.removeprefix('tokens locked: ')})"
    if not rows:
        print("no shops (add one: kpibot shops add CODE --platform P ...)")
        return 0
    print(f"{'shop':<12} {'platform':<12} {'region':<6} {'cur':<4} {'team':<10} {'tokens':<7} {'health':<12} "
          f"{'last success':<17} last error")
    for shop, health, team in rows:
        tokens = "-" if shop.platform in FILE_PLATFORMS else (
            _tokens(services, shop.id or 0, cipher, locked) if shop.id in with_tokens else "no")
        print(f"{shop.code:<12} {shop.platform:<12} {shop.region:<6} {shop.currency:<4} "
              f"{(team.code if team else '-'):<10} {tokens:<7} {_health(health):<12} "
              f"{_stamp(health.last_success_at if health else None):<17} "
              f"{_last_error(health, shop, tokens, config)}")
    return 0


def _tokens(services: Services, shop_id: int, cipher: TokenCipher | None, locked: str) -> str:
    """"yes" only when KPIBOT_TOKEN_KEY opens the stored tokens (the refresh can use them), else `locked`."""
    if cipher is None:
        return locked
    return "yes" if DbTokenStore(services.engine, shop_id, cipher).locked() is None else "locked"


def _last_error(health: ShopHealth | None, shop: Shop, tokens: str, config: Config) -> str:
    """The last failed sync's error while it may still hold: not "tokens locked" once the tokens open, nor
    missing credentials once the configuration has them (the next successful sync resets it)."""
    if health is None or not health.last_error or not health.consecutive_failures:
        return "-"
    error = health.last_error
    if error.startswith("tokens locked") and tokens == "yes":
        return "-"
    if error.startswith(f"no [platforms.{shop.platform}]") and config.platforms.get(shop.platform) is not None:
        return "-"
    return error


def _health(health: ShopHealth | None) -> str:
    if health is None:
        return "never synced"
    if health.unhealthy_since is not None:
        return "unhealthy"
    if health.consecutive_failures:
        return f"failing {health.consecutive_failures}x"
    return "ok"


def _stamp(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M") + "Z"
