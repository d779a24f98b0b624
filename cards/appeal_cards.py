"""Appeal cards: the approver's card (open: with its buttons; decided, withdrawn or escalated: the same card saying
so, without buttons), the appellant's notice, the filed receipt and the /appeals list.

A DingTalk button cannot carry typed text, so the decisions that need words or a value come as preset buttons
(reject for a common reason; partly approve at the midpoint of the value now and the value claimed) and the card
says how to type another (/appeal reject ID REASON, /appeal partly ID VALUE)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from cards.format import metric_value
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Table, Text, Tone
from scoring.metrics import CATALOG, Unit
from scoring.text import shown

REJECT_PRESETS = ("evidence_missing", "not_yours", "target_right")


def note_text(note: str, lang: str) -> str:
    """A decision's note as `lang` reads it: a preset reason is stored as its token ("#not_yours") and shown in
    the reader's language (a Chinese host reads an English lead's preset in Chinese); typed text as typed."""
    if note.startswith("#") and note[1:] in REJECT_PRESETS:
        return t(lang, f"appeal.preset.{note[1:]}")
    return shown(note, REASON_SHOWN)
REASON_SHOWN = 300     # characters of the appellant's reason a card shows
EVIDENCE_SHOWN = 8     # references a card lists


@dataclass(frozen=True)
class AppealFacts:
    """What an appeal card shows, as plain data (services.appeals.facts builds it)."""

    id: int
    appellant: str                 # name (code)
    metric_key: str
    period: str
    category: str
    reason: str
    evidence: tuple[str, ...]
    value_now: Decimal | None
    value_claimed: Decimal | None
    currency: str
    status: str                    # storage.models.APPEAL_STATES, or "escalated" for an old approver's copy
    approver: str | None
    level: str                     # services.appeal_routing.LEVELS
    created_at: datetime
    decider: str | None = None
    decided_at: datetime | None = None
    decided_value: Decimal | None = None
    note: str | None = None
    proposal_key: str | None = None          # what approving would change: a cards.i18n key and its values
    proposal_values: dict[str, str] = field(default_factory=dict)
    value_current: Decimal | None = None     # the metric's value when the card was built (None: not looked up)
    locked_days: int | None = None           # open but past its decision window (services.appeals.locked): its days


def _when(moment: datetime | None, zone: str) -> str:
    """A moment in the reader's zone with the zone's abbreviation (or UTC offset), so two readers in different zones
    see that 04:00 and 20:00 are one moment."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')}"


def _value(facts: AppealFacts, value: Decimal | None, lang: str) -> str:
    metric = CATALOG.get(facts.metric_key)
    if value is None:
        return "-"
    return metric_value(value, metric.unit, facts.currency, lang) if metric is not None else str(value)


def metric_name(key: str, lang: str) -> str:
    metric = CATALOG.get(key)
    return metric.name(lang) if metric is not None else key


def midpoint(facts: AppealFacts) -> Decimal | None:
    """The partial value a preset button offers: halfway from the value now to the value claimed."""
    if facts.value_now is None or facts.value_claimed is None or facts.value_now == facts.value_claimed:
        return None
    return ((facts.value_now + facts.value_claimed) / 2).quantize(Decimal("0.01"))


