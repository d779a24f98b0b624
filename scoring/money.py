"""Money as Decimal with its currency, and the integer minor units the store keeps.

Amounts are never floats. The store keeps integer minor units (cents, pence, sen) so that
SQLite and PostgreSQL hold exactly the same value; arithmetic happens on Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache


class UnknownCurrency(ValueError):
    """A code that is not an active ISO 4217 currency with a minor unit."""


@cache
def _exponents() -> dict[str, int]:
    """Active ISO 4217 codes and their minor-unit exponents, read once from the ``iso4217`` package's table.

    Funds (CLF, USN, ...) and codes without a minor unit (gold XAU, SDR XDR, test XTS, no-currency XXX) are
    left out: the store needs an exact exponent, and guessing one would silently scale amounts by 100.
    Codes are matched as written, in upper case.
    """
    import iso4217  # parses its XML table on import; only the first lookup pays for it

    exponents: dict[str, int] = {}
    for entry in iso4217.raw_xml.findall("CcyTbl/CcyNtry"):
        code, name, units = entry.findtext("Ccy"), entry.find("CcyNm"), entry.findtext("CcyMnrUnts")
        if code and name is not None and name.get("IsFund") != "true" and units and units.strip().isdigit():
            exponents[code.strip()] = int(units)
    return exponents


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency the store can keep amounts in."""
    return code in _exponents()


def exponent(currency: str) -> int:
    """The currency's minor-unit exponent: 2 for USD (cents), 0 for JPY, 3 for KWD."""
    try:
        return _exponents()[currency]
    except KeyError:
        raise UnknownCurrency(f"unknown currency {currency!r}") from None


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Exact conversion to integer minor units; refuses amounts finer than the currency allows."""
    value = Decimal(amount)
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} {currency} has more than {exponent(currency)} decimal places")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: 0.01 for USD, 1 for JPY."""
    return Decimal(1).scaleb(-exponent(currency))


def round_money(value: Decimal, currency: str) -> Decimal:
    """Half up to the currency's minor unit: how an amount is paid, stored or shown."""
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise TypeError("Money amounts must be Decimal, not float")
        exponent(self.currency)

    @classmethod
    def of_minor(cls, minor: int, currency: str) -> Money:
        return cls(from_minor(minor, currency), currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def rounded(self) -> Decimal:
        """The amount rounded half-up to the currency's minor unit, for display and storage."""
        return round_money(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.rounded():,} {self.currency}"
