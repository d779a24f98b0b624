"""An audit row as /audit shows it: who or what it is about, and its change in one short readable line per action
family (targets, member changes, appeals, FX rates, syncs, refinalised final scores, commission closes and
corrections); any other action as key=value pairs (an amount in minor units with the row's currency as money). Ids
are shown as the codes services.audit_log.audit_names found (an id no longer stored stays an id). `kpibot audit
--json` keeps the rows whole and raw."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from cards.format import money, percent, plain_number
from cards.i18n import MESSAGES, t
from scoring.metrics import CATALOG, Unit
from scoring.money import from_minor
from scoring.text import shown
from services.audit_log import AuditNames, AuditRow

CHANGE_SHOWN = 80   # characters of a row's change on the card (cards stay within the platforms' size limit)
ABOUT_SHOWN = 40
APPEAL_STATES = ("open", "approved", "partly_approved", "rejected", "withdrawn")
MEMBER_FIELDS = ("role", "team_id", "trial_until", "finance", "active")
ARROW = "→"
NONE = "—"


def _value(v: Any) -> str:
    return NONE if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def number(v: Any) -> str:
    """A stored decimal ("1200.00") as people read it: 1,200; 1,234.5; anything else as it is."""
    if v is None:
        return NONE
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        return _value(v)
    if not d.is_finite():
        return _value(v)
    return plain_number(d)


def _metric_value(metric: Any, v: Any) -> str:
    """A target's value: a ratio metric's as a percentage (0.08: 8.00%), else as number() reads it."""
    m = CATALOG.get(metric) if isinstance(metric, str) else None
    if m is not None and m.unit is Unit.RATIO and v is not None:
        try:
            return percent(Decimal(str(v)), 2)
        except InvalidOperation:
            return _value(v)
    return number(v)


def _money(minor: Any, currency: Any) -> str:
    """An amount in minor units as money ("3800", USD: 38.00 USD); anything else as it is."""
    if isinstance(minor, int) and not isinstance(minor, bool) and isinstance(currency, str) and currency:
        return money(from_minor(minor, currency), currency)
    return _value(minor)


def _member(names: AuditNames, v: Any) -> str:
    return names.members.get(v, str(v)) if isinstance(v, int) else _value(v)


def _subject(names: AuditNames, key: str | None) -> str:
    """A target's subject (member:ID, team:ID, company) as its code."""
    kind, _, number_ = (key or "").partition(":")
    if number_.isdigit():
        table = names.members if kind == "member" else names.teams if kind == "team" else {}
        return table.get(int(number_), key or "")
    return key or ""


def about(row: AuditRow, names: AuditNames) -> str:
    """What the row is about: a member's or team's code, an appeal's number, a shop's code, else its entity id."""
    if row.entity == "appeal":
        text = f"#{row.entity_id}"
    elif row.entity == "appeal_adjustment":
        text = f"#{row.details.get('appeal', row.entity_id)}"
    elif row.entity == "shop" and (row.entity_id or "").isdigit():
        text = names.shops.get(int(row.entity_id or 0), row.entity_id or "")
    else:
        text = _subject(names, row.entity_id) if row.entity_id else row.entity
    return shown(text, ABOUT_SHOWN)


def _target(row: AuditRow, names: AuditNames, lang: str) -> str:
    d = row.details
    where = " ".join(str(p) for p in (_subject(names, row.entity_id), d.get("country"), d.get("metric"),
                                      d.get("period")) if p)
    metric = d.get("metric")
    text = f"{where}: {_metric_value(metric, d.get('before'))} {ARROW} {_metric_value(metric, d.get('value'))}" \
        if "before" in d else f"{where}: {_metric_value(metric, d.get('value'))}"
    return f"{text} (--force, {d['settled']})" if d.get("settled") else text


def _field_value(field: str, v: Any, names: AuditNames, lang: str) -> str:
    if v is None:
        return NONE
    if field == "role" and f"role.{v}" in MESSAGES:
        return t(lang, f"role.{v}")
    if field == "team_id" and isinstance(v, int):
        return names.teams.get(v, str(v))
    if isinstance(v, bool):
        return t(lang, "audit.yes" if v else "audit.no")
    return str(v)[:10] if field == "trial_until" else _value(v)