def appeal_card(facts: AppealFacts, lang: str, zone: str, why: tuple[Block, ...] = (),
                actions: str = "decide") -> Card:
    """The approver's card in `lang`, times in `zone` (the reader's), with what approving would change and `why`:
    the metric's trail (cards.why_card.why_blocks). Buttons only while it is open, and only what the reader may do:
    `actions` "decide" (its approver or an admin), "withdraw" (the appellant) or "none"; a locked appeal (past its
    decision window) offers no decision, only a line saying why."""
    fields = (
        (t(lang, "appeal.member"), facts.appellant),
        (t(lang, "appeal.metric"), metric_name(facts.metric_key, lang)),
        (t(lang, "appeal.period"), facts.period),
        (t(lang, "appeal.value_when", date=_when(facts.created_at, zone)[:10]), _value(facts, facts.value_now, lang)),
        *(((t(lang, "appeal.value_now"), _value(facts, facts.value_current, lang)),)
          if facts.value_current is not None else ()),
        (t(lang, "appeal.value_claimed"), _value(facts, facts.value_claimed, lang)),
        (t(lang, "appeal.category"), t(lang, f"appeal.category.{facts.category}")),
        (t(lang, "appeal.approver"), f"{facts.approver or '-'} ({t(lang, f'appeal.level.{facts.level}')})"),
        (t(lang, "appeal.filed_at"), _when(facts.created_at, zone)),
    )
    blocks: list[Block] = [Fields(fields), Text(t(lang, "appeal.reason", text=shown(facts.reason, REASON_SHOWN)))]
    refs = [shown(r, 60) for r in facts.evidence[:EVIDENCE_SHOWN]]
    blocks.append(Text(t(lang, "appeal.evidence", refs=", ".join(refs)) if refs else t(lang, "appeal.no_evidence")))
    if facts.proposal_key and facts.status == "open":
        change = t(lang, facts.proposal_key, **_proposal_values(facts, lang))
        blocks.append(Text(t(lang, "appeal.would_change", change=change)))
    blocks.extend(why)
    tone = Tone.INFO
    if facts.status == "open" and facts.locked_days is not None:   # no decision can succeed: none is offered
        blocks.append(Text(t(lang, "appeal.locked_line", period=facts.period, days=facts.locked_days), strong=True))
        if actions == "withdraw":
            blocks.append(Buttons((Button(t(lang, "appeal.withdraw"), "appeal", ("withdraw", str(facts.id))),)))
        tone = Tone.NEUTRAL
    elif facts.status == "open":
        if actions == "decide":
            blocks.extend(_decision_buttons(facts, lang))
        elif actions == "withdraw":
            blocks.append(Buttons((Button(t(lang, "appeal.withdraw"), "appeal", ("withdraw", str(facts.id))),)))
    else:
        if facts.status in ("approved", "partly_approved") and facts.decided_value is not None:
            blocks.append(Text(t(lang, "appeal.result", metric=metric_name(facts.metric_key, lang),
                                 period=facts.period, value=_value(facts, facts.decided_value, lang))))
        blocks.append(Text(_state_line(facts, lang, zone), strong=True))
        if facts.note:
            blocks.append(Text(t(lang, "appeal.note", text=note_text(facts.note, lang))))
        tone = {"approved": Tone.GOOD, "partly_approved": Tone.GOOD, "rejected": Tone.BAD}.get(facts.status,
                                                                                                Tone.NEUTRAL)
    return Card(t(lang, "appeal.title", id=facts.id, name=facts.appellant), tuple(blocks), tone, lang)


def _proposal_values(facts: AppealFacts, lang: str) -> dict[str, str]:
    """The proposal's values as `lang` reads them: the metric by its name, an override's value in the metric's
    unit (a ratio as a percentage)."""
    values = dict(facts.proposal_values)
    if "metric" in values:
        values["metric"] = metric_name(values["metric"], lang)
    if facts.proposal_key == "appeal.proposal.override" and values.get("value"):
        values["value"] = _value(facts, Decimal(values["value"]), lang)
    return values


def _decision_buttons(facts: AppealFacts, lang: str) -> list[Block]:
    """Approve only when approving applies something (a proposal); Partly at the midpoint; the preset rejects."""
    ident = str(facts.id)
    first = [Button(t(lang, "appeal.approve"), "appeal", ("approve", ident), primary=True)] \
        if facts.proposal_key else []
    half = midpoint(facts)
    if half is not None:
        first.append(Button(t(lang, "appeal.partly_at", value=_value(facts, half, lang)), "appeal",
                            ("partly", ident, _typed(facts, half))))
    rejects = [Button(t(lang, "appeal.reject_for", reason=t(lang, f"appeal.preset.{key}")), "appeal",
                      ("reject", ident, f"#{key}")) for key in REJECT_PRESETS]
    return [*([Buttons(tuple(first))] if first else []), Buttons(tuple(rejects)),
            Note(t(lang, "appeal.how_to_type", id=facts.id))]


