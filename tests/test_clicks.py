"""cards.clicks: what a button carries and the check a click passes, the same for both platforms."""

from __future__ import annotations

import pytest

from cards.clicks import Click, button_value, read_click


def test_a_button_carries_only_the_parts_of_its_scope_it_has() -> None:
    assert button_value("mykpi", ("week",), owner="ou_1", chat="oc_1", scope=None, lang="zh") == {
        "command": "mykpi", "args": ["week"], "owner": "ou_1", "chat": "oc_1", "lang": "zh"}
    assert button_value("digest", ("live-us",), owner=None, chat="oc_g", scope="subscription:3", lang="en") == {
        "command": "digest", "args": ["live-us"], "chat": "oc_g", "scope": "subscription:3", "lang": "en"}


@pytest.mark.parametrize(("value", "operator", "chat", "expected"), [
    ({"command": "mykpi", "args": ["week"], "owner": "u1", "chat": "c1"}, "u1", "c1", Click("mykpi", ("week",))),
    ({"command": "mykpi", "args": '["day"]', "owner": "u1"}, "u1", None, Click("mykpi", ("day",))),  # DingTalk text
    ({"command": "mykpi", "args": ["week"], "owner": "u1", "chat": "c1"}, "u2", "c1", "click.not_yours"),
    ({"command": "mykpi", "args": ["week"], "owner": "u1", "chat": "c1"}, "u1", "c2", "click.other_chat"),
    ({"command": "digest", "args": [], "chat": "g1", "scope": "subscription:3"}, "u9", "g1",
     Click("digest", (), "subscription:3")),
    ({"command": "digest", "args": [], "scope": "subscription:3"}, "u9", "g1", "click.stale"),   # no chat
    ({"command": "digest", "args": [], "chat": "g1", "scope": "subscription:3"}, "u9", None, "click.stale"),
    ({"command": "digest", "args": []}, "u9", "g1", "click.stale"),          # made for nobody: refused
    ({"command": "digest", "args": [], "owner": ""}, "u9", "g1", "click.stale"),
    ({"cmd": "rm -rf"}, "u1", "c1", "click.stale"),
    ({"command": "mykpi", "args": "not json", "owner": "u1"}, "u1", None, "click.stale"),
    ({"command": "mykpi", "args": {"a": 1}, "owner": "u1"}, "u1", None, "click.stale"),
])
def test_a_click_runs_only_within_the_scope_its_button_carries(value: dict, operator: str, chat: str | None,
                                                               expected: Click | str) -> None:
    assert read_click(value, operator, chat) == expected
