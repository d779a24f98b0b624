"""What people type, read tolerantly."""

from __future__ import annotations

import pytest

from bot.parse import Parsed, parse


@pytest.mark.parametrize(("text", "expected"), [
    ("/mykpi", Parsed("mykpi", (), True)),
    ("／mykpi", Parsed("mykpi", (), True)),                 # full-width slash from a Chinese keyboard
    ("／ｍｙｋｐｉ　ｗｅｅｋ", Parsed("mykpi", ("week",), True)),  # full-width letters and space
    ("@bot /mykpi", Parsed("mykpi", (), True)),
    ("@_user_1 /mykpi month", Parsed("mykpi", ("month",), True)),  # Feishu's mention placeholder
    ("  /MyKPI   week  ", Parsed("mykpi", ("week",), True)),
    ("/我的KPI", Parsed("我的kpi", (), True)),
    ("/我的KPI 本周", Parsed("我的kpi", ("本周",), True)),
    ("/ mykpi", Parsed("mykpi", (), True)),
    ("mykpi", Parsed("mykpi", (), False)),
    ("hello there", Parsed("hello", ("there",), False)),
])
def test_parse(text: str, expected: Parsed) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "@bot", "@_user_1  "])
def test_nothing_to_read(text: str) -> None:
    assert parse(text) is None
