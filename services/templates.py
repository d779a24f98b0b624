"""KPI templates as a TOML file an admin edits: written from the shipped templates (`render_file`), read and
validated whole (`parse_file`), and stored as versions taking effect from a month (`apply_templates`).

A file is all or nothing: any problem refuses it and every problem is named, one line each. A month before
the current one is never changed: a closed month keeps being scored by the templates it had.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from scoring import periods
from scoring.metrics import CATALOG
from scoring.roles import Role, UnknownRole
from scoring.shipped_templates import DEFAULT_TEMPLATES
from scoring.templates import (
    BEGINNING,
    Stage,
    Template,
    TemplateError,
    WeightedMetric,
    band_problems,
    cap_problems,
    parse_percent,
    weight_problems,
)
from scoring.text import SHOWN_MAX, shown
from services.scorecards import month_key
from storage.audit import audit
from storage.models import KpiTemplate, KpiTemplateMetric
from storage.month_close import closed_from
from storage.queries import encode_grade_bands, load_templates

KEYS = {"name", "role", "stage", "trial", "achievement_cap", "grade_bands", "weights"}


class TemplateFileProblems(ValueError):
    """A templates file that cannot be applied; `problems` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- the file ------------------------------------------------------------------------------------------------

HEADER = """\
# kpibot KPI templates. Edit this file, then store it with
#     kpibot templates apply FILE [--from YYYY-MM]
# The templates score every month from the one given (default: the current month; the very first templates
# stored score every month). A closed month keeps being scored by the templates it had. A file with any
# problem is refused whole, and every problem is named.
#
# Each [[template]] is one role's template, for one business stage or for all:
#   name             unique, up to 64 characters; shown on cards and in `kpibot templates list`
#   role             whose template it is: {roles}
#   stage            optional: the team's business stage it is for: {stages}.
#                    Without it, the role's template for every stage that has none of its own
#   trial            true: scores are shown but not binding (pay and ranks ignore them)
#   achievement_cap  optional, in percent: no metric counts above it (default: the organisation's, 150)
#   [template.grade_bands]  optional: each grade = the lowest score that earns it, from the highest grade
#                    down to a last one at 0 (default: the organisation's, S = 120, A = 100, B = 85, C = 70,
#                    D = 0); a grade's name is 1 to 8 characters
#   [template.weights]  3 to 5 metrics, each with its weight in percent; the weights sum to 100
#
# The metrics (key: what it measures):
{metrics}
"""


def render_file(templates: Iterable[Template] = DEFAULT_TEMPLATES) -> str:
    """The TOML text of `templates` (default: the shipped ones), with comments explaining each field."""
    roles = ", ".join(r.value for r in Role if r.has_kpis)
    stages = ", ".join(s.value for s in Stage)
    metrics = "\n".join(f"#   {m.key}: {m.name('en')}{' (lower is better)' if m.lower_is_better else ''}"
                        for m in CATALOG.values())
    parts = [HEADER.format(roles=roles, stages=stages, metrics=metrics)]
    for t in templates:
        lines = ["", "[[template]]", f'name = "{t.name}"', f'role = "{t.role.value}"']
        if t.stage is not None:
            lines.append(f'stage = "{t.stage.value}"')
        lines.append(f"trial = {'true' if t.trial else 'false'}")
        if t.achievement_cap is not None:
            lines.append(f"achievement_cap = {_number(t.achievement_cap * 100)}")
        else:
            lines.append("# achievement_cap = 150")
        if t.grade_bands is not None:
            lines.append("[template.grade_bands]")
            lines.extend(f"{grade} = {_number(floor)}" for grade, floor in t.grade_bands)
        lines.append("[template.weights]")
        lines.extend(f"{m.key} = {_number(m.weight)}" for m in t.metrics)
        parts.append("\n".join(lines) + "\n")
    return "".join(parts)


def _number(value: Decimal) -> str:
    """An integer as one, a fraction as a quoted exact decimal (TOML floats are binary)."""
    normal = value.normalize()
    return str(int(normal)) if normal == normal.to_integral_value() else f'"{normal}"'


LINE = 160   # a problem's line is cut to this many characters; what was typed, to CUT
CUT = SHOWN_MAX
NAME_MAX = 64   # characters of a template's name


def _cut(text: str) -> str:
    """What was typed, at most CUT characters (the last an ellipsis when it was longer), without control
    characters (scoring.text.shown)."""
    return shown(text, CUT)


@dataclass(frozen=True)
class _Entry:
    """What a [[template]] says of itself that other templates may clash with, as far as it could be read."""

    name: str | None
    role: Role | None
    stage: Stage | None
    stage_read: bool      # no stage given, or a known one


