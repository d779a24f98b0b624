"""The counting rules in one line, for the footer of every KPI card: when an order counts (at payment or at
shipment) and whether refunds are taken off. `/mykpi`, `/team`, `/rank`, the digest and `kpibot kpi` show it;
other cards call `counting_note` (or `counting_text` for plain text) with the organisation's rules
(services.rules)."""

from __future__ import annotations

from cards.i18n import t
from cards.model import Note
from scoring.rules import CountOrdersAt, Rules


def counting_text(rules: Rules, lang: str) -> str:
    """"Orders counted at payment · refunds netted", in `lang`."""
    moment = t(lang, "counting.paid" if rules.count_orders_at is CountOrdersAt.PAID else "counting.shipped")
    refunds = t(lang, "counting.netted" if rules.net_refunds else "counting.not_netted")
    return t(lang, "counting.footer", moment=moment, refunds=refunds)


def counting_note(rules: Rules, lang: str) -> Note:
    return Note(counting_text(rules, lang))
