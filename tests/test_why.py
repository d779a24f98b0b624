"""`/mykpi why`: the trail behind a score, on a store set up with kpibot's own commands only (the README's
walkthrough, with the organisation reporting in EUR so that the shop's USD orders convert at a rate set with
`kpibot fx set`). The clock is pinned to 2026-11-22 12:00 UTC (KPIBOT_NOW, and the dispatcher's clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session

from bot.cli import main
from bot.dispatch import Dispatcher, Incoming
from cards.chart_cache import ChartCache
from cards.model import Buttons, Card, Fields, Progress, Table
from scoring.metrics import CATALOG
from scoring.rules import Rules
from services.container import Services
from services.errors import UserError
from services.why import explain
from storage.engine import make_engine
from storage.queries import member_by_code

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
D = Decimal

SETUP = [
    "db upgrade",
    "org init --name Acme --currency EUR --timezone Asia/Shanghai --locale en",
    "teams add live-us --name Live-US --timezone America/Los_Angeles --stage growth --country US",
    "templates init {dir}/templates.toml",
    "templates apply {dir}/templates.toml",
    "members import {dir}/members.csv",
    "teams set live-us --lead max",
    "fx set 2026-11-19 EUR USD 1.25",
    "shops add tts-us --platform file --region US --currency USD --timezone America/Los_Angeles --team live-us",
    "import {dir}/lives.csv --preset live_sessions --shop tts-us",
    "import {dir}/orders.csv --preset tiktok_orders --shop tts-us",
    "commission plan host-plan --role host --basis net_gmv --kind tiered --currency EUR --tier 0:0.05 "
    "--tier 100:0.10 --from 2026-11",
]
MEMBERS = ("member,name,role,team,timezone,locale,feishu_open_id,tiktok_handle\n"
           "lily,Lily Chen,host,live-us,America/Los_Angeles,en,ou_lily,lily.live\n"
           "max,Max Wu,lead,live-us,America/Los_Angeles,zh-CN,ou_max,\n")
LIVES = ("session_id,host,title,started_at,ended_at,currency,gmv,viewers,views,avg_watch_seconds,likes,comments,"
         "shares,new_followers\n"
         "L1,lily.live,Evening live,2026-11-20 19:00,2026-11-20 21:00,USD,150.00,400,900,52,300,80,10,35\n")
ORDERS = ("Order ID,Order Status,SKU ID,Product Name,Quantity,SKU Subtotal Before Discount,"
          "SKU Subtotal After Discount,Order Amount,Created Time,Paid Time\n"
          "O-1,Completed,S1,Mug,2,60.00,50.00,55.00,2026-11-20 19:30,2026-11-20 19:31\n"
          "O-2,Completed,S2,Cup,1,100.00,100.00,108.00,2026-11-20 21:20,2026-11-20 21:21\n"
          "O-3,Completed,S2,Cup,1,100.00,100.00,108.00,2026-11-21 10:00,2026-11-21 10:01\n")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder = tmp_path_factory.mktemp("why")
    for name, text in (("members.csv", MEMBERS), ("lives.csv", LIVES), ("orders.csv", ORDERS)):
        (folder / name).write_text(text, encoding="utf-8")
    config = folder / "config.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{folder / "kpibot.db"}"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KPIBOT_NOW", NOW.isoformat())
        for line in SETUP:
            assert main(["--config", str(config), *line.format(dir=folder).split()]) == 0, line
    engine = make_engine(f"sqlite:///{folder / 'kpibot.db'}")
    services = Services(engine, Rules(reporting_currency="EUR"), "Asia/Shanghai", "en", ChartCache())
    say(services, "max", "/target set lily net_gmv 20000")
    yield services
    engine.dispose()


def say(services: Services, user: str, text: str) -> Card:
    card = Dispatcher(services, clock=lambda: NOW).handle_message(Incoming("feishu", f"ou_{user}", text))
    assert card is not None
    return card


def test_the_trail_by_hand_and_equal_to_the_mykpi_card(store: Services) -> None:
    why = say(store, "lily", "/mykpi why net_gmv")
    fields = dict(next(b for b in why.blocks if isinstance(b, Fields)).items)
    assert (fields["Score"], fields["Grade"]) == ("0.8", "D")   # net GMV alone has a target: its pace
    rows = dict(next(b for b in why.blocks[1:] if isinstance(b, Fields)).items)
    # O-1 50.00 USD and O-2 100.00 USD, credited by live session L1 (O-3 is not lily's); 1 EUR = 1.25 USD set for
    # 2026-11-19, the latest rate on or before the orders' UTC day (2026-11-21): 40.00 + 80.00 = 120.00 EUR
    assert rows["Actual"] == "120.00 EUR"
    assert rows["Target"] == "20,000.00 EUR · own target, set by max"
    assert rows["Behind it"] == "2 orders · 0 cancelled · 0 refunds"
    assert rows["Scored (cap 150%)"] == "1%"
    table = next(b for b in why.blocks if isinstance(b, Table))
    assert table.rows == (
        ("O-2", "11-20 21:21", "100.00 USD", "1 EUR = 1.25 USD (2026-11-19)", "80.00 EUR"),
        ("O-1", "11-20 19:31", "50.00 USD", "1 EUR = 1.25 USD (2026-11-19)", "40.00 EUR"),
    )
    # one person, one number: the /mykpi card's score and net GMV line
    mykpi = say(store, "lily", "/mykpi")
    score = dict(next(b for b in mykpi.blocks if isinstance(b, Fields)).items)["Score"]
    assert score == fields["Score"]
    progress = next(b for b in mykpi.blocks if isinstance(b, Progress) and b.label.startswith("Net GMV"))
    assert progress.detail.startswith(f"{rows['Actual']} / 20,000.00 EUR")
    # the trail's points add up to the score (before its rounding)
    lily = _member(store, "lily")
    trail = explain(store, lily, None, None, NOW)
    assert sum((m.points or D(0) for m in trail.metrics), D(0)).quantize(D("0.1")) == trail.score
    assert trail.metric("net_gmv").actual == D("120.00")


def _member(services: Services, code: str):  # type: ignore[no-untyped-def]
    with Session(services.engine) as s:
        member = member_by_code(s, code)
        assert member is not None
        return member


def test_the_why_button_and_the_appeal_buttons(store: Services) -> None:
    mykpi = say(store, "lily", "/mykpi")
    buttons = next(b for b in mykpi.blocks if isinstance(b, Buttons)).buttons
    assert (buttons[-1].label, buttons[-1].command, buttons[-1].args) == ("Why", "mykpi", ("why",))
    why = say(store, "lily", "/mykpi why")
    appeal = next(b for b in why.blocks if isinstance(b, Buttons)).buttons
    trail = explain(store, _member(store, "lily"), None, None, NOW)
    assert [(b.command, b.args) for b in appeal] == [("appeal", (m.key, "2026-11")) for m in trail.metrics]
    last = say(store, "lily", "/mykpi why 2026-10")   # a past month's buttons appeal that month
    assert {b.args[1] for b in next(b for b in last.blocks if isinstance(b, Buttons)).buttons} == {"2026-10"}


def test_commission_is_shown_to_the_member_and_not_to_their_lead(store: Services) -> None:
    lily, lead = _member(store, "lily"), _member(store, "max")
    own = explain(store, lily, "net_gmv", None, NOW)
    assert own.commission is not None
    # 120.00 EUR reaches the tier from 100 (10 %), tiered: 100 x 5 % + 20 x 10 % = 7.00 EUR, nothing to take back
    assert (own.commission.plan, own.commission.version, own.commission.basis_amount, own.commission.tier_from,
            own.commission.rate, own.commission.earned, own.commission.payable) == (
        "host-plan", "2026-11", D("120.00"), D(100), D("0.10"), D("7.00"), D("7.00"))
    assert explain(store, lily, "net_gmv", None, NOW, viewer=lead).commission is None


def test_refusals_in_chat(store: Services) -> None:
    unknown = say(store, "lily", "/mykpi why nope")
    trail = explain(store, _member(store, "lily"), None, None, NOW)
    assert unknown.blocks[0].text == (  # type: ignore[union-attr]
        f"nope is not one of your metrics. Yours: {', '.join(CATALOG[m.key].name('en') for m in trail.metrics)}")
    assert say(store, "lily", "/mykpi why 2026-09").blocks[0].text == (  # type: ignore[union-attr]
        "2026-09: only this month (2026-11) or the last (2026-10) can be explained.")
    with pytest.raises(UserError):
        explain(store, _member(store, "lily"), "nope", None, NOW)


def test_last_month_and_chinese(store: Services) -> None:
    october = explain(store, _member(store, "lily"), "net_gmv", "2026-10", NOW)
    assert (october.period, october.metric("net_gmv").actual, october.metric("net_gmv").counts) == (
        "2026-10", D(0), (("orders", 0), ("cancelled", 0), ("refunds", 0)))
    zh = say(store, "max", "/mykpi 为什么")   # a lead: their team's shops' orders, in Chinese
    assert zh.title == "Max Wu · 2026-11 得分明细"
    assert zh.lang == "zh"


def test_rate_day_is_the_rate_used(store: Services) -> None:
    trail = explain(store, _member(store, "lily"), "net_gmv", None, NOW)
    assert [(i.ref, i.rate_day, i.converted) for i in trail.metric("net_gmv").largest] == [
        ("O-2", date(2026, 11, 19), D("80.0000")), ("O-1", date(2026, 11, 19), D("40.0000"))]
