"""The "why" card (`/mykpi why`): one section per metric (actual, target and its source, achievement, cap, weight,
points, what is behind it with its largest items and their exchange rates), then the commission statement when the
viewer may see it, and an "Appeal" button per metric. `why_blocks` is one metric's section, for the approver's
appeal card. The adapters fit it to the platforms' card size (cards.fit)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from cards.format import metric_value, money, percent
from cards.i18n import t
from cards.model import Block, Button, Buttons, Card, Fields, Note, Table, Text, Tone
from scoring.metrics import CATALOG, Unit
from scoring.text import shown
from scoring.trail import Adjustment, CommissionTrail, Item, MetricTrail, TargetSource, Why


def _q(value: Decimal, step: str) -> Decimal:
    return value.quantize(Decimal(step), rounding=ROUND_HALF_UP)


def rate_text(item: Item, reporting: str) -> str:
    """"1 USD = 7.1 CNY (2026-11-20)", the stronger currency first so the figure reads without leading zeros."""
    if item.rate_day is None or item.rate == 0:
        return "—"
    if item.currency == reporting:
        return "1"
    if item.rate >= 1:
        text = f"1 {item.currency} = {_q(item.rate, '0.0001').normalize():,f} {reporting}"
    else:
        text = f"1 {reporting} = {_q(1 / item.rate, '0.0001').normalize():,f} {item.currency}"
    return f"{text} ({item.rate_day.isoformat()})"


def _source(source: TargetSource, lang: str) -> str:
    if source.kind == "typical":
        return t(lang, "why.source.typical", source=source.detail)
    if source.kind == "imported":
        return t(lang, "why.source.imported", source=source.detail)
    if source.kind == "own":
        return t(lang, "why.source.own_by", who=source.detail) if source.detail else t(lang, "why.source.own")
    return t(lang, "why.source.none")


def _when(item: Item, tz: str) -> str:
    if isinstance(item.at, datetime):
        return item.at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")
    return item.at.isoformat()


def _item_row(item: Item, why: Why, lang: str) -> tuple[str, str, str, str, str]:
    converted = money(item.converted, why.reporting) if item.rate_day is not None else t(lang, "why.no_rate")
    if item.refunded and item.rate_day is not None:
        converted += " · " + t(lang, "why.refunded", value=money(item.refunded, why.reporting))
    return (item.ref or "—", _when(item, why.tz), money(item.amount, item.currency), rate_text(item, why.reporting),
            converted)


def why_blocks(why: Why, lang: str, metric_key: str) -> tuple[Block, ...]:
    """One metric's trail."""
    m: MetricTrail = why.metric(metric_key)
    metric = CATALOG[m.key]
    cur = why.reporting

    def value(v: Decimal | None) -> str:
        return metric_value(v, m.unit, cur, lang)

    scored = t(lang, f"why.left_out.{m.left_out}") if m.scored is None and m.left_out is not None \
        else percent(m.scored)
    rows = [
        (t(lang, "why.actual"), value(m.actual)),
        (t(lang, "why.target"), f"{value(m.target)} · {_source(m.target_source, lang)}" if m.target is not None
         else _source(m.target_source, lang)),
        (t(lang, "why.achievement"), percent(m.achievement)),
        (t(lang, "why.scored", cap=percent(m.cap)), scored),
        (t(lang, "why.weight_points"), f"{m.weight}% · {'—' if m.points is None else _q(m.points, '0.1')}"),
    ]
    if m.scored is not None and m.target is not None:
        rows.insert(4, (t(lang, "why.judged"), _judged(m, value, lang)))
    counts = " · ".join(t(lang, f"why.count.{what}", n=f"{n:,}") for what, n in m.counts)
    if counts:
        rows.append((t(lang, "why.behind"), counts))
    # the written definitions are English (docs/metrics.md): a zh or id reader is not shown one in another language
    definition: list[Block] = [Note(metric.definition)] if lang == "en" else []
    blocks: list[Block] = [Text(f"{metric.name(lang)} ({m.weight}%)", strong=True), *definition, Fields(tuple(rows))]
    if m.largest:
        blocks.append(Text(t(lang, "why.largest", n=len(m.largest))))
        headers = (t(lang, "why.col.id"), t(lang, "why.col.time"), t(lang, "why.col.amount"), t(lang, "why.col.rate"),
                   t(lang, "why.col.converted", currency=cur))
        blocks.append(Table(headers, tuple(_item_row(i, why, lang) for i in m.largest)))
    if m.adjustments:   # after the items: what appeals changed on top of them, so the lines add up
        blocks.append(Text(t(lang, "why.adjustments")))
        blocks.extend(Text("· " + _adjustment(a, value, lang)) for a in m.adjustments)
    return tuple(blocks)


