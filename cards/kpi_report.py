"""A member's KPI month as a report: the JSON shape `kpibot kpi --json` prints for scripts and BI tools, and
its plain-text table."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from cards.kpi_cards import pace_text
from scoring.metrics import Unit
from scoring.money import round_money
from scoring.pace import Pace, PaceStatus


class ReportedMember(Protocol):
    """What a report says of its member (a storage.models.Member has it)."""

    code: str
    name: str
    role: str


def _amount(value: Decimal | None, unit: Unit, currency: str) -> Any:
    if value is None:
        return None
    if unit is Unit.MONEY:
        return {"amount": str(round_money(value, currency)), "currency": currency}
    places = {Unit.RATIO: "0.0001", Unit.SECONDS: "0.1", Unit.DAYS: "0.01", Unit.COUNT: "1"}[unit]
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def kpi_report(member: ReportedMember, card: Any, period: str, currency: str, template: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"member": member.code, "name": member.name, "role": member.role, "period": period}
    if card is None:
        return {**base, "template": None, "score": None, "grade": None, "binding": None, "metrics": []}
    return {
        **base, "template": template.name, "score": str(card.score) if card.score is not None else None,
        "grade": card.grade, "binding": card.binding, "reporting_currency": currency,
        "metrics": [{
            "key": r.metric.key, "name": r.metric.names["en"], "unit": str(r.metric.unit),
            "lower_is_better": r.metric.lower_is_better, "weight": str(r.weight),
            "actual": _amount(r.actual, r.metric.unit, currency), "target": _amount(r.target, r.metric.unit, currency),
            "achievement": _ratio(r.achievement), "pace": _ratio(r.pace), "scored": _ratio(r.scored),
            # the pace as the cards show and judge it (scoring.pace): whole percent and ahead/on_pace/behind/not_yet
            "pace_percent": None if r.pace_shown is None else r.pace_shown.percent,
            "pace_status": None if r.pace_shown is None else str(r.pace_shown.status),
        } for r in card.results],
    }


def kpi_text(report: dict[str, Any]) -> str:
    lines = [f"{report['name']} ({report['member']}, {report['role']}) · {report['period']}"]
    if report["template"] is None:
        return lines[0] + "\nno KPI template for this role"
    lines.append(f"template {report['template']} · score {report['score'] or '—'} · grade {report['grade'] or '—'}"
                 + ("" if report["binding"] else " · trial, not binding"))

    def show(v: Any) -> str:
        return "—" if v is None else (f"{v['amount']} {v['currency']}" if isinstance(v, dict) else v)

    def pct(v: str | None) -> str:
        return "—" if v is None else f"{(Decimal(v) * 100).quantize(Decimal('0.1'))}%"

    def pace(m: dict[str, Any]) -> str:
        status = m.get("pace_status")
        return "—" if status is None else pace_text(Pace(m["pace_percent"], PaceStatus(status)), "en")

    lines.append(f"{'metric':<28}{'weight':>7}{'actual':>20}{'target':>20}{'achieved':>10}  pace")
    for m in report["metrics"]:
        lines.append(f"{m['name']:<28}{m['weight'] + '%':>7}{show(m['actual']):>20}{show(m['target']):>20}"
                     f"{pct(m['achievement']):>10}  {pace(m)}")
    return "\n".join(lines)
