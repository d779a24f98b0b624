"""The ranking `/rank` shows: every member with a KPI template in the member's team, or in every team for a
member without one, scored on one window so that all compare alike. `/rank` calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Session

from scoring.periods import PeriodKind, Window, window_for
from services.container import Services
from services.scorecards import Inputs, score_current
from storage.models import Member
from storage.queries import team_members, team_of, teams


@dataclass(frozen=True)
class Ranking:
    team: str | None        # the name of the member's team; None: every team
    window: Window          # in the team's zone, or the organisation's across teams
    rows: list[tuple[str, str, Decimal | None, str | None]]   # (member, team, score, grade), unsorted
    fx_stale: dict[tuple[str, str], date] = field(default_factory=dict)     # pair -> oldest rate day used
    fx_missing: dict[tuple[str, str], date] = field(default_factory=dict)   # pairs left out: no rate at all
    trial: frozenset[tuple[str, str]] = frozenset()   # (member, team) of the members in trial, marked on the card


def ranking(services: Services, member: Member, kind: PeriodKind, now: datetime) -> Ranking:
    """The current `kind` period as of `now`; members without a KPI template are left out."""
    with Session(services.engine) as session:
        inputs = Inputs.load(session, services.rules, now, skip_missing_fx=True)
        own = team_of(session, member)
        scope = [own] if own else teams(session)
        tz = own.timezone if own else services.org_timezone   # one window for everyone compared
        rows: list[tuple[str, str, Decimal | None, str | None]] = []
        trial: set[tuple[str, str]] = set()
        for team in scope:
            for m in team_members(session, team.id or 0):
                s = score_current(session, inputs, m, team, kind, tz)
                if s.scorecard is not None:
                    rows.append((m.name, team.name, s.scorecard.score, s.scorecard.grade))
                    if s.trial:
                        trial.add((m.name, team.name))
    return Ranking(own.name if own else None, window_for(kind, now, tz), rows, dict(inputs.fx.stale),
                   dict(inputs.fx.missing), frozenset(trial))
