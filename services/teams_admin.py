"""Teams set up with kpibot commands (`kpibot teams add|list|set`): code, name, time zone, business stage,
locale, the countries they sell in and their leads. Every value is checked before anything is written, and a
problem is one line (SetupError)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlmodel import Session

from scoring.templates import Stage
from scoring.text import CODE_MAX, BadText, ControlCharacter, code_text, country_code, shown
from services.organisation import OrgSettings, SetupError, locale_of, name_of, the_organisation, zone_of
from storage.audit import audit
from storage.models import Member, Team, TeamCountry, TeamLead
from storage.queries import find_team, member_by_code, teams

STAGES = tuple(s.value for s in Stage)


@dataclass(frozen=True, slots=True)
class TeamRow:
    """A team as `kpibot teams list` shows it."""

    code: str
    name: str
    timezone: str
    stage: str
    leads: tuple[str, ...]       # member codes
    countries: tuple[str, ...]   # ISO 3166 alpha-2, sorted


def stage_of(text: str) -> str:
    stage = text.strip().lower().replace("-", "_")
    if stage not in STAGES:
        raise SetupError(f"unknown business stage {text[:40]!r}; stages: {', '.join(STAGES)}")
    return stage


def countries_of(texts: Sequence[str]) -> list[str]:
    """ISO 3166-1 alpha-2 codes (scoring.text.country_code: US, GB, ID, upper-cased), without repeats."""
    out: list[str] = []
    for text in texts:
        for part in text.split(","):
            try:
                code = country_code(part)
            except BadText as exc:
                raise SetupError(f"country {shown(part.strip().upper())!r} {exc}") from None
            if code not in out:
                out.append(code)
    return out


def code_of(text: str) -> str:
    """A team code (scoring.text.code_text), of letters, digits, '-', '_' and '.'."""
    try:
        code = code_text(text, CODE_MAX)
    except ControlCharacter as exc:
        raise SetupError(f"team code {shown(text)!r} {exc}") from None
    except BadText:
        code = ""
    if not re.fullmatch(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{CODE_MAX - 1}}}", code):
        raise SetupError(f"team code {shown(text)!r}: letters, digits, '-', '_' or '.', at most {CODE_MAX}, "
                         "e.g. live-us")
    return code


def add_team(session: Session, defaults: OrgSettings, code: str, name: str | None, timezone: str | None,
             stage: str, locale: str | None, countries: Sequence[str]) -> Team:
    """A new team of the store's organisation (flushed, not committed); its zone and locale default to the
    organisation's (`defaults`: what the process uses, services.organisation.effective_settings)."""
    org = the_organisation(session)
    if org is None:
        raise SetupError("the store has no organisation yet; make it with: kpibot org init")
    code = code_of(code)
    if any(t.code.casefold() == code.casefold() for t in teams(session)):
        raise SetupError(f"there is already a team {code} (see: kpibot teams list)")
    zone = zone_of(timezone) if timezone is not None else defaults.timezone
    lang = locale_of(locale) if locale is not None else defaults.locale
    team = Team(org_id=org.id or 0, code=code, name=name_of(name) if name is not None else code, timezone=zone,
                locale=lang, stage=stage_of(stage))
    wanted = countries_of(countries)
    session.add(team)
    session.flush()
    _set_countries(session, team, wanted)
    return team


def set_team(session: Session, code: str, *, name: str | None = None, timezone: str | None = None,
             stage: str | None = None, locale: str | None = None, countries: Sequence[str] = (),
             leads: Sequence[str] = ()) -> Team:
    """Change what is given; countries and leads, when given, replace the team's. A lead must be a member of
    the team (import the members first)."""
    team = team_named(session, code)
    new_name = name_of(name) if name is not None else None
    new_zone = zone_of(timezone) if timezone is not None else None
    new_stage = stage_of(stage) if stage is not None else None
    new_locale = locale_of(locale) if locale is not None else None
    new_countries = countries_of(countries)
    new_leads = [_lead(session, team, text) for text in leads]
    if (new_name, new_zone, new_stage, new_locale) == (None,) * 4 and not new_countries and not new_leads:
        raise SetupError("nothing to change: give --name, --timezone, --stage, --locale, --country or --lead")
    before = _audited(session, team)
    for field, value in (("name", new_name), ("timezone", new_zone), ("stage", new_stage), ("locale", new_locale)):
        if value is not None:
            setattr(team, field, value)
    session.add(team)
    if new_countries:
        _set_countries(session, team, new_countries)
    if new_leads:
        session.execute(delete(TeamLead).where(TeamLead.team_id == team.id))  # type: ignore[arg-type]
        for member_id in dict.fromkeys(m.id or 0 for m in new_leads):   # a lead named twice is one row
            session.add(TeamLead(team_id=team.id or 0, member_id=member_id))
    session.flush()
    after = _audited(session, team)
    changed = [k for k in after if after[k] != before[k]]
    if changed:   # the zone moves the team's days, the stage its templates, the leads who decides its appeals
        audit(session, None, "team.change", "team", team.code,
              {"before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}})
    return team


def _audited(session: Session, team: Team) -> dict[str, object]:
    """What of a team decides its members' scores and appeals, as JSON values."""
    leads = session.execute(select(Member.code).join(TeamLead, TeamLead.member_id == Member.id)
                            .where(TeamLead.team_id == team.id).order_by(Member.code)).scalars()
    countries = session.execute(select(TeamCountry.country).where(TeamCountry.team_id == team.id)
                                .order_by(TeamCountry.country)).scalars()  # type: ignore[arg-type]
    return {"name": team.name, "timezone": team.timezone, "stage": team.stage, "locale": team.locale,
            "countries": list(countries), "leads": list(leads)}


def team_named(session: Session, text: str) -> Team:
    team = find_team(session, text)
    if team is None:
        raise SetupError(f"no team {text[:40]!r}; teams: {', '.join(t.code for t in teams(session)) or 'none'}")
    return team


def team_rows(session: Session) -> list[TeamRow]:
    leads: dict[int, list[str]] = {}
    for team_id, member in session.execute(select(TeamLead.team_id, Member.code).join(Member, Member.id ==
                                           TeamLead.member_id).order_by(Member.code)):
        leads.setdefault(team_id, []).append(member)
    countries: dict[int, list[str]] = {}
    for team_id, country in session.execute(select(TeamCountry.team_id, TeamCountry.country)
                                            .order_by(TeamCountry.country)):
        countries.setdefault(team_id, []).append(country)
    return [TeamRow(t.code, t.name, t.timezone, t.stage, tuple(leads.get(t.id or 0, ())),
                    tuple(countries.get(t.id or 0, ()))) for t in teams(session)]


def _lead(session: Session, team: Team, text: str) -> Member:
    member = member_by_code(session, text.strip())
    if member is None or not member.active:
        raise SetupError(f"no member {text[:40]!r} to lead team {team.code} "
                         "(import members first: kpibot members import)")
    if member.team_id != team.id:
        raise SetupError(f"{member.code} is not a member of team {team.code}; put them in it first "
                         "(the team column of kpibot members import)")
    return member


def _set_countries(session: Session, team: Team, countries: list[str]) -> None:
    session.execute(delete(TeamCountry).where(TeamCountry.team_id == team.id))  # type: ignore[arg-type]
    for country in countries:
        session.add(TeamCountry(team_id=team.id or 0, country=country))