def parse_file(text: str) -> list[Template]:
    """The templates of a file, all valid; TemplateFileProblems naming every problem otherwise, in one pass:
    each template's problems in file order, then the clashes between templates (read from every template
    whose name or role could be read, whatever else is wrong with it), each on one short line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateFileProblems([_line(f"not valid TOML: {exc}")]) from None
    problems = [f"unknown setting {k[:CUT]!r} (the file holds [[template]] tables only)" for k in data
                if k != "template"]
    entries = data.get("template", [])
    if not isinstance(entries, list) or not entries:
        raise TemplateFileProblems([_line(p) for p in [*problems, "no [[template]] in the file"]])
    templates: list[Template] = []
    read: list[_Entry] = []
    for i, entry in enumerate(entries, start=1):
        template, found, about = _template(i, entry)
        problems.extend(found)
        if template is not None:
            templates.append(template)
        if about is not None:
            read.append(about)
    problems.extend(_clashes(read))
    if problems:
        raise TemplateFileProblems([_line(p) for p in problems])
    return templates


def _line(problem: str) -> str:
    return problem if len(problem) <= LINE else problem[:LINE - 1] + "…"


def _template(i: int, entry: Any) -> tuple[Template | None, list[str], _Entry | None]:
    """One [[template]] table as a Template, its problems (the template is None when it has any), and what it
    says of itself. Every part is checked whatever is wrong with the others."""
    if not isinstance(entry, dict):
        return None, [f"template #{i} is not a table"], None
    name = entry.get("name")
    given = isinstance(name, str) and bool(name.strip())
    named = given and len(name) <= NAME_MAX
    where = f"template #{i} ({_cut(name)!r})" if isinstance(name, str) and name else f"template #{i}"
    out = [f"{where}: unknown setting {str(k)[:CUT]!r}" for k in entry if k not in KEYS]
    if not given:
        out.append(f"{where}: a name is required, 1 to {NAME_MAX} characters")
    elif not named:
        out.append(f"{where}: the name is too long ({len(name)} characters; at most {NAME_MAX})")
    role = _role(entry.get("role"), where, out)
    stage: Stage | None = None
    stage_read = True
    if "stage" in entry:
        try:
            stage = Stage(entry["stage"])
        except ValueError:
            stage_read = False
            out.append(f"{where}: unknown stage {str(entry['stage'])[:CUT]!r}; the stages are {', '.join(Stage)}")
    trial = entry.get("trial", False)
    if not isinstance(trial, bool):
        out.append(f"{where}: trial must be true or false")
    weights = _numbers(entry.get("weights"), f"{where}: weights", out, required=True)
    if weights is not None:
        out.extend(weight_problems(where, tuple(WeightedMetric(k, w) for k, w in weights)))
    cap = None
    if "achievement_cap" in entry:
        try:
            cap = parse_percent(entry["achievement_cap"]) / 100
            out.extend(cap_problems(where, cap))
        except TemplateError as exc:
            out.append(f"{where}: achievement_cap: {exc}")
    bands = _numbers(entry.get("grade_bands"), f"{where}: grade_bands", out, required=False)
    if bands is not None:
        out.extend(band_problems(where, tuple(bands)))
    about = _Entry(str(name) if named else None, role, stage, stage_read)
    if out or role is None:
        return None, out, about
    return Template(str(name), role, tuple(WeightedMetric(k, w) for k, w in (weights or [])), stage,
                    bool(trial), BEGINNING, cap, tuple(bands) if bands is not None else None), [], about


def _role(value: Any, where: str, out: list[str]) -> Role | None:
    try:
        role = Role.parse(str(value)[:CUT]) if value is not None else None
    except UnknownRole as exc:
        out.append(f"{where}: {exc}")
        return None
    if role is None:
        out.append(f"{where}: a role is required")
    elif not role.has_kpis:
        out.append(f"{where}: role {role.value!r} has no personal KPIs")
        return None
    return role


def _numbers(value: Any, where: str, out: list[str], required: bool) -> list[tuple[str, Decimal]] | None:
    """A table of name = number, in file order; None when it is missing or any number is not one (its
    problems are in `out`)."""
    if value is None:
        if required:
            out.append(f"{where} are required ([template.weights], metric = percent)")
        return None
    if not isinstance(value, dict):
        out.append(f"{where} must be a table of name = number")
        return None
    pairs: list[tuple[str, Decimal]] = []
    bad = False
    for key, number in value.items():
        try:
            pairs.append((key, parse_percent(number)))
        except TemplateError as exc:
            out.append(f"{where}: {key[:CUT]}: {exc}")
            bad = True
    return None if bad else pairs


def _clashes(entries: list[_Entry]) -> list[str]:
    out: list[str] = []
    names: set[str] = set()
    slots: dict[tuple[Role, Stage | None], str] = {}
    for e in entries:
        if e.name is not None:
            if e.name in names:
                out.append(f"template {e.name!r} is in the file twice")
            names.add(e.name)
        if e.role is None or not e.stage_read:
            continue
        slot = (e.role, e.stage)
        label = repr(e.name) if e.name is not None else "(unnamed)"
        if slot in slots:
            out.append(f"templates {slots[slot]} and {label} are both for role {e.role.value} at "
                       f"{e.stage.value if e.stage else 'every stage'}")
        slots.setdefault(slot, label)
    return out


# --- the store -----------------------------------------------------------------------------------------------

def parse_month(text: str) -> str:
    """A "YYYY-MM" month as the store keeps it (scoring.periods.parse_month checks it); ValueError otherwise."""
    year, month = periods.parse_month(text)
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True)
class Applied:
    effective_from: str   # BEGINNING when these are the store's first templates and no month was given
    added: int            # new versions
    replaced: int         # versions of the same month replaced


def apply_templates(session: Session, org_id: int, templates: list[Template], effective_from: str | None,
                    now: datetime, tz: str) -> Applied:
    """Store `templates` (validated by parse_file) as the versions in effect from `effective_from` (default:
    the current month in the organisation's zone `tz`; every month when the store has no template yet). A month
    before the current one is refused (ValueError) once templates exist: a closed month keeps its templates.
    Commits."""
    existing = session.execute(select(KpiTemplate).where(KpiTemplate.org_id == org_id)).scalars().all()
    this_month = month_key(periods.local_today(now, tz))
    if effective_from is None:
        effective_from = this_month if existing else BEGINNING
    elif existing and effective_from < this_month:
        raise ValueError(f"--from {effective_from} is before the current month ({this_month}): a closed month "
                         "keeps being scored by the templates it had")
    shut = closed_from(session, effective_from) if effective_from != BEGINNING or existing else None
    if shut is not None:
        raise ValueError(f"--from {effective_from}: {shut} is closed (kpibot month close) and keeps the templates "
                         "it was scored with; a closed month changes only through an approved appeal")
    added = replaced = 0
    for t in templates:
        row = next((r for r in existing if r.name == t.name and r.effective_from == effective_from), None)
        for other in existing:   # a renamed template for the same role and stage, applied the same month
            if other.effective_from == effective_from and other.name != t.name and other.role == t.role.value \
                    and other.stage == (t.stage.value if t.stage else None):
                other.active = False
                session.add(other)
        before = _shape(session, row) if row is not None else None
        if row is None:
            row = KpiTemplate(org_id=org_id, name=t.name, effective_from=effective_from)
            added += 1
        else:
            session.execute(delete(KpiTemplateMetric).where(KpiTemplateMetric.template_id == row.id))  # type: ignore[arg-type]
            replaced += 1
        row.role, row.stage, row.trial, row.active = t.role.value, t.stage.value if t.stage else None, t.trial, True
        row.achievement_cap, row.grade_bands = t.achievement_cap, encode_grade_bands(t.grade_bands)
        session.add(row)
        session.flush()
        session.add_all([KpiTemplateMetric(template_id=row.id or 0, metric_key=m.key, weight=m.weight, position=i)
                         for i, m in enumerate(t.metrics)])
        session.flush()
        audit(session, None, "template.apply", "kpi_template", f"{t.name}@{effective_from}",
              {"before": before, "after": _shape(session, row)})
    session.commit()
    return Applied(effective_from, added, replaced)


def _shape(session: Session, row: KpiTemplate) -> dict[str, Any]:
    """What of a stored version scores (for the audit log): role, stage, trial, cap, bands, weights."""
    weights = session.execute(select(KpiTemplateMetric.metric_key, KpiTemplateMetric.weight)
                              .where(KpiTemplateMetric.template_id == row.id)
                              .order_by(KpiTemplateMetric.position)).all()  # type: ignore[arg-type]
    return {"role": row.role, "stage": row.stage, "trial": row.trial, "active": row.active,
            "cap": None if row.achievement_cap is None else str(row.achievement_cap), "grades": row.grade_bands,
            "weights": {key: str(weight) for key, weight in weights}}


def versions(session: Session) -> list[Template]:
    """Every stored version, by name then month (those whose problem is set no longer validate)."""
    return sorted(load_templates(session), key=lambda t: (t.name, t.effective_from))