def _typed(facts: AppealFacts, value: Decimal) -> str:
    """`value` as a partial approval types it: a ratio as a percentage ("75%"), as people type rates."""
    metric = CATALOG.get(facts.metric_key)
    if metric is not None and metric.unit is Unit.RATIO:
        pct = value * 100
        return f"{pct.normalize() if pct == pct.to_integral_value() else pct:f}%"
    return str(value)


def _state_line(facts: AppealFacts, lang: str, zone: str) -> str:
    at = _when(facts.decided_at, zone)
    if facts.status == "escalated":
        level = t(lang, f"appeal.level.{facts.level}")
        return t(lang, "appeal.state.escalated", who=facts.approver or "-", level=level, at=at)
    if facts.status == "partly_approved":
        return t(lang, "appeal.state.partly_approved", who=facts.decider or "-", at=at,
                 value=_value(facts, facts.decided_value, lang))
    if facts.status == "withdrawn":
        return t(lang, "appeal.state.withdrawn", who=facts.appellant, at=at)
    return t(lang, f"appeal.state.{facts.status}", who=facts.decider or "-", at=at)


def told_card(facts: AppealFacts, lang: str, zone: str) -> Card:
    """The appellant's private notice of the decision."""
    card = appeal_card(facts, lang, zone, actions="none")
    return Card(t(lang, "appeal.told_title", id=facts.id), card.blocks, card.tone, lang)


def lost_card(facts: AppealFacts, orders: list[str], lang: str) -> Card:
    """The private notice to a member an approved appeal took orders from."""
    return Card(t(lang, "appeal.lost_title"),
                (Text(t(lang, "appeal.lost", id=facts.id, appellant=facts.appellant, who=facts.decider or "-",
                        orders=", ".join(orders), period=facts.period)),), Tone.WARN, lang)


def filed_card(facts: AppealFacts, lang: str, unfound: tuple[str, ...] = ()) -> Card:
    """The appellant's receipt; `unfound`: evidence references naming no order or session (filed all the same)."""
    blocks: list[Block] = [
        Text(t(lang, "appeal.filed", metric=metric_name(facts.metric_key, lang), period=facts.period,
               value=_value(facts, facts.value_now, lang), approver=facts.approver or "-",
               level=t(lang, f"appeal.level.{facts.level}"))),
        Text(t(lang, "appeal.filed_as", category=t(lang, f"appeal.category.{facts.category}"),
               claimed=_value(facts, facts.value_claimed, lang)))]
    if unfound:
        blocks.append(Text(t(lang, "appeal.unfound", refs=", ".join(shown(r, 40) for r in unfound[:EVIDENCE_SHOWN]))))
    return Card(t(lang, "appeal.filed_title", id=facts.id), tuple(blocks), Tone.INFO, lang)


def usage_card(lang: str, usage: str) -> Card:
    return Card(t(lang, "appeal.usage_title"), (Text(usage),), Tone.INFO, lang)


def usage_text(lang: str, categories: tuple[str, ...]) -> str:
    return t(lang, "appeal.usage", categories="; ".join(t(lang, f"appeal.category.{c}") for c in categories))


def open_list_card(rows: list[tuple[AppealFacts, int]], lang: str) -> Card:
    """/appeals: (appeal, days waiting), oldest first."""
    if not rows:
        return Card(t(lang, "appeals.title", n=0), (Text(t(lang, "appeals.none")),), Tone.GOOD, lang)
    table = Table(("#", t(lang, "appeal.member"), t(lang, "appeal.metric"), t(lang, "appeal.period"),
                   t(lang, "appeals.waiting")),
                  tuple((str(f.id), f.appellant, metric_name(f.metric_key, lang), f.period,
                         t(lang, "appeals.days", n=days)) for f, days in rows))
    return Card(t(lang, "appeals.title", n=len(rows)), (table, Note(t(lang, "appeals.how"))), Tone.INFO, lang)


def reminder_card(count: int, days: int, lang: str) -> Card:
    return Card(t(lang, "appeal.reminder_title"), (Text(t(lang, "appeal.reminder", n=count, days=days)),),
                Tone.WARN, lang)
