"""How numbers look on a card: money with its currency, ratios as percentages, seconds as m:ss."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from scoring.metrics import Unit
from scoring.money import round_money


def _q(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def plain_number(value: Decimal) -> str:
    """A stored decimal as people write it: 1200.00 -> 1,200; 1234.50 -> 1,234.5 (never an exponent)."""
    return f"{int(value):,}" if value == value.to_integral_value() else f"{value.normalize():,f}"


def money(value: Decimal, currency: str) -> str:
    return f"{round_money(value, currency):,} {currency}"


def percent(ratio: Decimal | None, places: int = 0) -> str:
    return "—" if ratio is None else f"{_q(ratio * 100, places):,}%"


def metric_value(value: Decimal | None, unit: Unit, currency: str, lang: str) -> str:
    if value is None:
        return "—"
    if unit is Unit.MONEY:
        return money(value, currency)
    if unit is Unit.RATIO:
        return percent(value, 1)
    if unit is Unit.SECONDS:
        total = int(_q(value, 0))
        minutes, seconds = divmod(total, 60)
        return {"zh": f"{minutes}分{seconds:02d}秒", "id": f"{minutes} mnt {seconds:02d} dtk"}.get(
            lang, f"{minutes}m {seconds:02d}s")
    if unit is Unit.DAYS:
        return {"zh": f"{_q(value, 1)} 天", "id": f"{_q(value, 1)} hari"}.get(lang, f"{_q(value, 1)} days")
    return f"{_q(value, 0):,}"
