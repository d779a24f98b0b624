"""Reading a period argument: day / week / month, in English, Chinese or Indonesian."""

from __future__ import annotations

from scoring.periods import PeriodKind
from services.errors import UserError

PERIOD_WORDS: dict[str, PeriodKind] = {
    "day": PeriodKind.DAY, "today": PeriodKind.DAY, "d": PeriodKind.DAY, "日": PeriodKind.DAY,
    "今日": PeriodKind.DAY, "今天": PeriodKind.DAY, "天": PeriodKind.DAY,
    "week": PeriodKind.WEEK, "w": PeriodKind.WEEK, "周": PeriodKind.WEEK, "本周": PeriodKind.WEEK,
    "month": PeriodKind.MONTH, "m": PeriodKind.MONTH, "月": PeriodKind.MONTH, "本月": PeriodKind.MONTH,
    # Indonesian
    "hari": PeriodKind.DAY, "minggu": PeriodKind.WEEK, "bulan": PeriodKind.MONTH,
}


def parse_period(args: tuple[str, ...], usage: str, default: PeriodKind = PeriodKind.MONTH) -> PeriodKind:
    if not args:
        return default
    if len(args) > 1:
        raise UserError("error.bad_args", problem=" ".join(args), usage=usage)
    kind = PERIOD_WORDS.get(args[0].lower())
    if kind is None:
        raise UserError("error.bad_args", problem=args[0], usage=usage)
    return kind