def _member_change(row: AuditRow, names: AuditNames, lang: str) -> str:
    before = row.details.get("before") if isinstance(row.details.get("before"), dict) else None
    after = row.details.get("after") if isinstance(row.details.get("after"), dict) else {}
    parts = []
    for f in MEMBER_FIELDS:
        if f not in after:
            continue
        label = t(lang, f"audit.field.{f}")
        now = _field_value(f, after[f], names, lang)
        if before is not None:
            parts.append(f"{label} {_field_value(f, before.get(f), names, lang)} {ARROW} {now}")
        elif after[f] not in (None, False) and not (f == "active" and after[f] is True):
            parts.append(f"{label} {now}")
    return "; ".join(parts)


def _appeal(row: AuditRow, names: AuditNames, lang: str) -> str:
    after = row.details.get("after") if isinstance(row.details.get("after"), dict) else {}
    head = f"#{row.entity_id} {_member(names, after.get('member_id'))} {_metric_name(after.get('metric'), lang)}"
    head = head.rstrip()
    status = after.get("status")
    said = t(lang, f"audit.status.{status}") if status in APPEAL_STATES else _value(status)
    if row.action == "appeal.escalate":
        return f"{head}: {ARROW} {_member(names, after.get('approver_member_id'))} ({after.get('level')})"
    value = after.get("decided_value") if after.get("decided_value") is not None else \
        after.get("value_claimed") if status == "open" else None
    text = f"{head}: {said}" + (f", {number(value)}" if value is not None else "")
    note = row.details.get("note")
    return f"{text}; {note}" if isinstance(note, str) and note else text


def _metric_name(key: Any, lang: str) -> str:
    """A metric as the reader names it (点击成本CPC, not cpc); anything else as it is."""
    metric = CATALOG.get(key) if isinstance(key, str) else None
    return metric.name(lang) if metric is not None else ("" if key is None else _value(key))


def _label(field: str, lang: str) -> str:
    """A detail's name in the reader's language where the catalog has it (audit.field.*), else as stored."""
    return t(lang, f"audit.field.{field}") if f"audit.field.{field}" in MESSAGES else field


def _adjustment(row: AuditRow, names: AuditNames, lang: str) -> str:
    d = row.details
    before = d.get("before") if isinstance(d.get("before"), dict) else {}
    after = d.get("after") if isinstance(d.get("after"), dict) else {}
    def shown_as(k: str, v: Any) -> str:
        return number(v) if k == "value" else _metric_name(v, lang) if k == "metric" else _value(v)

    changes = [f"{_label(k, lang)} {shown_as(k, before.get(k))} {ARROW} {shown_as(k, after.get(k))}" for k in after
               if before.get(k) != after.get(k)]
    kind = row.action.removeprefix("appeal.")
    return f"#{d.get('appeal')} {_member(names, d.get('member'))} {d.get('period', '')} {kind}: " + "; ".join(changes)


def _refinalise(row: AuditRow, names: AuditNames, lang: str) -> str:
    """"2026-10 lily: score 53.0 → 33.0, rank 1 → 2; eq: rank 2 → 1": each member whose final score or rank
    moved, the row's member first."""
    d = row.details
    before = d["before"] if isinstance(d.get("before"), dict) else {}
    after = d["after"] if isinstance(d.get("after"), dict) else {}
    codes = list(dict.fromkeys([c for c in (d.get("member"),) if isinstance(c, str)] + [*before, *after]))
    parts = []
    for code in codes:
        was = before.get(code) if isinstance(before.get(code), dict) else {}
        now = after.get(code) if isinstance(after.get(code), dict) else {}
        moved = [f"{t(lang, f'audit.field.{k}')} {_value(was.get(k))} {ARROW} {_value(now.get(k))}"
                 for k in ("score", "rank") if was.get(k) != now.get(k)]
        if moved:
            parts.append(f"{code}: " + ", ".join(moved))
    return f"{d.get('period', '')} " + "; ".join(parts) if parts else ""


def _payout(row: AuditRow, names: AuditNames, lang: str) -> str:
    """A commission close: "plan-a: earned 38.00 USD, paid 38.00 USD" (a clawback when there is one)."""
    d, cur = row.details, row.details.get("currency")
    parts = [f"{t(lang, f'audit.field.{k}')} {_money(d.get(f'{k}_minor'), cur)}" for k in ("earned", "clawback", "paid")
             if k != "clawback" or d.get("clawback_minor")]
    return f"{d.get('plan')}: " + ", ".join(parts)


