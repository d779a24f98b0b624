"""kpibot org: init, set and show the organisation (name, reporting currency, time zone, locale, and the
statistical definitions: when orders count, whether refunds are netted).

Once `org init` has run, these are the store's: every kpibot process reads them from there, and the config's
[org] values are only `org init`'s defaults (and what a store made before, or the demo, goes by)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from bot.app import config_org
from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from services.organisation import (
    OrgSettings,
    SetupError,
    init_organisation,
    settings_of,
    the_organisation,
    update_organisation,
)
from storage.models import Organisation


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    fallback = config_org(config)
    try:
        with Session(services.engine) as session:
            if args.action == "show":
                org = the_organisation(session)
                if org is None:
                    raise UsageError("the store has no organisation yet; make it with: kpibot org init")
                print(_described(session, org, fallback))
                return 0
            if args.action == "init":
                given = {"name": args.name, "reporting_currency": args.currency, "timezone": args.timezone,
                         "locale": args.locale, "count_orders_at": args.count_orders_at,
                         "net_refunds": _yes_no(args.net_refunds)}
                org = init_organisation(session, replace(fallback, **{k: v for k, v in given.items()
                                                                     if v is not None}))
                verb = "initialised"
            else:
                org = update_organisation(session, fallback, name=args.name, reporting_currency=args.currency,
                                          timezone=args.timezone, locale=args.locale,
                                          count_orders_at=args.count_orders_at,
                                          net_refunds=_yes_no(args.net_refunds))
                verb = "updated"
            session.commit()
            print(f"{verb} {_described(session, org, fallback)}")
    except SetupError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "init":
        print("next: kpibot teams add CODE --name NAME --stage STAGE --country CC")
    return 0


def _described(session: Session, org: Organisation, fallback: OrgSettings) -> str:
    s = settings_of(session, org, fallback)
    return (f"organisation {s.name}: reporting currency {s.reporting_currency}, time zone {s.timezone}, "
            f"locale {s.locale}; orders count when {s.count_orders_at.value}, refunds "
            f"{'netted' if s.net_refunds else 'not netted'}")


def _yes_no(text: str | None) -> bool | None:
    return None if text is None else text == "yes"