def _judged(m: MetricTrail, value: Callable[[Decimal | None], str], lang: str) -> str:
    """What Scored is judged against: the expected value by now (pace) while a cumulative metric's month runs,
    else the target itself."""
    if m.expected is not None and m.target and m.expected != m.target:
        share = percent(m.expected / m.target)
        pace = percent(m.actual / m.expected) if m.actual is not None and m.expected else "—"
        return t(lang, "why.judged.pace", expected=value(m.expected), share=share, pace=pace)
    return t(lang, "why.judged.target")


def _adjustment(a: Adjustment, value: Callable[[Decimal | None], str], lang: str) -> str:
    if a.kind == "override":
        return t(lang, "why.adjust.override", value=value(a.value), id=a.appeal_id, measured=value(a.measured))
    if a.kind == "credited_away":
        key = "why.adjust.credited_away" if a.value is None else "why.adjust.credited_away_amount"
        return t(lang, key, ref=shown(a.ref, 60), to=shown(a.to, 40), id=a.appeal_id, value=value(a.value))
    return t(lang, f"why.adjust.{a.kind}", ref=shown(a.ref, 60), id=a.appeal_id)


def commission_blocks(c: CommissionTrail, lang: str) -> tuple[Block, ...]:
    basis = CATALOG[c.basis]
    money_basis = basis.unit is Unit.MONEY

    def amount(v: Decimal) -> str:
        return money(v, c.currency) if money_basis else f"{v:,}"

    rate = percent(c.rate, 2) if money_basis else money(c.rate, c.currency)
    rows = [(t(lang, "why.plan"), t(lang, "why.plan_value", plan=c.plan, version=c.version)),
            (t(lang, "why.basis", metric=basis.name(lang)), amount(c.basis_amount)),
            (t(lang, "why.tier"), t(lang, "why.tier_value", threshold=amount(c.tier_from), rate=rate)),
            (t(lang, "why.earned"), money(c.earned, c.currency))]
    rows += [(t(lang, "why.clawback", period=p), money(a, cur)) for p, a, cur in c.clawbacks]
    if c.paid is None or c.paid_on is None:
        rows.append((t(lang, "why.payable"), money(c.payable, c.currency)))
    else:   # a paid month: what was paid and corrected since, and what is still due (never paid twice)
        rows.append((t(lang, "commission.paid", day=c.paid_on.isoformat()), money(c.paid, c.currency)))
        for appeal_id, day, corrected in c.corrections:
            label = t(lang, "commission.correction", id=appeal_id, day=day.isoformat()) if appeal_id is not None \
                else t(lang, "commission.correction_plain", day=day.isoformat())
            rows.append((label, ("+" if corrected >= 0 else "-") + money(abs(corrected), c.currency)))
        due = c.payable - c.paid - sum((a for _, _, a in c.corrections), Decimal(0))
        rows.append((t(lang, "why.still_due"), money(due, c.currency)))
    return Text(t(lang, "why.commission"), strong=True), Fields(tuple(rows))


def counting_line(why: Why, lang: str) -> str:
    shipped, netted = why.counting
    return t(lang, "counting.footer", moment=t(lang, "counting.shipped" if shipped else "counting.paid"),
             refunds=t(lang, "counting.netted" if netted else "counting.not_netted"))


def why_card(why: Why, lang: str) -> Card:
    """The whole trail: the score, each metric's section, the commission, the counting rules, the appeal buttons."""
    blocks: list[Block] = [Fields((
        (t(lang, "why.score"), "—" if why.score is None else f"{why.score}"),
        (t(lang, "why.grade"), why.grade or "—"),
        (t(lang, "why.template"), why.template),
    ))]
    if why.closed_on is not None:   # frozen at the close: what final_score, the export and the pay read
        blocks.append(Note(t(lang, "why.closed", day=why.closed_on.isoformat())))
    for m in why.metrics:
        blocks.extend(why_blocks(why, lang, m.key))
    if why.commission is not None:
        blocks.extend(commission_blocks(why.commission, lang))
    blocks.append(Note(counting_line(why, lang)))
    # each button names the month explained: a past month's Appeal appeals that month, not the current one
    blocks.append(Buttons(tuple(Button(t(lang, "why.appeal", metric=CATALOG[m.key].name(lang)), "appeal",
                                       (m.key, why.period)) for m in why.metrics)))
    return Card(t(lang, "why.title", name=why.name, period=why.period), tuple(blocks), Tone.INFO, lang)
