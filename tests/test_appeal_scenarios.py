"""Appeals decided with card buttons, through the real `kpibot run` against the Feishu and DingTalk fakes (issue 23's
acceptance): file -> the approver's private card -> approve -> score, rank and commission recomputed, every copy
updated, the appellant told once; partly approve at the preset value; reject with a preset reason; forged and
replayed clicks refused; two approvers at once -> one decision.

The store is set up with kpibot's own commands only (`SETUP`), on an empty store: one UTC team live-us led by
max, hosts lily and ben, an admin ada, each bound on both platforms; a host template of net GMV 50 %, live
sessions 30 %, orders 20 %; November targets 2,000.00 USD, 8 sessions, 8 orders; a tiered host commission plan
(5 % to 100.00 USD, 10 % above). The clock is pinned at 2026-11-16 00:00 UTC (KPIBOT_NOW): half of November is
gone, so the pace is half of each target (1,000.00 USD, 4, 4). The scheduler ticks every 0.2 s (KPIBOT_TICK_S),
so the appeals job delivers and updates at once. By hand, from the imported rows:
- lily: sessions L1, L2; orders A-1 300.00 and A-2 200.00 in them: net GMV 500 -> 0.5 x 50 = 25; sessions 2/4 ->
  15; orders 2/4 -> 10: 50.0. Commission on 500.00: 100 x 5 % + 400 x 10 % = 45.00 USD.
- ben: sessions L3, L4; orders B-1 400.00, B-2 200.00: 0.6 x 50 + 15 + 10 = 55.0. Ranked first, lily second.
- X-1 (100.00, paid outside any session) is nobody's. lily appeals it (attribution, evidence X-1): approved, it is
  credited to her: net GMV 600 -> 30, orders 3/4 -> 15: 60.0, ranked first; commission 5 + 50 = 55.00 USD.
- lily appeals live sessions claiming 4: partly approved at the preset midpoint 3: 3/4 -> 22.5: 67.5.
- ben appeals orders claiming 3: rejected ("the target was right"): still 55.0.
- ben appeals net GMV claiming 700.00: approved by one of two approvers at once: 0.7 x 50 + 15 + 10 = 60.0.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot.cli import main
from storage.engine import make_engine
from storage.models import Appeal, AppealMessage, AuditLog
from tests.bot_process import BotProcess
from tests.fakes.dingtalk import Delivered, FakeDingTalk
from tests.fakes.feishu import FakeFeishu

NOW = "2026-11-16T00:00:00+00:00"
ENV = {"KPIBOT_NOW": NOW, "KPIBOT_TICK_S": "0.2"}
EXTRA = "[fx]\nenabled = false\n[alerts]\nenabled = false\n"
TEMPLATE = "kpibot-card.schema"
SETUP = [
    "db upgrade",
    "org init --name Acme --currency USD --timezone UTC --locale en",
    "teams add live-us --name Live-US --timezone UTC --stage growth --country US",
    "templates apply {dir}/templates.toml",
    "members import {dir}/members.csv",
    "teams set live-us --lead max",
    "shops add tts-us --platform file --region US --currency USD --timezone UTC --team live-us",
    "import {dir}/lives.csv --preset live_sessions --shop tts-us",
    "import {dir}/orders.csv --preset tiktok_orders --shop tts-us",
    "targets import {dir}/targets.csv",
    "commission plan host-plan --role host --basis net_gmv --kind tiered --currency USD --tier 0:0.05 "
    "--tier 100:0.10 --from 2026-11",
]
FILES = {
    "templates.toml": '[[template]]\nname = "host"\nrole = "host"\n[template.weights]\nnet_gmv = 50\n'
                      'live_sessions = 30\norders = 20\n',
    "members.csv": "member,name,role,team,timezone,locale,feishu_open_id,dingtalk_staff_id,tiktok_handle\n"
                   "lily,Lily Chen,host,live-us,UTC,en,ou_lily,lily,lily.live\n"
                   "ben,Ben Ho,host,live-us,UTC,en,ou_ben,ben,ben.live\n"
                   "max,Max Wu,lead,live-us,UTC,en,ou_max,max,\n"
                   "ada,Ada Li,admin,live-us,UTC,en,ou_ada,ada,\n",
    "targets.csv": "period,team,member,country,metric,value\n"
                   + "".join(f"2026-11,,{m},,{k},{v}\n" for m in ("lily", "ben")
                             for k, v in (("net_gmv", 2000), ("live_sessions", 8), ("orders", 8))),
    "lives.csv": "session_id,host,title,started_at,ended_at,currency,gmv,viewers,views,avg_watch_seconds,likes,"
                 "comments,shares,new_followers\n"
                 + "".join(f"{s},{h},Live,2026-11-{d} 19:00,2026-11-{d} 21:00,USD,0.00,400,900,52,300,80,10,35\n"
                           for s, h, d in (("L1", "lily.live", 10), ("L2", "lily.live", 12), ("L3", "ben.live", 13),
                                           ("L4", "ben.live", 14))),
    "orders.csv": "Order ID,Order Status,SKU ID,Product Name,Quantity,SKU Subtotal Before Discount,"
                  "SKU Subtotal After Discount,Order Amount,Created Time,Paid Time\n"
                  + "".join(f"{o},Completed,S1,Mug,1,{v},{v},{v},2026-11-{at},2026-11-{at}\n"
                            for o, v, at in (("A-1", "300.00", "10 19:30"), ("A-2", "200.00", "12 19:30"),
                                             ("B-1", "400.00", "13 19:30"), ("B-2", "200.00", "13 20:00"),
                                             ("X-1", "100.00", "15 09:00"))),
}


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store file as kpibot's own commands leave it (made once per module; each test takes a copy)."""
    folder = tmp_path_factory.mktemp("appeal_scenarios")
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    config = folder / "config.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{folder / "kpibot.db"}"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KPIBOT_NOW", NOW)
        for line in SETUP:
            assert main(["--config", str(config), *line.format(dir=folder).split()]) == 0, line
    return folder / "kpibot.db"


