"""/audit WHO and `kpibot audit --who`: every row about a member, also the ones made TO them by someone else (an
appeal's decision and adjustments, an order credited away from them, their corrected pay, their frozen score moved),
found through the details' "members" list, element for element, on SQLite and PostgreSQL; WHAT matches a word of
an action; the rows read as lines (commands.audit_lines). Rows written before the list keep being found as before
(actor, entity id)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from commands.audit_lines import change_line
from services import appeals
from services.audit_log import audit_names
from storage.audit import acting_as, audit
from storage.audit_read import read_audit
from tests.test_closed_month import CLOSED, _october, _services
from tests.test_commission_store import at


def _seen(engine: Engine, **query: str) -> list[tuple[str, str, str | None, object]]:
    with Session(engine) as s:
        page = read_audit(s, **query)  # type: ignore[arg-type]
        assert page.total == len(page.rows)
        return [(r.actor, r.action, r.entity_id, r.details.get("members")) for r in page.rows]


def test_who_finds_every_row_about_a_member_and_what_a_word_of_an_action(engine: Engine) -> None:
    """October closed (the close's rows stamped at the close); h's appeal credits h2's order B to h on 4 November
    (h2 loses it: their final score, rank and pay move); h2's own appeal, filed on 5 November, is rejected on the
    6th."""
    with acting_as("cli:tester", lambda: CLOSED):
        host, other, lead = _october(engine)
    services = _services(engine)
    filed = appeals.file_appeal(services, host, "net_gmv", "2026-10", "attribution", "B was my live", ["B"],
                                at(3, 11), None)
    appeals.decide(services, lead, filed.appeal.id, "approve", None, None, at(4, 11))
    mine = appeals.file_appeal(services, other, "net_gmv", "2026-10", "other", "C is mine", [], at(5, 11),
                               Decimal("1000"))
    appeals.decide(services, lead, mine.appeal.id, "reject", None, "C was refunded", at(6, 11))

    approve = [("l", "appeal.approve", "1", ["h", "h2"]),
               ("l", "commission_correction.add", "2026-10:h2", ["h2"]),
               ("l", "final_score.refinalise", "2026-10:h", ["h", "h2"]),
               ("l", "appeal.credit_order", "1", ["h", "h2"])]
    assert _seen(engine, who="h2") == [
        ("l", "appeal.reject", "2", ["h2"]), ("h2", "appeal.file", "2", ["h2"]), *approve,
        ("cli:tester", "commission.close", "h2:2026-10", None), ("cli:tester", "target.set", "member:2", None)]
    assert _seen(engine, who="h2", what="appeal") == [
        ("l", "appeal.reject", "2", ["h2"]), ("h2", "appeal.file", "2", ["h2"]), approve[0], approve[3]]
    # "h" is not a part of "h2": h's list holds h, h2's correction is not h's
    assert _seen(engine, who="h") == [
        ("l", "appeal.approve", "1", ["h", "h2"]), ("l", "commission_correction.add", "2026-10:h", ["h"]),
        approve[2], approve[3], ("h", "appeal.file", "1", ["h"]),
        ("cli:tester", "commission.close", "h:2026-10", None), ("cli:tester", "target.set", "member:1", None)]
    assert _seen(engine, what="refinalise") == [approve[2]]
    assert _seen(engine, what="credit_order") == [approve[3]]
    assert _seen(engine, what="close") == [("cli:tester", "month.close", "2026-10", None),
                                           ("cli:tester", "commission.close", "h2:2026-10", None),
                                           ("cli:tester", "commission.close", "h:2026-10", None)]
    assert (_seen(engine, what="score"), _seen(engine, what="lose")) == ([], [])   # a word, not a part of one
    with Session(engine) as s:
        rows = read_audit(s, who="h2").rows
        names = audit_names(s, rows)
    assert [change_line(r, names, "en") for r in rows] == [
        "#2 h2 Net GMV: rejected; C was refunded", "#2 h2 Net GMV: filed, 1,000", "#1 h Net GMV: approved, 1,900",
        "2026-10 h2 #1: earned 100.00 USD → 40.00 USD (-60.00 USD)",
        "2026-10 h: score 65.0 → 95.0; h2: score 50.0 → 20.0",   # ranks stayed: only the scores
        "#1 h 2026-10 credit_order: member h2 → h; rule — → appeal",
        "host-plan: earned 100.00 USD, paid 100.00 USD", "h2 net_gmv 2026-10: — → 2,000"]


def test_a_row_stored_before_the_members_list_is_found_as_before(engine: Engine) -> None:
    """A correction audited without "members" (before this change): found by its actor and its entity, not by the
    member in its entity id; a "members" value that is no list, or a code elsewhere in the details, finds nothing."""
    with Session(engine) as s:
        audit(s, "l", "commission_correction.add", "commission_correction", "2026-10:lily",
              {"period": "2026-10", "member": "lily", "correction_minor": -2000}, at=at(4, 11))
        audit(s, "l", "appeal.approve", "appeal", "3", {"members": "lily", "note": "lily"}, at=at(4, 12))
        s.commit()
    assert _seen(engine, who="lily") == []
    assert _seen(engine, who="l") == [("l", "appeal.approve", "3", "lily"),
                                      ("l", "commission_correction.add", "2026-10:lily", None)]
    assert _seen(engine, what="commission_correction") == [("l", "commission_correction.add", "2026-10:lily", None)]
