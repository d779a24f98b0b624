"""Writing exchange rates: one row per (day, base, quote); a rate given again for the same day replaces the old
one (the last word wins, so a corrected rate is a re-run, not a conflict)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from scoring.fx import FxRate
from storage.audit import audit
from storage.models import FxRateRow

AUDITED_CHANGES = 100   # rates listed with their before and after in one audit row (a feed's 90 days are more)


@dataclass(frozen=True)
class Stored:
    added: int
    changed: int
    unchanged: int
    closed: int = 0      # rates of a closed month's days left as they were (services.fx.store)


def store_rates(session: Session, rates: Iterable[FxRate], source: str, file: str | None = None) -> Stored:
    """Upsert `rates` (no commit); counts what was new, what changed and what was already so. The rows of the
    rates' days are read in one query (a 90-day history of 30 currencies was 1,900 round trips). A rate equal to
    a stored one from another source takes this source, so the job sees its own newest day. What was added or
    changed is audited as fx.store (with `file`, the name of an imported file)."""
    rates = list(rates)
    stored = {(row.day, row.base, row.quote): row for row in session.exec(
        select(FxRateRow).where(FxRateRow.day.in_({r.day for r in rates})))}  # type: ignore[attr-defined]
    added = changed = unchanged = 0
    changes: list[dict[str, Any]] = []
    for r in rates:
        row = stored.get((r.day, r.base, r.quote))
        if row is None:
            row = stored[r.day, r.base, r.quote] = FxRateRow(day=r.day, base=r.base, quote=r.quote, rate=r.rate,
                                                            source=source)
            added += 1
            changes.append({"day": r.day.isoformat(), "pair": f"{r.base}/{r.quote}", "before": None,
                            "after": str(r.rate)})
        elif row.rate != r.rate:
            changes.append({"day": r.day.isoformat(), "pair": f"{r.base}/{r.quote}", "before": str(row.rate),
                            "after": str(r.rate)})
            row.rate, row.source = r.rate, source
            changed += 1
        else:
            row.source = source
            unchanged += 1
        session.add(row)
    session.flush()
    if changes:   # a rate converts money in scores and pay: who stored which, in this transaction
        audit(session, None, "fx.store", "fx_rate", source,
              {"source": source, "file": file, "added": added, "changed": changed, "unchanged": unchanged,
               "rates": changes[:AUDITED_CHANGES], "more": max(0, len(changes) - AUDITED_CHANGES)})
    return Stored(added, changed, unchanged)