@pytest.fixture
def store_url(template_store: Path, tmp_path: Path) -> Iterator[str]:
    shutil.copyfile(template_store, tmp_path / "kpibot.db")
    yield f"sqlite:///{tmp_path / 'kpibot.db'}"


def rows(url: str, query: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.execute(query).scalars().all())
    finally:
        engine.dispose()


def copies(url: str, appeal_id: int) -> list[tuple[str, str, str]]:
    """(receiver, ref, state) of every stored copy of the appeal's card."""
    return [(c.receiver, c.ref, c.state) for c in rows(url, select(AppealMessage).where(
        AppealMessage.appeal_id == appeal_id).order_by(AppealMessage.id))]  # type: ignore[arg-type]


def decisions(url: str, appeal_id: int) -> list[tuple[str, str]]:
    """(action, actor) of the audit rows of the appeal's decisions."""
    return [(a.action, a.actor) for a in rows(url, select(AuditLog).where(
        AuditLog.entity == "appeal", AuditLog.entity_id == str(appeal_id)).order_by(AuditLog.id))  # type: ignore
        if a.action != "appeal.file"]


def appeal(url: str, appeal_id: int) -> Appeal:
    return rows(url, select(Appeal).where(Appeal.id == appeal_id))[0]  # type: ignore[arg-type]


# --- the scenario, the same on both platforms ----------------------------------------------------------------


class Chat(Protocol):
    """One platform's fake, seen as people chatting with the bot: texts are a card's lines as shown (title first,
    markdown escapes undone); a card's `ref` is its Feishu message id or DingTalk outTrackId."""

    platform: str

    def uid(self, member: str) -> str: ...
    def say(self, member: str, text: str) -> list[str]: ...
    def say_nowait(self, member: str, text: str) -> Callable[[], list[str] | None]: ...
    def private(self, member: str, title: str) -> list[tuple[str, list[str], list[dict]]]: ...
    def click(self, member: str, value: dict, ref: str) -> None: ...
    def click_nowait(self, member: str, value: dict, ref: str) -> None: ...
    def updates(self, ref: str) -> list[tuple[list[str], list[dict]]]: ...
    def wait_for(self, predicate: Callable[[], bool], what: str) -> None: ...


