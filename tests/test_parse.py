"""What people type, read tolerantly."""

from __future__ import annotations

import pytest

from bot.parse import Parsed, normalise, parse

LINK = "https://www.tiktok.com/@lily/video/1"


@pytest.mark.parametrize(("text", "expected"), [
    ("/mykpi", Parsed("mykpi", (), True)),
    ("／mykpi", Parsed("mykpi", (), True)),                 # full-width slash from a Chinese keyboard
    ("／ｍｙｋｐｉ　ｗｅｅｋ", Parsed("mykpi", ("week",), True)),  # full-width letters and space
    ("  /MyKPI   week  ", Parsed("mykpi", ("week",), True)),
    ("/我的KPI", Parsed("我的kpi", (), True)),
    ("/我的KPI 本周", Parsed("我的kpi", ("本周",), True)),
    ("/ mykpi", Parsed("mykpi", (), True)),
    (" /mykpi", Parsed("mykpi", (), True)),                # DingTalk: the robot's @name already taken out
    ("mykpi", Parsed("mykpi", (), False)),
    ("hello there", Parsed("hello", ("there",), False)),
    (f"/link @lily {LINK}", Parsed("link", ("@lily", LINK), True)),
    ("/?", Parsed("?", (), True)),                          # a name of punctuation only stays: /? is /help
    ("/？", Parsed("?", (), True)),
])
def test_parse(text: str, expected: Parsed) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "mentions", "expected"), [
    # Feishu: the bot's mention is the key of its entry in the message's `mentions`
    (f"@_user_1 /link @lily {LINK}", ("@_user_1",), Parsed("link", ("@lily", LINK), True)),
    ("@_user_1 /mykpi month", ("@_user_1",), Parsed("mykpi", ("month",), True)),
    ("@_user_1 ／ｍｙｋｐｉ　ｗｅｅｋ", ("@_user_1",), Parsed("mykpi", ("week",), True)),
    ("@_user_1 / mykpi", ("@_user_1",), Parsed("mykpi", (), True)),
    # a mention in the middle (and one at the end) goes, the rest stays where it was
    (f"/link @_user_1 @lily {LINK}", ("@_user_1",), Parsed("link", ("@lily", LINK), True)),
    (f"/link @lily {LINK} @_user_2", ("@_user_1", "@_user_2"), Parsed("link", ("@lily", LINK), True)),
    # "@_user_10" is a mention of its own, not "@_user_1" followed by "0"
    ("@_user_10 /rank week @_user_1", ("@_user_1", "@_user_10"), Parsed("rank", ("week",), True)),
    ("@_user_1 /rank @_user_10", ("@_user_1",), Parsed("rank", ("@_user_10",), True)),
])
def test_only_the_platforms_mentions_are_removed(text: str, mentions: tuple[str, ...], expected: Parsed) -> None:
    assert parse(text, mentions) == expected


@pytest.mark.parametrize(("text", "expected"), [
    (f"/link @lily {LINK}", Parsed("link", ("@lily", LINK), True)),
    (f"/link @lily {LINK} @bot", Parsed("link", ("@lily", LINK, "@bot"), True)),
    ("@lily hello there", Parsed("@lily", ("hello", "there"), False)),   # no slash after it: nothing to read from
])
def test_without_mentions_nothing_is_removed(text: str, expected: Parsed) -> None:
    assert parse(text) == expected
    assert parse(text, ()) == expected


def test_normalise_keeps_at_signs_in_urls_and_handles() -> None:
    assert normalise(f"@_user_1  /link　@lily  {LINK} ", ["@_user_1"]) == f"/link @lily {LINK}"


@pytest.mark.parametrize(("text", "mentions"), [
    ("", ()), ("   ", ()), ("@_user_1", ("@_user_1",)), ("@_user_1  ", ("@_user_1",)),
    ("@_user_1 @_user_2", ("@_user_1", "@_user_2")),
])
def test_nothing_to_read(text: str, mentions: tuple[str, ...]) -> None:
    assert parse(text, mentions) is None


@pytest.mark.parametrize(("text", "expected"), [
    # Chinese punctuation from the keyboard: a full stop, a comma between the words, an ideographic space
    ("/mykpi。", Parsed("mykpi", (), True)),
    ("/我的KPI，本周", Parsed("我的kpi", ("本周",), True)),
    ("/mykpi\u3000本周。", Parsed("mykpi", ("本周",), True)),
    ("/rank、week", Parsed("rank", ("week",), True)),
    ("/mykpi｡", Parsed("mykpi", (), True)),                  # half-width ideographic full stop
    # brackets around the command
    ("【/mykpi】", Parsed("mykpi", (), True)),
    ("【/我的KPI】本周", Parsed("我的kpi", ("本周",), True)),
    ("「/mykpi week」", Parsed("mykpi", ("week",), True)),
    # sentence punctuation at the end of a word, or a word of nothing else
    ("/mykpi?", Parsed("mykpi", (), True)),
    ("/mykpi？", Parsed("mykpi", (), True)),
    ("/mykpi week.", Parsed("mykpi", ("week",), True)),
    ("/mykpi, week!", Parsed("mykpi", ("week",), True)),
    ("/mykpi ?", Parsed("mykpi", (), True)),
    ("/commission whatif 1,000.", Parsed("commission", ("whatif", "1,000"), True)),   # an amount's comma stays
    # zero-width and other invisible characters anywhere
    ("\u200b/mykpi", Parsed("mykpi", (), True)),
    ("/my\u200bkpi", Parsed("mykpi", (), True)),
    ("\ufeff/mykpi week", Parsed("mykpi", ("week",), True)),
    ("/mykpi\u2060 \u200dweek\u200e", Parsed("mykpi", ("week",), True)),
    ("/mykpi\x07", Parsed("mykpi", (), True)),
    ("/mykpi\tweek\n", Parsed("mykpi", ("week",), True)),   # tab and newline still part words
])
def test_punctuation_brackets_and_invisible_characters(text: str, expected: Parsed) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "mentions", "expected"), [
    # a bot's name typed by hand (the console, or a name not picked from the platform's list): words to the slash
    ("@KPI Bot /mykpi", (), Parsed("mykpi", (), True)),
    ("@KPI Bot /mykpi week", (), Parsed("mykpi", ("week",), True)),
    ("@KPI Bot ／我的KPI，本周", (), Parsed("我的kpi", ("本周",), True)),
    ("@bot /mykpi", (), Parsed("mykpi", (), True)),
    ("@KPI Bot / mykpi", (), Parsed("mykpi", (), True)),
    (f"@KPI Bot /link @lily {LINK}", (), Parsed("link", ("@lily", LINK), True)),
    # the platform's own mention and a typed one
    ("@_user_1 @KPI Bot /mykpi", ("@_user_1",), Parsed("mykpi", (), True)),
    ("@_user_1 /mykpi", (), Parsed("mykpi", (), True)),
])
def test_a_typed_mention_before_the_command(text: str, mentions: tuple[str, ...], expected: Parsed) -> None:
    assert parse(text, mentions) == expected


@pytest.mark.parametrize("text", ["\u200b", "\ufeff \u200b", "。", "【】", "\x07"])
def test_only_invisible_characters_or_punctuation_is_nothing_to_read(text: str) -> None:
    assert parse(text) is None
