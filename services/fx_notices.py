"""A currency the shops sell in with no exchange rate at all to the reporting currency: cards leave its amounts
out and say so in a note (cards.fx_notes); the organisation's admins are told once per currency, ever
(services.admin_notices), how to store rates. The daily exchange-rate job (bot.jobs.fx_rates) looks after
each run.

Rates are never deleted (storage.fx_rates only upserts), so a currency that got rates does not lose them again;
should someone delete them by hand, the admins are not told a second time (the cards' note still says it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session

from cards.i18n import t
from cards.model import Card, Text, Tone
from scoring.fx import MissingRate
from services.admin_notices import ONCE, admins_of, shown, tell_admins
from services.container import Services
from services.messaging import Messenger
from storage.models import Order, Shop
from storage.queries import fx_table
from storage.schedule import FX_MISSING


@dataclass(frozen=True)
class MissingCurrency:
    org_id: int
    currency: str
    shops: tuple[str, ...]     # "name (code)" of the shops selling in it (their own currency or orders'), by code

    def subject(self, reporting: str) -> str:
        """The start of each admin's claim (the admin's id follows)."""
        return f"fx:{self.org_id}:{self.currency}:{reporting}:"


def currencies_without_rate(session: Session, reporting: str, day: date) -> list[MissingCurrency]:
    """The currencies of the shops and of their orders with no rate at all to `reporting` on or before `day`, by
    organisation and currency."""
    shops = {sid: (org_id, f"{name} ({code})", currency) for sid, org_id, code, name, currency in session.execute(
        select(Shop.id, Shop.org_id, Shop.code, Shop.name, Shop.currency).order_by(Shop.code))}  # type: ignore[call-overload]
    used: dict[tuple[int, str], list[str]] = {}
    pairs = [(sid, currency) for sid, (_, _, currency) in shops.items()]
    pairs += [(sid, currency) for sid, currency in session.execute(
        select(Order.shop_id, Order.currency).distinct())]  # type: ignore[call-overload]
    for sid, currency in pairs:
        org_id, shop, _ = shops[sid]
        labels = used.setdefault((org_id, currency), [])
        if shop not in labels:
            labels.append(shop)
    table = fx_table(session, day)
    missing = []
    for (org_id, currency), labels in sorted(used.items()):
        if currency == reporting:
            continue
        try:
            table.rate(currency, reporting, day)
        except MissingRate:
            missing.append(MissingCurrency(org_id, currency, tuple(sorted(labels))))
    return missing


def notice_card(missing: MissingCurrency, reporting: str, lang: str) -> Card:
    currency = shown(missing.currency)
    text = t(lang, "fx.no_rate", currency=currency, reporting=reporting, shops=", ".join(missing.shops))
    return Card(t(lang, "fx.no_rate_title", currency=currency), (Text(text),), Tone.WARN, lang)


def tell_missing_rates(services: Services, messengers: Mapping[str, Messenger], instance: str,
                       now: datetime) -> list[str]:
    """Tell each organisation's admins of every currency without a rate they were not told of; for each notice
    sent, "<admin code>:<currency>"."""
    engine, reporting = services.engine, services.rules.reporting_currency
    with Session(engine) as session:
        missing = currencies_without_rate(session, reporting, now.date())
        admins = {org_id: admins_of(session, org_id) for org_id in {m.org_id for m in missing}}
    told: list[str] = []
    for m in missing:
        for code in tell_admins(engine, messengers, admins[m.org_id], FX_MISSING, m.subject(reporting), ONCE,
                                lambda lang, m=m: notice_card(m, reporting, lang), instance, now,
                                f"currency {shown(m.currency)!r} has no exchange rate to {reporting}"):
            told.append(f"{code}:{m.currency}")
    return told