def field(lines: list[str], name: str) -> str:
    """The value of the card's field `name` ("**Name**　value" on Feishu, "**Name**：value" on DingTalk)."""
    for text in lines:
        for line in re.split(r"\n|  \n", text):
            if m := re.fullmatch(rf"\*\*{re.escape(name)}\*\*[\u3000：]\s*(.*?)\s*", line):
                return m[1]
    raise AssertionError(f"no field {name!r} in {lines}")


def notices(chat: Chat, member: str) -> list[str]:
    """What the bot told `member` privately in its short notices (a refused click)."""
    return [line for _, lines, _ in chat.private(member, "kpibot") for line in lines[1:]]


def wait_card(chat: Chat, member: str, title: str) -> tuple[str, list[str], list[dict]]:
    chat.wait_for(lambda: chat.private(member, title) != [], title)
    return chat.private(member, title)[0]


def decide_by_click(chat: Chat, url: str, appeal_id: int, member: str, value: dict, ref: str,
                    state: str) -> list[str]:
    """`member` clicks `value` on the card `ref`: every stored copy shows `state`, and each was updated to say so;
    the lines of the clicked card as last updated."""
    before = len(chat.updates(ref))
    chat.click(member, value, ref)
    chat.wait_for(lambda: {s for _, _, s in copies(url, appeal_id)} == {state}, f"every copy of #{appeal_id} {state}")
    for _, copy_ref, _ in copies(url, appeal_id):
        chat.wait_for(lambda r=copy_ref: len(chat.updates(r)) > (before if r == ref else 0), f"{copy_ref} updated")
    last = chat.updates(ref)[-1]
    assert last[1] == []                                   # decided: no buttons left
    return last[0]


def ranked(lines: list[str]) -> list[tuple[str, str, str]]:
    """(rank, member, score) of each row of a /rank card."""
    rows = [re.search(r"(\d+)\W+(Lily Chen|Ben Ho)\W.*?(\d+\.\d)", line) for text in lines for line in text.split("\n")]
    return [(m[1], m[2], m[3]) for m in rows if m]


def score(chat: Chat, member: str) -> str:
    return field(chat.say(member, "/mykpi"), "Score")


