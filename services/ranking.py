"""The ranking `/rank` shows: every member with a KPI template in the member's team, or in every team for a
member without one, each scored on their own period (services.scorecards.member_window: their team's calendar),
the same score /mykpi, /team and the digest show. `/rank` calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Session

from scoring.periods import PeriodKind, Window, window_for
from services.container import Services
from services.scorecards import Inputs, team_scores
from storage.models import Member
from storage.queries import team_of, teams


@dataclass(frozen=True)
class Ranking:
    team: str | None        # the name of the member's team; None: every team
    window: Window          # the team's period; across teams, the organisation's (for the label)
    rows: list[tuple[str, str, Decimal | None, str | None]]   # (member, team, score, grade), unsorted
    fx_stale: dict[tuple[str, str], date] = field(default_factory=dict)     # pair -> oldest rate day used
    fx_missing: dict[tuple[str, str], date] = field(default_factory=dict)   # pairs left out: no rate at all
    trial: frozenset[tuple[str, str]] = frozenset()   # (member, team) of the members in trial, marked on the card
    labels: tuple[str, ...] = ()   # the periods the rows are on, oldest first: two at a turn of the month across zones

    @property
    def period_label(self) -> str:
        """The period the card names: every row's, or "2026-11 / 2026-12" while teams' zones are in two."""
        return " / ".join(self.labels) if self.labels else self.window.label


def ranking(services: Services, member: Member, kind: PeriodKind, now: datetime) -> Ranking:
    """The current `kind` period as of `now`; members without a KPI template are left out."""
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now, skip_missing_fx=True)
        own = team_of(session, member)
        scope = [own] if own else teams(session)
        rows: list[tuple[str, str, Decimal | None, str | None]] = []
        trial: set[tuple[str, str]] = set()
        windows: set[Window] = set()
        for team in scope:
            for s in team_scores(session, inputs, team, kind):
                if s.scorecard is not None:
                    rows.append((s.member.name, team.name, s.scorecard.score, s.scorecard.grade))
                    windows.add(s.window)
                    if s.trial:
                        trial.add((s.member.name, team.name))
    window = window_for(kind, now, own.timezone if own else services.org_timezone)
    labels = tuple(sorted({w.label for w in windows}))
    return Ranking(own.name if own else None, window, rows, dict(inputs.fx.stale), dict(inputs.fx.missing),
                   frozenset(trial), labels)
