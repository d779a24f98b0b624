"""Exchange rates in: `kpibot fx set`, `kpibot fx import FILE` and the daily ECB job (bot.jobs.fx_rates) all
store through here, checked alike.

A rate row says 1 `base` = `rate` `quote` on `day`. The ECB's rates are stored EUR-based as published; a card in
any reporting currency converts through EUR cross rates (scoring.fx), exact Decimal arithmetic throughout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from scoring.fx import FxRate
from scoring.money import UnknownCurrency, exponent
from services.container import Services
from storage.fx_rates import Stored, store_rates
from storage.models import FxRateRow
from storage.month_close import closed_periods
from storage.tabular import TableProblem, joined_problems, parse_day, read_rows

COLUMNS = ("day", "base", "quote", "rate")
# Any two ISO 4217 currencies are a few million apart at most (1 KWD is about 140,000 IRR): a rate outside these is
# a typo (1e400 was stored and overwrote a real rate); the ECB publishes at most 6 significant digits
RATE_MIN, RATE_MAX, RATE_DIGITS = Decimal("1E-9"), Decimal("1E9"), 15
ECB = "ecb"     # the source of the daily job's rates (bot.jobs.fx_rates)


class FxInputError(ValueError):
    """A rate kpibot will not store; the message names the line and the value."""


def parse_rate(day: str, base: str, quote: str, rate: str) -> FxRate:
    """One rate from text, or FxInputError: an ISO day, two known and different currency codes, a positive
    decimal rate (never a float)."""
    text = day.strip()
    try:
        when = parse_day(text)     # an Excel date cell reads as midnight: its day
    except ValueError:
        raise FxInputError(f"day {text[:40]!r} is not a date (YYYY-MM-DD)") from None
    codes = []
    for code in (base, quote):
        code = code.strip().upper()
        try:
            exponent(code)
        except UnknownCurrency:
            raise FxInputError(f"unknown currency {code[:40]!r}") from None
        codes.append(code)
    if codes[0] == codes[1]:
        raise FxInputError(f"base and quote are both {codes[0]}")
    try:
        value = Decimal(rate.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0:
        raise FxInputError(f"rate {rate.strip()[:40]!r} is not a positive number")
    if not RATE_MIN <= value <= RATE_MAX or len(value.normalize().as_tuple().digits) > RATE_DIGITS:
        raise FxInputError(f"rate {rate.strip()[:40]!r} is not an exchange rate (between {RATE_MIN:f} and "
                           f"{RATE_MAX:,f}, at most {RATE_DIGITS} significant digits)")
    return FxRate(when, codes[0], codes[1], value)


class ClosedMonthRate(FxInputError):
    """A rate of a day inside a closed month (kpibot month close): its scores and pay were settled with the rates
    stored then, so none is added or changed (a missing one would have blocked the close's payouts)."""


def store(services: Services, rates: Iterable[FxRate], source: str, file: str | None = None) -> Stored:
    """Store `rates` from `source`. A rate of a closed month's day is refused (ClosedMonthRate, nothing stored) for
    kpibot fx set and fx import; the daily job (source "ecb") leaves those days as they are and stores the rest,
    counting them as closed."""
    rates = list(rates)
    with Session(services.engine) as session:
        shut = closed_periods(session, {_month(r.day) for r in rates})
        kept = [r for r in rates if _month(r.day) in shut]
        if kept and source != ECB:
            first = min(kept, key=lambda r: r.day)
            raise ClosedMonthRate(f"{first.day.isoformat()} is in {_month(first.day)}, a closed month (kpibot month "
                                  f"close): its scores and commission were settled with the rates stored then")
        stored = store_rates(session, [r for r in rates if _month(r.day) not in shut], source, file)
        session.commit()
    return replace(stored, closed=len(kept))


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def newest_day(services: Services, source: str) -> date | None:
    """The day of the newest rate stored from `source`; None: none yet."""
    with Session(services.engine) as session:
        return session.exec(select(func.max(FxRateRow.day)).where(FxRateRow.source == source)).one()


@dataclass(frozen=True)
class StoredRate:
    """One row of the rate table as stored: 1 `base` = `rate` `quote` on `day`, from `source`."""

    day: date
    base: str
    quote: str
    rate: Decimal
    source: str     # "ecb" (the daily job), "manual" (kpibot fx set) or "import" (kpibot fx import)


def stored_rates(services: Services, since: date, base: str | None = None,
                 quote: str | None = None) -> list[StoredRate]:
    """`kpibot fx list`: the rates of `since` and later (of one base and/or quote when given), newest day first,
    then by base and quote."""
    query = select(FxRateRow).where(FxRateRow.day >= since)
    if base is not None:
        query = query.where(FxRateRow.base == base.strip().upper())
    if quote is not None:
        query = query.where(FxRateRow.quote == quote.strip().upper())
    with Session(services.engine) as session:
        rows = session.exec(query.order_by(FxRateRow.day.desc(), FxRateRow.base, FxRateRow.quote)).all()  # type: ignore[attr-defined]
        return [StoredRate(r.day, r.base, r.quote, r.rate, r.source) for r in rows]


def set_rate(services: Services, day: str, base: str, quote: str, rate: str) -> tuple[FxRate, Stored]:
    """`kpibot fx set`: one rate, source "manual"."""
    one = parse_rate(day, base, quote, rate)
    return one, store(services, [one], "manual")


def read_csv(path: Path, encoding: str | None = None) -> list[FxRate]:
    """Rates from a table (CSV in `encoding`, else detected, or XLSX: storage.tabular, the one reader of people's files)
    with the header day,base,quote,rate; the whole file is refused when a line is bad, every bad line named."""
    try:
        table = read_rows(path, encoding)
    except TableProblem as exc:
        raise FxInputError(str(exc)) from None
    except OSError as exc:
        raise FxInputError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if not table or tuple(h.strip().lower() for h in table[0][1]) != COLUMNS:
        raise FxInputError(f"{path.name}: the first line must be {','.join(COLUMNS)}")
    rates, problems = [], []
    for line, row in table[1:]:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(COLUMNS):
            problems.append(f"line {line}: {len(row)} columns, expected {len(COLUMNS)}")
            continue
        try:
            rates.append(parse_rate(*row))
        except FxInputError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:   # every bad line named at once, as the other imports do
        raise FxInputError(f"{path.name} {joined_problems(problems)}")
    if not rates:
        raise FxInputError(f"{path.name}: no rates")
    return rates


def import_file(services: Services, path: Path, encoding: str | None = None) -> tuple[int, Stored]:
    """`kpibot fx import FILE`: all rates of the file or none, source "import"."""
    rates = read_csv(path, encoding)
    return len(rates), store(services, rates, "import", path.name)