def run_scenario(chat: Chat, url: str) -> None:
    lead = chat.uid("max")
    # 1. lily appeals order X-1 (paid outside any live): the lead gets the card privately, with its buttons
    assert (score(chat, "lily"), score(chat, "ben")) == ("50.0", "55.0")
    filed = chat.say("lily", "/appeal net_gmv attribution X-1 was sold in my live evidence: X-1")
    assert filed[:2] == ["Appeal #1 filed", "Net GMV for 2026-11, now 500.00 USD. Max Wu (team lead) decides it; "
                                            "you will be told here."]
    ref, lines, buttons = wait_card(chat, "max", "Appeal #1 · Lily Chen (lily)")
    assert [field(lines, k) for k in ("Member", "Metric", "Month", "Value now", "Value claimed", "Category",
                                      "Approver")] == [
        "Lily Chen (lily)", "Net GMV", "2026-11", "500.00 USD", "-",
        "attribution (order wrongly attributed or missing)", "Max Wu (team lead)"]
    assert [x for x in lines if x.startswith(("Reason:", "Evidence:", "Approving"))] == [
        "Reason: X-1 was sold in my live", "Evidence: X-1", "Approving would change: Credit 1 order(s) to lily: X-1"]
    assert [(b["args"], b["owner"]) for b in buttons] == [
        (["approve", "1"], lead), (["reject", "1", "#evidence_missing"], lead), (["reject", "1", "#not_yours"], lead),
        (["reject", "1", "#target_right"], lead)]
    # the copy's reference is stored once the platform took the card: wait for it, not for the card alone
    chat.wait_for(lambda: copies(url, 1) == [(lead, ref, "open:0")], "#1's copy stored")
    decided = decide_by_click(chat, url, 1, "max", buttons[0], ref, "approved")
    assert decided[-1] == "Approved by Max Wu on 2026-11-16 00:00 UTC."
    assert decisions(url, 1) == [("appeal.approve", "max")]
    # recomputed: X-1 is lily's now
    mykpi = chat.say("lily", "/mykpi")
    assert (field(mykpi, "Score"), field(mykpi, "Rank in team")) == ("60.0", "1 of 2")
    assert ranked(chat.say("lily", "/rank")) == [("1", "Lily Chen", "60.0"), ("2", "Ben Ho", "55.0")]
    commission = chat.say("lily", "/commission")
    assert (field(commission, "Basis so far"), field(commission, "Earned")) == ("600.00 USD", "55.00 USD")
    chat.wait_for(lambda: len(chat.private("lily", "Your appeal #1 was decided")) == 1, "lily told of #1")

    # 2. partly approved at the preset value: halfway from 2 sessions to the 4 claimed
    chat.say("lily", "/appeal live_sessions activity =4 my live of 11-14 is missing")
    ref, lines, buttons = wait_card(chat, "max", "Appeal #2 · Lily Chen (lily)")
    assert (field(lines, "Value now"), field(lines, "Value claimed")) == ("2", "4")
    assert [(b["args"]) for b in buttons][:2] == [["approve", "2"], ["partly", "2", "3.00"]]
    decided = decide_by_click(chat, url, 2, "max", buttons[1], ref, "partly_approved")
    assert decided[-1] == "Partly approved (3) by Max Wu on 2026-11-16 00:00 UTC."
    assert score(chat, "lily") == "67.5"          # 30 + 3/4 x 30 + 15
    chat.wait_for(lambda: len(chat.private("lily", "Your appeal #2 was decided")) == 1, "lily told of #2")

    # 3 and 4. ben appeals his orders; forged clicks are refused, then the lead rejects it with a preset reason
    chat.say("ben", "/appeal orders =3 B-3 was mine too")
    ref, lines, buttons = wait_card(chat, "max", "Appeal #3 · Ben Ho (ben)")
    approve = buttons[0]
    chat.click("lily", approve, ref)                                   # the lead's button, clicked by lily
    chat.wait_for(lambda: len(notices(chat, "lily")) == 1, "lily refused")
    assert notices(chat, "lily") == ["This card belongs to someone else. Send /mykpi to get your own."]
    for forger, told in (("lily", "Appeal #3 is not yours to decide; nothing changed."),   # crafted as theirs
                         ("ben", "Appeal #3 is your own: someone else decides it; nothing changed.")):
        crafted = {**approve, "owner": chat.uid(forger)}
        chat.click(forger, crafted, ref)
        chat.wait_for(lambda f=forger, m=told: m in notices(chat, f), f"{forger} refused")
    assert appeal(url, 3).status == "open" and decisions(url, 3) == [] and chat.updates(ref) == []
    decided = decide_by_click(chat, url, 3, "max", buttons[-1], ref, "rejected")
    assert decided[-2:] == ["Rejected by Max Wu on 2026-11-16 00:00 UTC.", "Note: the target was right"]
    assert score(chat, "ben") == "55.0"
    chat.wait_for(lambda: len(chat.private("ben", "Your appeal #3 was decided")) == 1, "ben told of #3")
    told = chat.private("ben", "Your appeal #3 was decided")[0][1]
    assert told[-2:] == ["Rejected by Max Wu on 2026-11-16 00:00 UTC.", "Note: the target was right"]
    # replayed: the lead's Approve delivered again after the decision
    updated = len(chat.updates(ref))
    chat.click("max", approve, ref)
    chat.wait_for(lambda: "Appeal #3 was rejected already; nothing changed." in notices(chat, "max"), "replay")
    assert len(chat.updates(ref)) == updated and decisions(url, 3) == [("appeal.reject", "max")]
    assert appeal(url, 3).status == "rejected"

    # 5. the lead clicks Approve while the admin types it: one decision
    chat.say("ben", "/appeal net_gmv =700 B-3 of 100.00 went missing")
    ref, lines, buttons = wait_card(chat, "max", "Appeal #4 · Ben Ho (ben)")
    typed = chat.say_nowait("ada", "/appeal approve 4")
    chat.click_nowait("max", buttons[0], ref)
    chat.wait_for(lambda: typed() is not None and appeal(url, 4).status == "approved", "#4 decided")
    winner = decisions(url, 4)
    assert len(winner) == 1 and winner[0][0] == "appeal.approve", winner
    lost = {"Appeal #4 was approved already; nothing changed.", "Appeal #4 was decided already; nothing changed."}
    if winner[0][1] == "ada":
        assert (typed() or [])[-1] == "Approved by Ada Li on 2026-11-16 00:00 UTC."
        chat.wait_for(lambda: lost & set(notices(chat, "max")) != set(), "the lead refused")
    else:
        assert set((typed() or [])[1:]) & lost != set(), typed()
    assert score(chat, "ben") == "60.0"           # 700 / 1,000 x 50 + 15 + 10
    chat.wait_for(lambda: {s for _, _, s in copies(url, 4)} == {"approved"}, "#4's copies")
    chat.wait_for(lambda: len(chat.private("ben", "Your appeal #4 was decided")) == 1, "ben told of #4")
    # each appellant told once of each decision, after many more ticks
    assert [len(chat.private(m, f"Your appeal #{i} was decided")) for m, i in
            (("lily", 1), ("lily", 2), ("ben", 3), ("ben", 4))] == [1, 1, 1, 1]


