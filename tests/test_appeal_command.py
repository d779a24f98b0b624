"""/appeal and /appeals through the dispatcher on the console (SQLite): the grammar, the receipt, a decision by
typing and by a click, and a refused click told privately with the card left as it is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming, Refused
from cards.appeal_cards import note_text
from cards.model import Buttons, Card, Fields, Note, Text
from storage.models import Appeal
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
