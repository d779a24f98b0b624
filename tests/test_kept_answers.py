"""A cacheable command asked again by the same sender in the same minute is answered from the card kept for them
(bot.dispatch.Dispatcher.answer, bot.card_cache.CardCache.keep_asked) with no statement run on the store; anything
else reads the sender, on the demo store and a pinned clock. A change to who is who made by another writer (the
CLI, another replica) drops the kept answers at the dispatcher's next look at the store's counter
(storage.identity_version), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import dispatch
from bot.dispatch import Dispatcher, Incoming
from cards.render_text import render_text
from storage.models import Member, MemberIdentity
from storage.queries import member_by_code
from tests.conftest import DEMO_NOW, dispatcher_for


@pytest.fixture
def statements(module_demo: Engine) -> Iterator[list[str]]:
    run: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *_: object) -> None:
        run.append(statement)

    event.listen(module_demo, "before_cursor_execute", seen)
    yield run
    event.remove(module_demo, "before_cursor_execute", seen)


def test_the_second_ask_in_a_minute_reads_nothing_and_gets_the_same_card(module_demo: Engine,
                                                                         statements: list[str]) -> None:
    clock = [DEMO_NOW]
    # the store's counter of who-is-who changes is looked at once (a look an hour at most, so no second look here)
    d = Dispatcher(dispatcher_for(module_demo).services, clock=lambda: clock[0], identity_look_s=3600)
    first = d.answer(Incoming("feishu", "ou_host1", "/mykpi"), ("ou_host1", None))
    assert first[0] == "ou_host1" and len(statements) > 0
    statements.clear()
    again = d.answer(Incoming("feishu", "ou_host1", "/MYKPI"), ("ou_host1", None))
    assert again == first and again[1] is first[1]
    assert statements == []
    clock[0] = DEMO_NOW + timedelta(seconds=59)
    assert d.answer(Incoming("feishu", "ou_host1", "/mykpi"), ("ou_host1", None))[1] is first[1]
    assert statements == []
    # other arguments, another minute, a cleared cache (a command that writes clears it): the sender is read again
    for text, at in (("/mykpi week", DEMO_NOW), ("/mykpi", DEMO_NOW + timedelta(minutes=1))):
        clock[0] = at
        statements.clear()
        assert d.answer(Incoming("feishu", "ou_host1", text), ("ou_host1", None))[1] is not first[1]
        assert len(statements) > 0
    kept = d.answer(Incoming("feishu", "ou_host1", "/mykpi"), ("ou_host1", None))
    d.cache.clear()
    statements.clear()
    assert d.answer(Incoming("feishu", "ou_host1", "/mykpi"), ("ou_host1", None))[1] is not kept[1]
    assert len(statements) > 0


def test_refusals_errors_unbound_senders_and_cheap_commands_are_never_kept(module_demo: Engine,
                                                                          statements: list[str]) -> None:
    d = dispatcher_for(module_demo)
    for text, ids, says in (
            ("/mykpi bogus", ("ou_host1", None), "I couldn't read that: bogus. Try: /mykpi [day|week|month]"),
            ("/mykpi", ("ou_stranger", None), "ou_stranger"),
            ("/whoami", ("ou_host1", None), "host1")):
        for _ in range(2):
            statements.clear()
            user_id, card = d.answer(Incoming("feishu", ids[0], text), ids)
            assert user_id == ids[0] and card is not None and says in render_text(card)
            assert len(statements) > 0
    # a group message that is not for the bot reads nothing and says nothing
    statements.clear()
    assert d.answer(Incoming("feishu", "ou_host1", "/mykpi", is_group=True), ("ou_host1", None)) == ("ou_host1", None)
    assert statements == []


def test_the_kept_answer_goes_to_the_id_the_sender_is_bound_by(module_demo: Engine, statements: list[str]) -> None:
    d = Dispatcher(dispatcher_for(module_demo).services, clock=lambda: DEMO_NOW, identity_look_s=3600)
    # bound by the open_id, asked with an unknown first id: the bound one is the answer's, kept and reused
    first = d.answer(Incoming("feishu", "ou_unknown", "/mykpi"), (None, "ou_host2"))
    statements.clear()
    assert d.answer(Incoming("feishu", "ou_unknown", "/mykpi"), (None, "ou_host2")) == first
    assert first[0] == "ou_host2" and statements == []


def test_a_change_to_who_is_who_made_elsewhere_is_seen_at_the_next_look(engine: Engine) -> None:
    """host1 asks /mykpi and lead1 /team; then another writer (a session of its own, as the CLI would) changes who
    is who, three times: lead1 demoted, host1's and host2's bindings swapped, the member now bound to ou_host1
    deactivated. With a look at every message, each next ask answers for the store as it is then."""
    from tests.conftest import _seed_demo

    _seed_demo(engine)
    d = Dispatcher(dispatcher_for(engine).services, clock=lambda: DEMO_NOW, identity_look_s=0)

    def ask(user: str, text: str) -> str:
        card = d.answer(Incoming("feishu", user, text), (user, None))[1]
        assert card is not None
        return render_text(card)

    def change(*codes: str) -> Iterator[list[Member]]:
        with Session(engine) as s:
            members = [member_by_code(s, c) for c in codes]
            assert all(m is not None for m in members)
            yield members  # type: ignore[misc]
            s.commit()

    mykpi, team = ask("ou_host1", "/mykpi"), ask("ou_lead1", "/team")
    assert mykpi.startswith("Lin Xiaoyu") and "Live US" in team.splitlines()[0]
    assert ask("ou_host1", "/mykpi") == mykpi and ask("ou_lead1", "/team") == team   # kept, as asked before
    for [lead1] in change("lead1"):
        lead1.role = "host"
    demoted = ask("ou_lead1", "/team")
    assert "/team" in demoted.splitlines()[2] and "Live US" not in demoted          # not theirs to ask any more
    for host1, host2 in change("host1", "host2"):
        s = Session.object_session(host1)
        assert s is not None
        ids = {m.id: s.execute(select(MemberIdentity).where(MemberIdentity.member_id == m.id,
                                                            MemberIdentity.platform == "feishu")).scalar_one()
               for m in (host1, host2)}
        ids[host1.id].platform_user_id, ids[host2.id].platform_user_id = "swap", "ou_host1"
        s.flush()
        ids[host1.id].platform_user_id = "ou_host2"
    assert ask("ou_host1", "/mykpi").startswith("Wang Fang")                         # host2's card now
    for [host2] in change("host2"):
        host2.active = False
    unbound = ask("ou_host1", "/mykpi")
    assert "ou_host1" in unbound and "Wang Fang" not in unbound      # the unbound card, naming the id to link


def test_a_look_due_soon_after_the_last_is_made_aside_and_a_late_one_in_the_ask(
        module_demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """With looks every 10 s (pinned ticks): an ask 15 s after the last look gets the kept card at once and the look
    is made aside, which drops the kept answers when who is who changed; an ask 20 s or more after the last look
    looks itself before it answers."""
    gate = threading.Event()      # a look waits here while it is closed: the test says when the look aside reads
    gate.set()
    reads = dispatch.identity_version
    def gated(engine: Engine) -> int:
        if not gate.wait(30):
            raise AssertionError("the gate stayed closed")
        return reads(engine)

    monkeypatch.setattr(dispatch, "identity_version", gated)
    ticks = [0.0]
    d = Dispatcher(dispatcher_for(module_demo).services, clock=lambda: DEMO_NOW, identity_look_s=10,
                   ticks=lambda: ticks[0])

    def ask() -> str:
        card = d.answer(Incoming("feishu", "ou_host1", "/mykpi"), ("ou_host1", None))[1]
        assert card is not None
        return render_text(card)

    def set_active(active: bool) -> None:
        with Session(module_demo) as s:
            host1 = member_by_code(s, "host1")
            assert host1 is not None
            host1.active = active
            s.commit()

    def looked_at(at: float) -> None:
        for _ in range(500):
            if d._identity is not None and d._identity[0] == at and not d._looking:
                return
            time.sleep(0.01)
        raise AssertionError(f"no look at {at}")

    kept = ask()
    assert kept.startswith("Lin Xiaoyu")
    try:
        set_active(False)
        ticks[0] = 15.0
        gate.clear()
        assert ask() == kept                    # the kept card, not held up by the look (waiting at the gate)
        gate.set()
        looked_at(15.0)
        unbound = ask()                         # the look aside saw the change: host1 is read again
        assert "ou_host1" in unbound and "Lin Xiaoyu" not in unbound
        set_active(True)
        ticks[0] = 16.0
        assert ask().startswith("Lin Xiaoyu")   # read anew (nothing kept since the drop) and kept
        set_active(False)
        ticks[0] = 36.0                         # 21 s after the last look: this ask looks first
        assert "ou_host1" in ask()
    finally:
        gate.set()
        set_active(True)


def test_an_answer_whose_sender_was_read_before_a_drop_is_not_kept() -> None:
    """The race a review found: a worker reads the sender, another drops the kept answers (the counter moved, or a
    command wrote), then the first keeps its card: it must not be kept, or it would outlive the change."""
    from bot.card_cache import CardCache
    from cards.model import Card, Text, Tone

    cache, card = CardCache(), Card("t", (Text("x"),), Tone.INFO, "en")
    key = cache.asked_key("feishu", ("ou_1",), "mykpi", (), DEMO_NOW)
    read_at = cache.generation
    cache.forget_asked()
    assert cache.keep_asked(key, "ou_1", card, read_at) is False and cache.kept_asked(key) is None
    read_at = cache.generation
    cache.clear()
    assert cache.keep_asked(key, "ou_1", card, read_at) is False and cache.kept_asked(key) is None
    assert cache.keep_asked(key, "ou_1", card, cache.generation) is True and cache.kept_asked(key) == ("ou_1", card)


def test_a_kept_answer_is_not_used_when_who_is_who_cannot_be_looked_at() -> None:
    """In a store outage the counter of who is who cannot be read: `kept_answer` says there is none (the adapter
    then claims the event, which answers the busy card) rather than raising past the busy path (from review)."""
    from cards.model import Card, Text, Tone
    from storage.engine import make_engine

    down = make_engine("postgresql+psycopg://kpibot:kpibot@127.0.0.1:1/kpibot")   # nothing listens on port 1
    dispatcher = dispatcher_for(down)
    dispatcher.identity_look_s = 0.0   # look at the counter on every ask
    card = Card("t", (Text("x"),), Tone.INFO, "en")
    key = dispatcher.cache.asked_key("feishu", ("ou_1",), "mykpi", (), DEMO_NOW)
    assert dispatcher.cache.keep_asked(key, "ou_1", card, dispatcher.cache.generation)
    assert dispatcher.kept_answer(Incoming("feishu", "", "/mykpi"), ("ou_1",)) is None
    down.dispose()