# --- Feishu ---------------------------------------------------------------------------------------------------


def strings(node: Any, key: str) -> list[str]:
    """Every string under `key` anywhere in a card's JSON, in order, markdown escapes undone."""
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                found.append(re.sub(r"\\(.)", r"\1", v))
            elif k == "rows" and isinstance(v, list):      # a table's rows: one line each
                found.extend(" ".join(str(c) for c in row.values()) for row in v if isinstance(row, dict))
            else:
                found.extend(strings(v, key))
    elif isinstance(node, list):
        for item in node:
            found.extend(strings(item, key))
    return found


def unbold(text: str) -> str:
    """A line in bold as plain text (a decided card's state line)."""
    return m[1] if (m := re.fullmatch(r"\*\*([^*]+)\*\*", text)) else text


def feishu_lines(content: dict) -> list[str]:
    """A card's lines: its title and markdown, not its buttons' labels."""
    return [unbold(s) for s in strings({k: v for k, v in content.items() if k != "body"}, "content") + [
        s for e in content["body"]["elements"] if e.get("tag") != "column_set" for s in strings(e, "content")]]


def button_values(node: Any) -> list[dict]:
    found: list[dict] = []
    if isinstance(node, dict):
        if node.get("tag") == "button":
            found.extend(b["value"] for b in node.get("behaviors", []) if b.get("type") == "callback")
        for v in node.values():
            found.extend(button_values(v))
    elif isinstance(node, list):
        for item in node:
            found.extend(button_values(item))
    return found


