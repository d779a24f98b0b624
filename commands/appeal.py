"""/appeal and /appeals: a member disputes a metric; its approver decides (services.appeals).

    /appeal METRIC [YYYY-MM] [CATEGORY] [=VALUE] REASON... [evidence: REF REF ...]
    /appeal approve ID [NOTE]          /appeal partly ID VALUE [NOTE]
    /appeal reject ID REASON...        /appeal withdraw ID          /appeal show ID
    /appeals                           open appeals waiting for the caller, oldest first

Typed on a phone: the words may be English, Chinese or Indonesian (approve / 批准 / setujui, categories
attribution / 归属 / atribusi ...); `=5200` is the value the member claims; everything after `evidence:` (证据:,
bukti:) is references, and a link anywhere is one too. Without a reason the usage with the categories is shown (the
why card's "Appeal" button runs `/appeal METRIC`). A decision refused (decided already, not the clicker's, moved)
leaves a clicked card as it is and tells the clicker privately (Command.refuses_in_place).
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal

from cards.appeal_cards import (
    filed_card,
    open_list_card,
    usage_card,
    usage_text,
)
from cards.model import Card
from commands.context import Request
from commands.periods import month_arg
from commands.spec import Command
from scoring.metrics import CATALOG, Metric, lookup_metric
from scoring.targets import AmountError, parse_amount
from scoring.text import shown
from services.appeals import CATEGORIES, approver_card, can_decide, decide, facts, file_appeal, get, open_for, withdraw
from services.errors import UserError

CATEGORY_WORDS: dict[str, str] = {
    "attribution": "attribution", "refund": "refund", "activity": "activity", "target": "target", "other": "other",
    "归属": "attribution", "退款": "refund", "活动": "activity", "目标": "target", "其他": "other",
    "atribusi": "attribution", "pengembalian": "refund", "aktivitas": "activity", "lainnya": "other",
}
ACTIONS: dict[str, str] = {
    "approve": "approve", "批准": "approve", "setujui": "approve",
    "partly": "partly", "部分": "partly", "部分批准": "partly", "sebagian": "partly",
    "reject": "reject", "驳回": "reject", "tolak": "reject",
    "withdraw": "withdraw", "撤回": "withdraw", "tarik": "withdraw",
    "show": "show", "查看": "show", "lihat": "show",
}
EVIDENCE_WORDS = ("evidence:", "证据:", "证据：", "bukti:")
PLAIN_NUMBER = re.compile(r"[0-9][0-9.,_]*(?:k|m|w|万|千|百万|%)?", re.IGNORECASE)
USAGE = "/appeal METRIC [YYYY-MM] REASON..."


def handle(req: Request) -> Card:
    """The appeal commands; a refusal naming a metric names it in the reader's language (a Chinese card never
    says "net_gmv")."""
    try:
        return _handle(req)
    except UserError as exc:
        key = exc.values.get("metric")
        if isinstance(key, str) and key in CATALOG:
            exc.values["metric"] = CATALOG[key].name(req.lang)
        raise


def _handle(req: Request) -> Card:
    if not req.args:
        return usage_card(req.lang, usage_text(req.lang, CATEGORIES))
    action = ACTIONS.get(req.args[0].lower())
    if action is None:
        return _file(req)
    if len(req.args) < 2:
        raise UserError("appeal.bad_id", value="", usage=_decide_usage())
    appeal_id = _id(req.args[1])
    rest = req.args[2:]
    if action == "show":
        shown = get(req.services, appeal_id)
        if shown is None:
            raise UserError("appeal.not_found", id=appeal_id)
        if shown.appeal.member_id != req.member.id and not can_decide(req.services, shown.appeal, req.member):
            raise UserError("appeal.not_yours_to_see", id=appeal_id)
        return approver_card(req.services, shown, req.member, req.now)
    if action == "withdraw":
        done = withdraw(req.services, req.member, appeal_id, req.now)
        return approver_card(req.services, done, req.member, req.now)
    value: Decimal | None = None
    if action == "partly":
        if not rest:
            raise UserError("appeal.partly_needs_value", id=appeal_id)
        value, rest = _amount(rest[0]), rest[1:]
    note = " ".join(rest)   # a preset reason stays its token ("#not_yours"): each reader sees it in their language
    done = decide(req.services, req.member, appeal_id, action, value, note or None, req.now)
    return approver_card(req.services, done, req.member, req.now)


def _file(req: Request) -> Card:
    metric = lookup_metric(req.args[0])
    key = metric.key if metric is not None else req.args[0]
    rest = list(req.args[1:])
    period = None
    if rest and (month := month_arg(rest[0])) is not None:
        period, rest = f"{month[0]:04d}-{month[1]:02d}", rest[1:]
    category = "other"
    if rest and rest[0].lower() in CATEGORY_WORDS:
        category, rest = CATEGORY_WORDS[rest[0].lower()], rest[1:]
    elif rest and (near := _near_category(rest[0])) is not None:
        # "attributon" was filed as "other" without a word, and an "other" appeal overrides where a credit was meant
        raise UserError("appeal.category_typo", value=rest[0], category=near)
    claimed, rest = _claimed(rest, metric)
    reason, evidence = _split_evidence(rest)
    if not reason:
        return usage_card(req.lang, usage_text(req.lang, CATEGORIES))
    filed = file_appeal(req.services, req.member, key, period, category, " ".join(reason), evidence, req.now,
                        value_claimed=claimed)
    return filed_card(facts(req.services, filed), req.lang, filed.unfound)


def _near_category(word: str) -> str | None:
    """The category word a mistyped first word of the reason is one or two letters from, if any."""
    if len(word) < 5 or word.lower() in CATEGORY_WORDS:
        return None
    close = difflib.get_close_matches(word.lower(), list(CATEGORY_WORDS), n=1, cutoff=0.8)
    return close[0] if close else None


def _claimed(words: list[str], metric: Metric | None) -> tuple[Decimal | None, list[str]]:
    """(the claimed value, the other words): the first "=VALUE" anywhere before the evidence words."""
    for i, word in enumerate(words):
        if word.lower().startswith(EVIDENCE_WORDS):
            break
        if word.startswith("=") and len(word) > 1:
            return _claim_value(word[1:], metric), words[:i] + words[i + 1:]
    return None, words


def _claim_value(text: str, metric: Metric | None) -> Decimal:
    """A claimed value, refused in the metric's own terms (an amount, a count, a percentage...); digits as people
    type them only (no exponent, NaN or infinity: "=1e9" was accepted)."""
    try:
        return _plain(text)
    except AmountError as exc:
        if metric is None:
            raise UserError(exc.key, usage=USAGE, **exc.values) from None
        raise UserError(f"appeal.bad_value.{metric.unit.value}", text=shown(text, 40), metric=metric.key) from None


def _split_evidence(words: list[str]) -> tuple[list[str], list[str]]:
    """(the reason's words, the evidence references): everything after an evidence word, and any link."""
    reason: list[str] = []
    evidence: list[str] = []
    into_evidence = False
    for word in words:
        low = word.lower()
        marker = next((w for w in EVIDENCE_WORDS if low.startswith(w)), None)
        if marker is not None:
            into_evidence, word = True, word[len(marker):]
            if not word:
                continue
        if into_evidence or low.startswith(("http://", "https://")):
            evidence.extend(part for part in word.split(",") if part)
        else:
            reason.append(word)
    return reason, evidence


def _id(text: str) -> int:
    digits = text.lstrip("#")
    if not digits.isdigit():
        raise UserError("appeal.bad_id", value=text, usage=_decide_usage())
    return int(digits)


def _plain(text: str) -> Decimal:
    """scoring.targets.parse_amount of digits, separators and a suffix only."""
    if not PLAIN_NUMBER.fullmatch(text.strip()):
        raise AmountError("amount.not_number", f"{text!r} is not a number", text=text)
    return parse_amount(text, ratio=text.endswith("%"))


def _amount(text: str) -> Decimal:
    try:
        return _plain(text)
    except AmountError as exc:
        raise UserError(exc.key, usage=USAGE, **exc.values) from None


def _decide_usage() -> str:
    return "/appeal approve|partly|reject|withdraw|show ID"


def handle_list(req: Request) -> Card:
    rows = [(facts(req.services, v), max((req.now - v.appeal.created_at).days, 0))
            for v in open_for(req.services, req.member, req.now)]
    return open_list_card(rows, req.lang)


SPEC = Command("appeal", ("申诉",), "appeal.help", USAGE, handle, writes=True, id_aliases=("banding",),
               refuses_in_place=True)
LIST_SPEC = Command("appeals", ("申诉列表",), "appeals.help", "/appeals", handle_list,
                    id_aliases=("daftarbanding",))
