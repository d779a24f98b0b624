"""Writing exchange rates: one row per (day, base, quote); a rate given again for the same day replaces the old
one (the last word wins, so a corrected rate is a re-run, not a conflict)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, select

from scoring.fx import FxRate
from storage.models import FxRateRow


@dataclass(frozen=True)
class Stored:
    added: int
    changed: int
    unchanged: int


def store_rates(session: Session, rates: Iterable[FxRate], source: str) -> Stored:
    """Upsert `rates` (no commit); counts what was new, what changed and what was already so."""
    added = changed = unchanged = 0
    for r in rates:
        row = session.exec(select(FxRateRow).where(FxRateRow.day == r.day, FxRateRow.base == r.base,
                                                   FxRateRow.quote == r.quote)).first()
        if row is None:
            session.add(FxRateRow(day=r.day, base=r.base, quote=r.quote, rate=r.rate, source=source))
            added += 1
        elif row.rate != r.rate:
            row.rate, row.source = r.rate, source
            session.add(row)
            changed += 1
        else:
            unchanged += 1
        session.flush()
    return Stored(added, changed, unchanged)
