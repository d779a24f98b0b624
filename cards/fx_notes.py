"""The notes a card carries about exchange rates: which were older than usual (from which day) and which
currencies had no rate at all, so their amounts are left out (scoring.fx.FxTable.stale and .missing)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from cards.i18n import t
from cards.model import Note


def fx_notes(stale: Mapping[tuple[str, str], date], missing: Mapping[tuple[str, str], date],
             lang: str) -> tuple[Note, ...]:
    return (*(Note(t(lang, "fx.stale", base=b, quote=q, day=d.isoformat())) for (b, q), d in sorted(stale.items())),
            *(Note(t(lang, "fx.missing", base=b, quote=q)) for b, q in sorted(missing)))