class FeishuChat:
    platform = "feishu"

    def __init__(self, fake: FakeFeishu) -> None:
        self.fake = fake
        self.toasts: list[tuple[str, str]] = []   # (member, text) of the clicks refused with a toast

    def uid(self, member: str) -> str:
        return f"ou_{member}"

    def say_nowait(self, member: str, text: str) -> Callable[[], list[str] | None]:
        event = self.fake.message_event(self.uid(member), text, chat_id=f"oc_p2p_{member}")
        asked = event["event"]["message"]["message_id"]
        self.fake.push_event_nowait(event)

        def answer() -> list[str] | None:
            found = [m for m in self.fake.messages if m.get("reply_to") == asked]
            return feishu_lines(found[0]["content"]) if found else None
        return answer

    def say(self, member: str, text: str) -> list[str]:
        answer = self.say_nowait(member, text)
        self.wait_for(lambda: answer() is not None, f"the answer to {text}")
        return answer() or []

    def private(self, member: str, title: str) -> list[tuple[str, list[str], list[dict]]]:
        """The cards sent to `member` with this title; a refusal toast counts as a notice titled "kpibot"."""
        sent = [(m["message_id"], feishu_lines(m["content"]), button_values(m["content"])) for m in self.fake.messages
                if m.get("receive_id") == self.uid(member)
                and m["content"].get("header", {}).get("title", {}).get("content") == title]
        toasts = [("", ["kpibot", text], []) for who, text in self.toasts if who == member and title == "kpibot"]
        return sent + toasts

    def click(self, member: str, value: dict, ref: str) -> None:
        event = self.fake.card_action_event(self.uid(member), value, open_message_id=ref, chat_id=f"oc_p2p_{member}")
        toast = self.fake.push_event(event)["data"]["toast"]
        if toast["content"] != "Updating…":           # refused at once: the toast only the clicker sees
            self.toasts.append((member, toast["content"]))

    def click_nowait(self, member: str, value: dict, ref: str) -> None:
        self.fake.push_event_nowait(self.fake.card_action_event(self.uid(member), value, open_message_id=ref,
                                                                chat_id=f"oc_p2p_{member}"))

    def updates(self, ref: str) -> list[tuple[list[str], list[dict]]]:
        return [(feishu_lines(p["content"]), button_values(p["content"])) for p in self.fake.patches
                if p["message_id"] == ref]

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        self.fake.wait_for(predicate, timeout=30, what=what)


def test_feishu_appeals_decided_with_buttons(store_url: str, tmp_path: Path) -> None:
    with FakeFeishu() as fake, BotProcess(tmp_path, store_url, feishu=fake, env=ENV, extra=EXTRA) as bot:
        bot.wait_serving()
        run_scenario(FeishuChat(fake), store_url)
        assert bot.stop() == 0, bot.err
    assert "Traceback" not in bot.err


# --- DingTalk -------------------------------------------------------------------------------------------------


def markdown_lines(title: str, text: str) -> list[str]:
    """A DingTalk card's or message's lines: its title, then each paragraph (the "#### title" heading of a markdown
    message dropped), escapes undone, notes and bold lines as plain text."""
    paragraphs = [p for p in text.split("\n\n") if not p.startswith("#### ")]
    plain = [re.sub(r"\\(.)", r"\1", p).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
             for p in paragraphs]
    return [title, *(unbold(p.removeprefix("> ")) for p in plain)]   # a note is a quote


def card_buttons(params: dict[str, str]) -> list[dict]:
    return [b["params"] for b in json.loads(params.get("buttons") or "[]")]


class DingTalkChat:
    platform = "dingtalk"

    def __init__(self, fake: FakeDingTalk) -> None:
        self.fake = fake

    def uid(self, member: str) -> str:
        return member

    def _lines(self, delivered: Delivered) -> list[str]:
        content = delivered.content
        if delivered.via == "card":
            return markdown_lines(content["title"], content["body"])
        return markdown_lines(content["title"], content["text"])

    def say_nowait(self, member: str, text: str) -> Callable[[], list[str] | None]:
        data = self.fake.bot_message(member, text)
        card_id = "kpibot-" + hashlib.sha256(data["msgId"].encode()).hexdigest()[:40]   # an answer as a card
        before = len(self.fake.delivered)
        self.fake.push_message_nowait(data)

        def answer() -> list[str] | None:
            found = [d for d in self.fake.delivered[before:] if d.target == member
                     and (d.via == "session" or d.out_track_id == card_id)]
            return self._lines(found[0]) if found else None
        return answer

    def say(self, member: str, text: str) -> list[str]:
        answer = self.say_nowait(member, text)
        self.wait_for(lambda: answer() is not None, f"the answer to {text}")
        return answer() or []

    def private(self, member: str, title: str) -> list[tuple[str, list[str], list[dict]]]:
        return [(d.out_track_id or "", self._lines(d), card_buttons(d.content) if d.via == "card" else [])
                for d in self.fake.delivered if d.target == member and d.via in ("card", "oto_send")
                and d.content.get("title") == title]

    def click(self, member: str, value: dict, ref: str) -> None:
        self.fake.card_click(ref, member, value)

    def click_nowait(self, member: str, value: dict, ref: str) -> None:
        threading.Thread(target=self.fake.card_click, args=(ref, member, value), daemon=True).start()

    def updates(self, ref: str) -> list[tuple[list[str], list[dict]]]:
        return [(markdown_lines(p["title"], p["body"]), card_buttons(p)) for p in self.fake.cards[ref].history[1:]]

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        self.fake.wait_for(predicate, timeout=30, what=what)


