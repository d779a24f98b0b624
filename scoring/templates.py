"""KPI templates: 3-5 weighted metrics per role, optionally per business stage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from scoring.metrics import CATALOG
from scoring.roles import Role
from scoring.text import BadText, exact_text, shown

GRADE_MAX = 8   # characters of a grade's name (S, A, B+, Gold): cards print it in a narrow column
BEGINNING = "0001-01"   # the effective month of templates that apply to every month (those stored before 0013)


class Stage(StrEnum):
    COLD_START = "cold_start"
    GROWTH = "growth"
    STABLE = "stable"


class TemplateError(ValueError):
    """A template that cannot be scored with; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class WeightedMetric:
    key: str
    weight: Decimal  # percentage points; a template's weights sum to 100


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    role: Role
    metrics: tuple[WeightedMetric, ...]
    stage: Stage | None = None  # None: applies to every stage without a template of its own
    trial: bool = False         # scores shown but not binding
    effective_from: str = BEGINNING   # "YYYY-MM": the first month this version scores
    achievement_cap: Decimal | None = None                   # None: the organisation's (Rules.achievement_cap)
    grade_bands: tuple[tuple[str, Decimal], ...] | None = None   # None: the organisation's (Rules.grade_bands)
    problem: str | None = None  # set when a stored template no longer validates: its members get this message

    def problems(self) -> list[str]:
        """Everything wrong with the template, one line each (empty: it can be scored with)."""
        where = f"KPI template {self.name!r}"
        return [*weight_problems(where, self.metrics), *cap_problems(where, self.achievement_cap),
                *band_problems(where, self.grade_bands)]

    def validate(self) -> Template:
        """Raises TemplateError naming the first problem."""
        found = self.problems()
        if found:
            raise TemplateError(found[0])
        return self


def weight_problems(where: str, metrics: tuple[WeightedMetric, ...]) -> list[str]:
    """What is wrong with a template's metrics and weights (`where` names the template)."""
    out: list[str] = []
    if not 3 <= len(metrics) <= 5:
        out.append(f"{where} has {len(metrics)} metric{'' if len(metrics) == 1 else 's'}; it needs 3 to 5")
    keys = [m.key for m in metrics]
    unknown = [k[:40] for k in keys if k not in CATALOG]
    if unknown:
        out.append(f"{where} uses unknown metric(s): {', '.join(unknown)}")
    if len(set(keys)) != len(keys):
        out.append(f"{where} lists a metric twice")
    bad = [m for m in metrics if not m.weight.is_finite() or m.weight <= 0]
    out.extend(f"{where}: the weight of {shown(m.key)} is {m.weight:f}%; it must be above 0" for m in bad)
    if not bad:
        total = sum((m.weight for m in metrics), Decimal(0))
        if total != 100:
            out.append(f"{where}: weights sum to {total}%, they must sum to 100%")
    return out


def cap_problems(where: str, cap: Decimal | None) -> list[str]:
    if cap is not None and (not cap.is_finite() or cap < 1):
        return [f"{where}: achievement cap {cap * 100}% must be at least 100%"]
    return []


def band_problems(where: str, bands: tuple[tuple[str, Decimal], ...] | None) -> list[str]:
    """Everything wrong with grade bands, each naming the band and its floor (a file's author must find it): a
    grade's name (1 to GRADE_MAX characters, no control character: the cards print it), a grade listed twice, a
    floor not below the one above it, a last floor not at 0."""
    if bands is None:
        return []
    if not bands:
        return [f"{where}: grade bands are empty; list them from the highest floor down to a last band at 0"]
    out: list[str] = []
    seen: set[str] = set()
    for i, (grade, floor) in enumerate(bands):
        out.extend(f"{where}: grade {shown(grade)!r} {why}; a grade is 1 to {GRADE_MAX} printable characters"
                   for why in _grade_problems(grade))
        if grade in seen:
            out.append(f"{where}: grade band {shown(grade)} is listed twice; each grade once")
        seen.add(grade)
        if i and floor >= bands[i - 1][1]:
            above, above_floor = bands[i - 1]
            how = "starts at the same floor as" if floor == above_floor else "has a higher floor than"
            out.append(f"{where}: grade band {shown(grade)} = {floor:f} {how} {shown(above)} = {above_floor:f} "
                       "above it; list the bands from the highest floor down")
    last, last_floor = bands[-1]
    if last_floor != 0:
        out.append(f"{where}: the last grade band {shown(last)} = {last_floor:f} must be at 0")
    return out


def _grade_problems(grade: str) -> list[str]:
    try:
        if exact_text(grade, GRADE_MAX) != grade:
            return ["has spaces around it"]
    except BadText as exc:
        return [str(exc)]
    return []


def select_template(templates: list[Template], role: Role, stage: Stage | None,
                    period: str | None = None) -> Template | None:
    """The template for the role at this stage, else the role's stage-independent one. With `period`
    ("YYYY-MM"), among the versions in effect that month the latest; without, the latest of all."""
    for wanted in (stage, None):
        found = [t for t in templates if t.role == role and t.stage == wanted
                 and (period is None or t.effective_from <= period)]
        if found:
            return max(found, key=lambda t: t.effective_from)   # the first of equals: list order decides
    return None


def parse_percent(value: object) -> Decimal:
    """A number from a file (int, float or text) as an exact Decimal; TemplateError when it is none."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TemplateError(f"{value!r} is not a number")
    try:
        out = Decimal(str(value).strip())
    except InvalidOperation:
        raise TemplateError(f"{value!r} is not a number") from None
    if not out.is_finite():
        raise TemplateError(f"{value!r} is not a number")
    return out
