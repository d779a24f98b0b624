"""bot.jobs.appeals on both backends, with recording messengers for Feishu and DingTalk: the card to the approver
on every bound platform once, each copy updated when the appeal is decided or escalated, the appellant told once,
reminders once a day outside quiet hours. The clock is pinned: each run is a tick at a stated moment."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.jobs.appeals import run_appeals
from cards.model import Buttons, Card, Text
from services.appeals import decide, file_appeal
from storage.models import AppealMessage, Member, MemberIdentity
from tests.recording_messenger import Recorder
from tests.test_appeals_service import NOW, world


def bind(engine: Engine, *members: Member) -> None:
    with Session(engine) as s:
        for m in members:
            s.add(MemberIdentity(org_id=m.org_id, member_id=m.id, platform="feishu", platform_user_id=f"ou_{m.code}"))
            s.add(MemberIdentity(org_id=m.org_id, member_id=m.id, platform="dingtalk", platform_user_id=m.code))
        s.commit()


def strong(card: Card) -> list[str]:
    return [b.text for b in card.blocks if isinstance(b, Text) and b.strong]


def copies(engine: Engine) -> list[tuple[str, str, str, str]]:
    with Session(engine) as s:
        return [(c.platform, c.receiver, c.ref, c.state)
                for c in s.execute(select(AppealMessage).order_by(AppealMessage.id)).scalars()]


def test_deliver_update_tell_remind_escalate(engine: Engine) -> None:
    w = world(engine)
    bind(engine, w.buyer, w.lead, w.manager)
    feishu, dingtalk = Recorder("feishu"), Recorder("dingtalk")
    messengers = {"feishu": feishu, "dingtalk": dingtalk}
    first = file_appeal(w.services, w.buyer, "roi", None, "other", "mine", [], NOW).appeal
    second = file_appeal(w.services, w.buyer, "cpc", None, "other", "mine too", [], NOW).appeal
    run_appeals(w.services, messengers, NOW + timedelta(minutes=1), "i1")
    run_appeals(w.services, messengers, NOW + timedelta(minutes=2), "i2")   # another replica: nothing again
    assert [(u, c.title) for u, c in feishu.sent] == [("ou_lead1", "Appeal #1 · Buyer1 (buyer1)"),
                                                     ("ou_lead1", "Appeal #2 · Buyer1 (buyer1)")]
    assert [u for u, _ in dingtalk.sent] == ["lead1", "lead1"]
    # appeal #1 (ROI, no value claimed, nothing to apply): no Approve nor Partly, the preset rejections for it
    clicks = [(b.command, b.args) for block in feishu.sent[0][1].blocks if isinstance(block, Buttons)
              for b in block.buttons]
    assert clicks == [("appeal", ("reject", "1", "#evidence_missing")), ("appeal", ("reject", "1", "#not_yours")),
                      ("appeal", ("reject", "1", "#target_right"))]
    assert copies(engine) == [("feishu", "ou_lead1", "0", "open:0"), ("dingtalk", "lead1", "0", "open:0"),
                              ("feishu", "ou_lead1", "1", "open:0"), ("dingtalk", "lead1", "1", "open:0")]
    decided_at = NOW + timedelta(hours=1)
    decide(w.services, w.lead, first.id or 0, "reject", None, "target was right", decided_at)
    run_appeals(w.services, messengers, decided_at + timedelta(minutes=1), "i1")
    run_appeals(w.services, messengers, decided_at + timedelta(minutes=2), "i2")
    assert [(u, r, strong(c)) for u, r, c in feishu.updated + dingtalk.updated] == [
        ("ou_lead1", "0", ["Rejected by Lead1 on 2026-11-04 13:00 UTC."]),
        ("lead1", "0", ["Rejected by Lead1 on 2026-11-04 13:00 UTC."])]
    assert [(u, c.title) for u, c in feishu.sent[2:]] == [("ou_buyer1", "Your appeal #1 was decided")]
    assert len(dingtalk.sent) == 2   # told once, on the first platform the appellant is bound on
    # two days and an hour on, 13:00 UTC (outside 22:00-08:00): the lead is reminded of #2 once that day
    reminded = NOW + timedelta(days=2, hours=1)
    run_appeals(w.services, messengers, reminded, "i1")
    run_appeals(w.services, messengers, reminded + timedelta(hours=1), "i1")
    assert [(u, c.title) for u, c in feishu.sent[3:]] == [("ou_lead1", "Appeals waiting for you")]
    # five days on, #2 climbs to the manager; the lead's copies say so
    up = NOW + timedelta(days=5, minutes=1)
    run_appeals(w.services, messengers, up, "i1")
    assert [(u, c.title) for u, c in feishu.sent[4:]] == [("ou_manager1", "Appeal #2 · Buyer1 (buyer1)")]
    assert [(u, strong(c)) for u, _, c in feishu.updated[1:]] == [
        ("ou_lead1", ["Escalated to Manager1 (manager) on 2026-11-09 12:01 UTC: decide it there."])]
    assert copies(engine)[2:] == [("feishu", "ou_lead1", "1", "escalated"), ("dingtalk", "lead1", "1", "escalated"),
                                  ("feishu", "ou_manager1", "4", "open:1"), ("dingtalk", "manager1", "2", "open:1")]
    assert second.id == 2