def test_dingtalk_appeals_decided_with_buttons(store_url: str, tmp_path: Path) -> None:
    with FakeDingTalk() as fake, BotProcess(tmp_path, store_url, dingtalk=fake, template=TEMPLATE, env=ENV,
                                            extra=EXTRA) as bot:
        bot.wait_serving()
        run_scenario(DingTalkChat(fake), store_url)
        assert bot.stop() == 0, bot.err
    assert "Traceback" not in bot.err


def test_every_copy_on_both_platforms_shows_the_decision(store_url: str, tmp_path: Path) -> None:
    """One process connected to both platforms: the lead, bound on both, gets the card on each; a click on the
    DingTalk copy decides it, and the Feishu copy is updated in place too. lily is told once, on Feishu (the first
    platform she is bound on)."""
    with FakeFeishu() as feishu, FakeDingTalk() as dingtalk, BotProcess(
            tmp_path, store_url, feishu=feishu, dingtalk=dingtalk, template=TEMPLATE, env=ENV, extra=EXTRA) as bot:
        bot.wait_serving()
        on_feishu, on_dingtalk = FeishuChat(feishu), DingTalkChat(dingtalk)
        on_feishu.say("lily", "/appeal net_gmv attribution X-1 was sold in my live evidence: X-1")
        title = "Appeal #1 · Lily Chen (lily)"
        feishu_ref, feishu_lines_, _ = wait_card(on_feishu, "max", title)
        dingtalk_ref, dingtalk_lines, buttons = wait_card(on_dingtalk, "max", title)
        assert field(feishu_lines_, "Value now") == field(dingtalk_lines, "Value now") == "500.00 USD"
        on_feishu.wait_for(lambda: copies(store_url, 1) == [("ou_max", feishu_ref, "open:0"),
                                                            ("max", dingtalk_ref, "open:0")], "both copies stored")
        on_dingtalk.click("max", buttons[0], dingtalk_ref)
        on_feishu.wait_for(lambda: on_feishu.updates(feishu_ref) != [], "the Feishu copy updated")
        on_dingtalk.wait_for(lambda: on_dingtalk.updates(dingtalk_ref) != [], "the DingTalk copy updated")
        decided = "Approved by Max Wu on 2026-11-16 00:00 UTC."
        assert [lines[-1] for lines, _ in on_feishu.updates(feishu_ref)] == [decided]
        # the clicked DingTalk copy is updated twice: by the click's answer (bot/platforms/dingtalk.py) and by the
        # appeals job, whose stored state for that copy the click does not move (bot/jobs/appeals.update_copies)
        on_dingtalk.wait_for(lambda: len(on_dingtalk.updates(dingtalk_ref)) >= 2, "the DingTalk copy updated twice")
        assert [lines[-1] for lines, _ in on_dingtalk.updates(dingtalk_ref)] == [decided, decided]
        on_feishu.wait_for(lambda: [s for _, _, s in copies(store_url, 1)] == ["approved", "approved"],
                           "both copies marked approved")
        told = "Your appeal #1 was decided"
        on_feishu.wait_for(lambda: on_feishu.private("lily", told) != [], "lily told")
        assert field(on_feishu.say("lily", "/mykpi"), "Score") == "60.0"
        assert (len(on_feishu.private("lily", told)), len(on_dingtalk.private("lily", told))) == (1, 0)
        assert bot.stop() == 0, bot.err
    # and no more updates after those, up to the exit
    assert [lines[-1] for lines, _ in on_feishu.updates(feishu_ref)] == [decided]
    assert [lines[-1] for lines, _ in on_dingtalk.updates(dingtalk_ref)] == [decided, decided]
    assert "Traceback" not in bot.err