def _correction(row: AuditRow, names: AuditNames, lang: str) -> str:
    """A correction after an appeal: "2026-10 lily #8: earned 38.00 USD → 18.00 USD (-20.00 USD)"."""
    d, cur = row.details, row.details.get("currency")
    change = d.get("correction_minor")
    sign = "+" if isinstance(change, int) and change > 0 else ""
    appeal = f" #{d['appeal']}" if d.get("appeal") is not None else ""
    return (f"{d.get('period')} {d.get('member')}{appeal}: {t(lang, 'audit.field.earned')} "
            f"{_money(d.get('earned_before_minor'), cur)} {ARROW} {_money(d.get('earned_after_minor'), cur)} "
            f"({sign}{_money(change, cur)})")


def _fx(row: AuditRow, names: AuditNames, lang: str) -> str:
    rates = row.details.get("rates") if isinstance(row.details.get("rates"), list) else []
    parts = [f"{r.get('pair')} {r.get('day')}: {_value(r.get('before'))} {ARROW} {_value(r.get('after'))}"
             for r in rates if isinstance(r, dict)]
    more = row.details.get("more")
    if isinstance(more, int) and more > 0:
        parts.append(t(lang, "audit.more_rates", count=more))
    return "; ".join(parts)


def _sync(row: AuditRow, names: AuditNames, lang: str) -> str:
    resources = row.details.get("resources") if isinstance(row.details.get("resources"), dict) else {}
    parts = []
    for name, counts in resources.items():
        if isinstance(counts, dict):
            said = [t(lang, f"audit.sync.{k}", count=counts[k]) for k in ("new", "updated", "pending")
                    if counts.get(k)]
            parts.append(f"{name} " + ", ".join(said))
    failed = row.details.get("failed")
    if failed:
        parts.append(t(lang, "audit.sync.failed", what=", ".join(map(str, failed))))
    return "; ".join(parts)


def key_values(details: dict[str, Any]) -> str:
    """Any other row's details: its before and after first (per key when both are objects: "timezone UTC →
    Asia/Shanghai"; a target-like row's new value is its "value"), then the other keys as key=value pairs."""
    after_key = "after" if "after" in details or "value" not in details else "value"
    before, after = details.get("before"), details.get(after_key)
    rest = {k: v for k, v in details.items() if k not in ("before", after_key)}
    parts: list[str] = []
    if isinstance(after, dict) and isinstance(before, dict | None):
        was = before or {}
        parts += [f"{k} {_value(was.get(k))} {ARROW} {_value(v)}" for k, v in after.items() if was.get(k) != v]
    elif "before" in details or "after" in details:
        parts.append(f"{_value(before)} {ARROW} {_value(after)}")
    currency = details.get("currency")
    parts += [f"{k.removesuffix('_minor')}={_money(v, currency)}" if k.endswith("_minor") and isinstance(v, int)
              and isinstance(currency, str) else f"{k}={_value(v)}" for k, v in rest.items()]
    return "; ".join(parts)


_Render = Callable[[AuditRow, AuditNames, str], str]
FAMILIES: dict[str, _Render] = {"target.set": _target, "target.force": _target, "baseline.set": _target,
                                "baseline.force": _target, "member.create": _member_change,
                                "member.change": _member_change, "fx.store": _fx, "sync.run": _sync,
                                "final_score.refinalise": _refinalise, "commission.close": _payout,
                                "commission_correction.add": _correction}


def change_line(row: AuditRow, names: AuditNames, lang: str) -> str:
    """The row's change in one line of at most CHANGE_SHOWN characters."""
    render = FAMILIES.get(row.action)
    if render is None and row.entity == "appeal":
        render = _appeal
    elif render is None and row.entity == "appeal_adjustment":
        render = _adjustment
    try:
        text = render(row, names, lang) if render is not None else key_values(row.details)
    except (AttributeError, TypeError, ValueError, KeyError):   # an older row's shape: its raw pairs
        text = key_values(row.details)
    return shown(text or key_values(row.details), CHANGE_SHOWN)
