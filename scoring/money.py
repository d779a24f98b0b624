"""Money as Decimal with its currency, and the integer minor units the store keeps.

Amounts are never floats. The store keeps integer minor units (cents, pence, sen) so that
SQLite and PostgreSQL hold exactly the same value; arithmetic happens on Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor-unit exponents for the currencies the platforms use. Anything else is refused,
# because guessing an exponent would silently scale amounts by 100.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2, "GBP": 2, "EUR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "MYR": 2, "THB": 2, "PHP": 2,
    "IDR": 2, "AUD": 2, "CAD": 2, "MXN": 2, "BRL": 2, "SAR": 2, "AED": 2, "PLN": 2, "TWD": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0,
}


class UnknownCurrency(ValueError):
    """A currency code this build has no minor-unit exponent for."""


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
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
