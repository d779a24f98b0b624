"""The organisation's statistical definitions and scoring rules, as one value passed everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class CountOrdersAt(StrEnum):
    PAID = "paid"
    SHIPPED = "shipped"


DEFAULT_GRADE_BANDS: tuple[tuple[str, Decimal], ...] = (
    ("S", Decimal(120)),
    ("A", Decimal(100)),
    ("B", Decimal(85)),
    ("C", Decimal(70)),
    ("D", Decimal(0)),
)


@dataclass(frozen=True, slots=True)
class Rules:
    reporting_currency: str = "USD"
    count_orders_at: CountOrdersAt = CountOrdersAt.PAID
    net_refunds: bool = True
    achievement_cap: Decimal = Decimal("1.5")      # 150 %
    grade_bands: tuple[tuple[str, Decimal], ...] = field(default=DEFAULT_GRADE_BANDS)
    new_sku_hit_units: int = 30                    # units a new product must sell to count as a hit
    refund_maturity_days: int = 14                 # refund/return rates only read orders at least this old

    def __post_init__(self) -> None:
        if not self.achievement_cap.is_finite() or self.achievement_cap <= 0:
            raise ValueError("achievement_cap must be a positive number")
        if self.refund_maturity_days < 0:
            raise ValueError("refund_maturity_days must not be negative")
        floors = [b for _, b in self.grade_bands]
        if not floors or floors != sorted(floors, reverse=True) or floors[-1] != 0:
            raise ValueError("grade bands must be listed from the highest floor down to a last band at 0")
