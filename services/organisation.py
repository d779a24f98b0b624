"""The organisation's own settings, set with kpibot commands instead of SQL: `kpibot org init|set`.

Once initialised, the store's organisation row is the truth for the name, reporting currency, time zone and
default locale: every kpibot process reads them from the store (`effective_settings`) and the config's [org]
values only fill what the store does not say (a store made before, or the demo, whose row has none). The
config's [org] values are also `org init`'s defaults, so an admin who already wrote them there types nothing
twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.languages import LOCALE_HINT, supported_locale
from scoring.money import is_currency
from scoring.periods import is_zone
from scoring.rules import CountOrdersAt
from scoring.text import NAME_MAX, BadText, display_name, shown
from storage.audit import audit
from storage.demo import DEMO_ORG_CODE
from storage.models import CommissionPayout, Member, Organisation, OrganisationSettings, Target

ORG_CODE = "default"   # the code storage.queries.organisation gives the organisation it makes


class SetupError(ValueError):
    """A set-up value a person can fix, in one line."""


@dataclass(frozen=True, slots=True)
class OrgSettings:
    name: str
    reporting_currency: str
    timezone: str
    locale: str
    # statistical definitions (docs/metrics.md): when an order counts, and whether refunds are taken off
    count_orders_at: CountOrdersAt = CountOrdersAt.PAID
    net_refunds: bool = True


def currency_of(text: str) -> str:
    code = text.strip().upper()
    if not is_currency(code):
        raise SetupError(f"unknown currency {text[:40]!r} (an ISO 4217 code such as USD, GBP, IDR)")
    return code


def zone_of(text: str) -> str:
    name = text.strip()
    if not is_zone(name):
        raise SetupError(f"unknown time zone {text[:40]!r} (an IANA name such as America/Los_Angeles)")
    return name


def locale_of(text: str) -> str:
    """A locale whose language the cards speak (scoring.languages): en, zh-CN, id-ID ... (any region; the
    language decides)."""
    name = text.strip()
    shaped = re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?", name) is not None
    if not shaped or not supported_locale(name):
        raise SetupError(f"locale {text[:40]!r} is not supported; use {LOCALE_HINT}")
    return name


def counting_of(text: str) -> CountOrdersAt:
    name = text.strip().lower()
    if name not in {c.value for c in CountOrdersAt}:
        raise SetupError(f"orders count when paid or shipped, got {text[:40]!r}")
    return CountOrdersAt(name)


def name_of(text: str) -> str:
    """A display name as stored (scoring.text.display_name: control characters removed, spaces collapsed)."""
    try:
        return display_name(text, NAME_MAX)
    except BadText:
        raise SetupError(f"the name must be 1 to {NAME_MAX} characters, got {shown(text)!r}") from None


def the_organisation(session: Session) -> Organisation | None:
    return session.execute(select(Organisation).order_by(Organisation.id)).scalars().first()


def init_organisation(session: Session, settings: OrgSettings) -> Organisation:
    """Make the organisation of an empty store with its settings (flushed, not committed); a store with an
    organisation is refused."""
    found = the_organisation(session)
    if found is not None:
        if found.code == DEMO_ORG_CODE:
            raise SetupError("the store holds the demo organisation; kpibot org init needs a store without it")
        raise SetupError(f"the store already has an organisation ({found.name}); change it with: kpibot org set")
    name, currency = name_of(settings.name), currency_of(settings.reporting_currency)
    zone, locale = zone_of(settings.timezone), locale_of(settings.locale)
    org = Organisation(code=ORG_CODE, name=name)
    session.add(org)
    session.flush()
    session.add(OrganisationSettings(org_id=org.id or 0, reporting_currency=currency, timezone=zone, locale=locale,
                                     count_orders_at=counting_of(settings.count_orders_at).value,
                                     net_refunds=settings.net_refunds))
    session.flush()
    return org


def update_organisation(session: Session, fallback: OrgSettings, *, name: str | None = None,
                        reporting_currency: str | None = None, timezone: str | None = None,
                        locale: str | None = None, count_orders_at: str | None = None,
                        net_refunds: bool | None = None) -> Organisation:
    """Change what is given; every value is checked before any is changed. An organisation that had no
    settings of its own (made by a members import before org init) takes the fallback's for the rest. The demo
    is not changed."""
    org = the_organisation(session)
    if org is None:
        raise SetupError("the store has no organisation yet; make it with: kpibot org init")
    if org.code == DEMO_ORG_CODE:
        raise SetupError("the store holds the demo organisation, which kpibot org set does not change")
    changes = {"reporting_currency": currency_of(reporting_currency) if reporting_currency is not None else None,
               "timezone": zone_of(timezone) if timezone is not None else None,
               "locale": locale_of(locale) if locale is not None else None,
               "count_orders_at": counting_of(count_orders_at).value if count_orders_at is not None else None,
               "net_refunds": net_refunds}
    new_name = name_of(name) if name is not None else None
    now_set = settings_of(session, org, fallback)
    current = now_set.reporting_currency
    if changes["reporting_currency"] not in (None, current):
        held = session.execute(select(func.count()).select_from(Target).where(Target.org_id == org.id)).scalar_one()
        if held:
            # money targets are amounts in the reporting currency: relabelling them would change their meaning
            raise SetupError(f"the reporting currency stays {current}: {held} targets are amounts in it; "
                             "set them again in the new currency after starting a new organisation")
    if (changes["count_orders_at"] not in (None, now_set.count_orders_at.value)
            or changes["net_refunds"] not in (None, now_set.net_refunds)):
        paid = session.execute(select(func.count()).select_from(CommissionPayout).join(
            Member, Member.id == CommissionPayout.member_id).where(Member.org_id == org.id)).scalar_one()
        if paid:
            # clawbacks compare what was paid with the month measured again now: another counting rule would
            # book differences that are no refunds against months already paid
            raise SetupError(f"the counting rules stay as they are: {paid} commission payouts were measured by "
                             "them, and measuring paid months another way would book clawbacks that are not refunds")
    if new_name is None and all(v is None for v in changes.values()):
        raise SetupError("nothing to change: give --name, --currency, --timezone, --locale, --count-orders-at or "
                         "--net-refunds")
    if new_name is not None:
        org.name = new_name
        session.add(org)
    row = session.get(OrganisationSettings, org.id) or _settings_row(org, fallback)
    before = {f: _plain(getattr(row, f)) for f, v in changes.items() if v is not None}
    for field, value in changes.items():
        if value is not None:
            setattr(row, field, value)
    session.add(row)
    session.flush()
    after = {f: _plain(getattr(row, f)) for f in before}
    if before != after:   # the counting rules, the currency and the zone change scores
        audit(session, None, "org.settings", "organisation", org.code,
              {"before": {f: v for f, v in before.items() if after[f] != v},
               "after": {f: v for f, v in after.items() if before[f] != v}})
    return org


def _plain(value: object) -> object:
    return getattr(value, "value", value)


def settings_of(session: Session, org: Organisation, fallback: OrgSettings) -> OrgSettings:
    """The organisation's settings, or the fallback's (the config's [org]) when it has none of its own."""
    row = session.get(OrganisationSettings, org.id)
    if row is None:
        return replace(fallback, name=org.name)
    return OrgSettings(org.name, row.reporting_currency, row.timezone, row.locale,
                       CountOrdersAt(row.count_orders_at) if row.count_orders_at else fallback.count_orders_at,
                       fallback.net_refunds if row.net_refunds is None else row.net_refunds)


def effective_settings(engine: Engine, fallback: OrgSettings) -> OrgSettings:
    """What a process uses: the store's organisation settings once org init made them, else the fallback."""
    with Session(engine) as session:
        org = the_organisation(session)
        return fallback if org is None else settings_of(session, org, fallback)


def _settings_row(org: Organisation, fallback: OrgSettings) -> OrganisationSettings:
    return OrganisationSettings(org_id=org.id or 0, reporting_currency=fallback.reporting_currency,
                                timezone=fallback.timezone, locale=fallback.locale,
                                count_orders_at=fallback.count_orders_at.value, net_refunds=fallback.net_refunds)
