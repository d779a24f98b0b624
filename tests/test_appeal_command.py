"""/appeal and /appeals through the dispatcher on the console (SQLite): the grammar, the receipt, a decision by
typing and by a click, and a refused click told privately with the card left as it is."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming, Refused
from cards.appeal_cards import note_text
from cards.model import Buttons, Card, Fields, Note, Text
from services.appeals import file_appeal
from services.month_close import close
from storage.models import AdSpend, Appeal, AuditLog, Shop
from tests.conftest import migrated_sqlite
from tests.test_appeals_service import NOW, world


def texts(card: Card) -> list[str]:
    out = [card.title]
    for b in card.blocks:
        if isinstance(b, Text | Note):
            out.append(b.text)
        elif isinstance(b, Fields):
            out.extend(f"{k}: {v}" for k, v in b.items)
        elif isinstance(b, Buttons):
            out.extend(f"[{x.label}] {x.as_text}" for x in b.buttons)
    return out


def test_file_decide_and_refuse(tmp_path: Path) -> None:
    engine = migrated_sqlite(tmp_path / "kpibot.db")
    w = world(engine)
    d = Dispatcher(w.services, clock=lambda: NOW)

    def say(who: str, text: str) -> Card:
        card = d.handle_message(Incoming("console", who, text))
        assert card is not None
        return card

    usage = say("buyer1", "/appeal roi")
    assert usage.title == "How to appeal"
    assert "Categories: attribution (order wrongly attributed or missing); refund" in texts(usage)[1]
    filed = say("buyer1", "/申诉 ROI 2026-11 归属 =3 order 77 is mine\x1b evidence: 77,78 https://x.example/a")
    assert texts(filed) == ["Appeal #1 filed", "ROI for 2026-11, now 250.0%. Lead1 (team lead) decides it; you will "
                                               "be told here.",
                            "Category: attribution (order wrongly attributed or missing); value claimed: 300.0%.",
                            "Not found (filed all the same; your approver decides): 77, 78"]
    with Session(engine) as s:
        row = s.get(Appeal, 1)
        assert row is not None
        assert (row.category, row.reason, row.evidence, str(row.value_claimed)) == (
            "attribution", "order 77 is mine", ["77", "78", "https://x.example/a"], "3")
    card = say("lead1", "/appeal show 1")
    assert texts(card)[-6:] == ["[Approve] /appeal approve 1", "[Partly: 275.0%] /appeal partly 1 275%",
                                "[Reject: evidence missing] /appeal reject 1 #evidence_missing",
                                "[Reject: the order is not yours] /appeal reject 1 #not_yours",
                                "[Reject: the target was right] /appeal reject 1 #target_right",
                                "Another value or reason: type /appeal partly 1 VALUE [NOTE] or /appeal reject 1 "
                                "REASON"]
    listed = say("lead1", "/appeals")
    assert listed.title == "Open appeals (1)"
    forged = d.handle_click("console", "manager1", "appeal", ("approve", "1"))
    assert isinstance(forged, Refused)
    assert texts(forged.card) == ["kpibot", "Appeal #1 is not yours to decide; nothing changed."]
    clicked = d.handle_click("console", "lead1", "appeal", ("reject", "1", "#evidence_missing"))
    assert isinstance(clicked, Card)
    assert texts(clicked)[-1] == "Note: evidence missing"
    assert texts(clicked)[-2] == "Rejected by Lead1 on 2026-11-04 12:00 UTC."
    with Session(engine) as s:   # the preset is kept as its token: every reader sees it in their own language
        row = s.get(Appeal, 1)
        assert row is not None and row.decision_note == "#evidence_missing"
    assert (note_text("#evidence_missing", "zh"), note_text("#nope\x1b", "en")) == ("缺少证据", "#nope")
    replay = d.handle_click("console", "lead1", "appeal", ("reject", "1", "#evidence_missing"))
    assert isinstance(replay, Refused)
    assert texts(replay.card)[1] == "Appeal #1 was rejected already; nothing changed."
    assert texts(say("lead1", "/appeals")) == ["Open appeals (0)", "No open appeals wait for you."]
    later = Dispatcher(w.services, clock=lambda: NOW + timedelta(days=40))
    closed = later.handle_message(Incoming("console", "buyer1", "/appeal roi 2026-11 other late"))
    assert closed is not None
    assert texts(closed)[1] == ("2026-11 cannot be appealed: only this month, and last month for 7 days after "
                                "it ends.")


def test_a_click_after_the_decision_window_of_a_closed_month_is_refused_in_place(engine: Engine) -> None:
    """October is closed on 4 November; the buyer's appeal of October filed then may be decided until 7 days
    ([appeals] window_days) after October ended (8 November 00:00 UTC): a click a minute later is refused in place
    as period locked and changes nothing; a click at the last moment decides it."""
    w = world(engine)
    with Session(engine) as s:
        shop = s.execute(select(Shop)).scalars().one()
        s.add(AdSpend(shop_id=shop.id, member_id=w.buyer.id, campaign_id="c1", day=date(2026, 10, 10),
                      currency="USD", spend_minor=1_000, attributed_gmv_minor=4_000))
        s.commit()
    close(w.services, 2026, 10, NOW, "cli:admin")
    appeal = file_appeal(w.services, w.buyer, "roi", "2026-10", "other", "spend counted twice", [], NOW,
                         value_claimed=D("5")).appeal
    end = datetime(2026, 11, 8, tzinfo=UTC)
    late = Dispatcher(w.services, clock=lambda: end + timedelta(minutes=1))
    refused = late.handle_click("console", "lead1", "appeal", ("approve", str(appeal.id)))
    assert isinstance(refused, Refused)
    assert texts(refused.card) == ["kpibot", f"Appeal #{appeal.id} can no longer be decided: 2026-10 is closed and "
                                             "its 7 days for appeals are over; nothing changed."]
    with Session(engine) as s:
        row = s.get(Appeal, appeal.id)
        assert row is not None
        assert (row.status, row.decided_at) == ("open", None)
        assert s.execute(select(AuditLog.action).where(AuditLog.action != "month.close")).scalars().all() == [
            "appeal.file"]
    last = Dispatcher(w.services, clock=lambda: end)
    decided = last.handle_click("console", "lead1", "appeal", ("approve", str(appeal.id)))
    assert isinstance(decided, Card)
    with Session(engine) as s:
        row = s.get(Appeal, appeal.id)
        assert row is not None and row.status == "approved"


def test_a_misspelt_category_is_asked_about_not_filed_as_other(tmp_path: Path) -> None:
    engine = migrated_sqlite(tmp_path / "kpibot.db")
    w = world(engine)
    d = Dispatcher(w.services, clock=lambda: NOW)
    card = d.handle_message(Incoming("console", "buyer1", "/appeal roi attributon =3 order 77 is mine"))
    assert card is not None
    assert texts(card)[1] == "attributon is not a category: did you mean attribution? Nothing was filed."
    with Session(engine) as s:
        assert s.get(Appeal, 1) is None
    filed = d.handle_message(Incoming("console", "buyer1", "/appeal roi bogus reason =3"))   # far from any: a reason
    assert filed is not None and texts(filed)[0] == "Appeal #1 filed"
