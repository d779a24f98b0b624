"""Reading a period argument: day / yesterday / week / month, in English, Chinese or Indonesian; a YYYY-MM month."""

from __future__ import annotations

import re

from scoring.periods import PeriodKind, parse_month
from services.errors import UserError

PERIOD_WORDS: dict[str, PeriodKind] = {
    "day": PeriodKind.DAY, "today": PeriodKind.DAY, "d": PeriodKind.DAY, "日": PeriodKind.DAY,
    "今日": PeriodKind.DAY, "今天": PeriodKind.DAY, "天": PeriodKind.DAY,
    "week": PeriodKind.WEEK, "w": PeriodKind.WEEK, "周": PeriodKind.WEEK, "本周": PeriodKind.WEEK,
    "month": PeriodKind.MONTH, "m": PeriodKind.MONTH, "月": PeriodKind.MONTH, "本月": PeriodKind.MONTH,
    "yesterday": PeriodKind.YESTERDAY, "昨天": PeriodKind.YESTERDAY, "昨日": PeriodKind.YESTERDAY,
    # Indonesian
    "hari": PeriodKind.DAY, "minggu": PeriodKind.WEEK, "bulan": PeriodKind.MONTH, "kemarin": PeriodKind.YESTERDAY,
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


_MONTH_SHAPE = re.compile(r"\d+-\d+")


def month_arg(text: str) -> tuple[int, int] | None:
    """(year, month) of a YYYY-MM argument, or None for a word that is no month at all (a member's code). A word
    shaped like a month that is none (2026-13, 2026-00, 26-11) is refused as such (UserError), not taken for a
    name: "No member 2026-13" would send the reader looking for a member."""
    try:
        return parse_month(text)
    except ValueError:
        if _MONTH_SHAPE.fullmatch(text):
            raise UserError("error.not_a_month", value=text) from None
        return None
