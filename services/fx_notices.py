"""A currency the shops sell in with no exchange rate at all to the reporting currency: cards leave its amounts
out and say so in a note (cards.fx_notes); the organisation's admins are told once per currency, ever
(services.admin_notices), how to store rates, several currencies new in one run in one message per admin.

Two jobs look: the daily exchange-rate job (bot.jobs.fx_rates) after each run, over every order; and the shop
refresh (bot.jobs.refresh) after each run, also when [fx] is off and rates are typed by hand, through a
`CurrencyWatch` that reads only the orders written since its last look (a primary-key range; the first look of a
process reads them all once). Both claim the same notices, so nobody is told twice.

Rates are never deleted (storage.fx_rates only upserts), so a currency that got rates does not lose them again;
should someone delete them by hand, the admins are not told a second time (the cards' note still says it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.i18n import t
from cards.model import Card, Text, Tone
from scoring.fx import MissingRate
from scoring.text import shown
from services.admin_notices import ONCE, admins_of, listed_card, tell_admins_each
from services.container import Services
from services.messaging import Messenger
from storage.models import Order, Shop
from storage.queries import fx_table
from storage.schedule import FX_MISSING, sent_today

Used = dict[tuple[int, str], list[str]]    # (organisation, currency) -> "name (code)" of the shops selling in it


@dataclass(frozen=True)
class MissingCurrency:
    org_id: int
    currency: str
    shops: tuple[str, ...]     # "name (code)" of the shops selling in it (their own currency or orders'), by code

    def subject(self, reporting: str) -> str:
        """The start of each admin's claim (the admin's id follows)."""
        return f"fx:{self.org_id}:{self.currency}:{reporting}:"


@dataclass
class CurrencyWatch:
    """What one process's refresh runs have seen: every (organisation, currency) of the shops and of the orders up
    to `last_order` (shops by label), and those found with a rate (rates are never deleted: not checked again)."""

    last_order: int | None = None           # None: no look yet; the first reads every order
    # the highest id of the look before: each look reads from there, not from last_order, because ids are handed
    # out when a row is inserted, not when its transaction commits, so a sync batch holding lower ids may commit
    # after a look (a batch commits within seconds; looks are a refresh interval apart)
    previous_order: int | None = None
    used: Used = field(default_factory=dict)
    settled: set[tuple[int, str]] = field(default_factory=set)


def used_currencies(session: Session, after_order: int | None = None) -> tuple[Used, int | None]:
    """The currencies of the shops and of their orders (only those with an id above `after_order` when given),
    and the highest order id read (`after_order` when there is none)."""
    shops = {sid: (org_id, f"{name} ({code})", currency) for sid, org_id, code, name, currency in session.execute(
        select(Shop.id, Shop.org_id, Shop.code, Shop.name, Shop.currency).order_by(Shop.code))}  # type: ignore[call-overload]
    pairs = [(sid, currency) for sid, (_, _, currency) in shops.items()]
    orders = select(Order.shop_id, Order.currency).distinct()  # type: ignore[call-overload]
    top = select(func.max(Order.id))
    if after_order is not None:
        orders = orders.where(Order.id > after_order)  # type: ignore[operator]
        top = top.where(Order.id > after_order)  # type: ignore[operator]
    highest = session.execute(top).scalar_one()   # read first: an order written in between is read next time
    pairs += list(session.execute(orders.where(Order.id <= highest)) if highest is not None else [])  # type: ignore[operator]
    used: Used = {}
    for sid, currency in pairs:
        org_id, shop, _ = shops[sid]
        labels = used.setdefault((org_id, currency), [])
        if shop not in labels:
            labels.append(shop)
    return used, highest if highest is not None else after_order


def without_rate(session: Session, used: Used, reporting: str, day: date) -> list[MissingCurrency]:
    """Of `used`, the currencies with no rate at all to `reporting` on or before `day`, by organisation and
    currency."""
    candidates = sorted((key, labels) for key, labels in used.items() if key[1] != reporting)
    if not candidates:
        return []
    table = fx_table(session, day)
    missing = []
    for (org_id, currency), labels in candidates:
        try:
            table.rate(currency, reporting, day)
        except MissingRate:
            missing.append(MissingCurrency(org_id, currency, tuple(sorted(labels))))
    return missing


@dataclass(frozen=True)
class CurrencyInUse:
    currency: str
    shops: tuple[str, ...]     # "name (code)" of the shops selling in it, by code
    rate_day: date | None      # the day of the newest rate it converts to the reporting currency with; None: none


def currencies_in_use(session: Session, reporting: str, day: date) -> list[CurrencyInUse]:
    """Every currency of the shops and of their orders (all organisations together), by code, with the day of the
    rate a card on `day` converts it to `reporting` with (the table's freshest route, scoring.fx)."""
    by_currency: dict[str, set[str]] = {}
    for (_, currency), labels in used_currencies(session)[0].items():
        by_currency.setdefault(currency, set()).update(labels)
    table = fx_table(session, day)
    return [CurrencyInUse(currency, tuple(sorted(labels)), table.as_of(currency, reporting, day))
            for currency, labels in sorted(by_currency.items())]


def currencies_without_rate(session: Session, reporting: str, day: date) -> list[MissingCurrency]:
    """The currencies of the shops and of all their orders with no rate at all to `reporting` on or before `day`,
    by organisation and currency."""
    return without_rate(session, used_currencies(session)[0], reporting, day)


def untold(engine: Engine, session: Session, used: Used, reporting: str) -> Used:
    """Of `used`, the currencies some admin of their organisation was not told of: only those need their rates
    checked (one read of the claims, instead of every rate)."""
    admins = {org_id: admins_of(session, org_id) for org_id in {org_id for org_id, _ in used}}
    keys = {key: [f"{MissingCurrency(*key, ()).subject(reporting)}{admin.id}" for admin in admins[key[0]]]
            for key in used}
    done = sent_today(engine, FX_MISSING, {k: ONCE for ks in keys.values() for k in ks})
    return {key: labels for key, labels in used.items() if not all(k in done for k in keys[key])}


def notice_card(missing: MissingCurrency, reporting: str, lang: str) -> Card:
    currency = shown(missing.currency)
    text = t(lang, "fx.no_rate", currency=currency, reporting=reporting, shops=", ".join(missing.shops))
    return Card(t(lang, "fx.no_rate_title", currency=currency), (Text(text),), Tone.WARN, lang)


def notices_card(missing: list[MissingCurrency], reporting: str, lang: str) -> Card:
    """One admin's message of the currencies new to them (services.admin_notices.listed_card)."""
    return listed_card(missing, lang, lambda m: notice_card(m, reporting, lang),
                       lambda m: t(lang, "fx.no_rate_item", currency=shown(m.currency), reporting=reporting,
                                   shops=", ".join(m.shops)),
                       title=t(lang, "fx.no_rate_many_title", count=len(missing)),
                       intro=t(lang, "fx.no_rate_many", reporting=reporting), more_key="fx.no_rate_more")


def tell_missing_rates(services: Services, messengers: Mapping[str, Messenger], instance: str,
                       now: datetime, watch: CurrencyWatch | None = None) -> list[str]:
    """Tell each organisation's admins of every currency without a rate they were not told of, one message per
    admin; for each currency told, "<admin code>:<currency>", by currency and then admin. Without `watch`, every
    order is read; with it, only those written since its last look."""
    engine, reporting = services.engine, services.rules.reporting_currency
    with Session(engine) as session:
        if watch is None:
            missing = currencies_without_rate(session, reporting, now.date())
        else:
            new, highest = used_currencies(session, watch.previous_order)
            watch.previous_order, watch.last_order = watch.last_order, highest
            for key, labels in new.items():
                known = watch.used.setdefault(key, [])
                known += [label for label in labels if label not in known]
            unsettled = {key: labels for key, labels in watch.used.items() if key not in watch.settled}
            open_ = untold(engine, session, unsettled, reporting)
            missing = without_rate(session, open_, reporting, now.date())
            watch.settled |= set(open_) - {(m.org_id, m.currency) for m in missing}
        admins = {org_id: admins_of(session, org_id) for org_id in sorted({m.org_id for m in missing})}
    told: list[str] = []
    for org_id, org_admins in admins.items():
        mine = [m for m in missing if m.org_id == org_id]
        what = (f"currency {shown(mine[0].currency)!r} has no exchange rate to {reporting}" if len(mine) == 1
                else f"{len(mine)} currencies have no exchange rate to {reporting}")
        for code, i in tell_admins_each(engine, messengers, org_admins, FX_MISSING,
                                        [m.subject(reporting) for m in mine], ONCE,
                                        lambda lang, chosen, ms=mine: notices_card([ms[i] for i in chosen],
                                                                                   reporting, lang),
                                        instance, now, what):
            told.append(f"{code}:{mine[i].currency}")
    return told
