"""One person, one number: every view of a member's current month agrees (docs/metrics.md, "A member's period").
The checks; tests/test_one_number_*.py run them at a quarter of CLOCKS each, so a test run spreads them out.

At 20 clocks (the turn of the month in each of the organisation's zones, the end of Los Angeles' daylight saving
time on 1 November and of London's on 25 October, a turn of the week, noon in each zone, the demo's now and the
month's last minutes) every demo member with a KPI template is read through each view a person can open:
/mykpi, /team and /digest (their team's lead), /rank (their team, and all teams for a manager), `kpibot kpi
--json`, the daily score snapshot and, for a role with a commission plan, the commission estimate (and /creators
must be the same table for every lead and manager who asks). The score,
grade, rank and headline figure must be the same in each. The views are asked as users ask them (the dispatcher,
the CLI function); only the snapshot row and the estimate are read from their services, as no chat shows them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.cli.kpi import run as kpi_run
from bot.dispatch import Dispatcher, Incoming
from cards.chart_cache import ChartCache
from cards.model import Card, Progress
from scoring.money import round_money
from scoring.periods import PeriodKind
from scoring.rules import Rules
from services.commission import estimate
from services.container import Services
from services.scorecards import Inputs, member_window
from services.snapshots import snapshot_row
from storage.models import Member
from storage.queries import member_by_code, team_of
from tests.card_reading import fields, table
from tests.conftest import seeded_demo

SCORED = ("host1", "host3", "buyer1", "operator1", "selector1", "lead1", "host2", "lead2")   # with a template
LEAD_OF = {"host1": "lead1", "host3": "lead1", "buyer1": "lead1", "operator1": "lead1", "selector1": "lead1",
           "lead1": "lead1", "host2": "lead2", "lead2": "lead2"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CLOCKS = [
    utc("2026-10-31T16:10"),   # 00:10 on 1 Nov in Shanghai (the organisation), still October in LA and Jakarta
    utc("2026-10-31T17:10"),   # 00:10 on 1 Nov in Jakarta
    utc("2026-11-01T06:59"),   # 23:59 on 31 Oct in Los Angeles (PDT)
    utc("2026-11-01T07:10"),   # 00:10 on 1 Nov in Los Angeles
    utc("2026-11-01T08:30"),   # 01:30 PDT, before Los Angeles leaves daylight saving time
    utc("2026-11-01T09:30"),   # 01:30 PST, the repeated hour after
    utc("2026-11-01T10:00"),   # 02:00 PST
    utc("2026-10-25T00:30"),   # 01:30 BST in London, host3's zone, before it leaves summer time
    utc("2026-10-25T01:30"),   # 01:30 GMT, after
    utc("2026-11-16T07:55"),   # 23:55 on Sunday 15 Nov in Los Angeles: the week's last minutes
    utc("2026-11-16T08:05"),   # 00:05 on Monday 16 Nov in Los Angeles
    utc("2026-11-15T04:00"),   # noon in Shanghai
    utc("2026-11-15T05:00"),   # noon in Jakarta
    utc("2026-11-15T20:00"),   # noon in Los Angeles
    utc("2026-11-15T12:00"),   # noon in London
    utc("2026-11-22T12:00"),   # the demo's now: 04:00 in Los Angeles, 20:00 in Shanghai
    utc("2026-11-30T15:59"),   # 23:59 on 30 Nov in Shanghai
    utc("2026-11-30T16:59"),   # 23:59 in Jakarta
    utc("2026-12-01T07:59"),   # 23:59 on 30 Nov in Los Angeles
    utc("2026-12-01T08:01"),   # 00:01 on 1 Dec in Los Angeles: December everywhere
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo, everyone reading English so that the views' labels can be read alike (imported by each part)."""
    eng = seeded_demo(tmp_path_factory.mktemp("one") / "kpibot.db")
    with Session(eng) as s:
        s.execute(update(Member).values(locale="en"))
        s.commit()
    yield eng
    eng.dispose()


def services_of(store: Engine) -> Services:
    return Services(store, Rules(), "Asia/Shanghai", "en", ChartCache())


def ask(d: Dispatcher, code: str, text: str) -> Card:
    card = d.handle_message(Incoming("console", code, text))
    assert card is not None
    return card


def row_of(rows: tuple[tuple[str, ...], ...], name: str, column: int) -> tuple[str, ...]:
    """The row whose `column` is the member's name, or the name marked "(trial)" or "◀"."""
    hits = [r for r in rows if r[column].split(" (trial)")[0].removesuffix(" ◀") == name]
    assert len(hits) == 1, (name, rows)
    return hits[0]


def kpi_json(store: Engine, code: str, now: datetime, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert kpi_run(services_of(store), argparse.Namespace(member=code, period=None, json=True), None,
                   lambda: now) == 0
    return json.loads(capsys.readouterr().out)


def clock_ids(clocks: list[datetime]) -> list[str]:
    return [c.strftime("%m%dT%H%M") for c in clocks]


def check_every_view(store: Engine, now: datetime, capsys: pytest.CaptureFixture[str]) -> None:
    """Every view of every scored member at `now` shows one score, grade, rank and figure."""
    services = services_of(store)
    d = Dispatcher(services, clock=lambda: now)
    team_card = {lead: ask(d, lead, "/team") for lead in ("lead1", "lead2")}
    digest = {lead: ask(d, lead, "/digest") for lead in ("lead1", "lead2")}
    rank_card = {lead: ask(d, lead, "/rank") for lead in ("lead1", "lead2")}
    everyone = table(ask(d, "manager1", "/rank"))
    # /creators: the organisation's creators on its calendar, the same table whoever asks
    creators = {code: ask(d, code, "/creators") for code in ("lead1", "lead2", "manager1")}
    assert len({(c.title, table(c)) for c in creators.values()}) == 1, "/creators"
    with Session(store) as s:
        inputs = Inputs.load(s, services.rules, now, skip_missing_fx=True)
        names = {code: m.name for code in SCORED if (m := member_by_code(s, code)) is not None}
    for code in SCORED:
        name, lead = names[code], LEAD_OF[code]
        mine = ask(d, code, "/mykpi")
        f = fields(mine)
        score, grade = f["Score"], f["Grade"]
        # the period: the team's month (scoring.periods.period_zone), named on every card
        with Session(store) as s:
            member = member_by_code(s, code)
            assert member is not None
            window = member_window(PeriodKind.MONTH, now, member, team_of(s, member))
            snap = snapshot_row(s, inputs, member, team_of(s, member), now)
            est = estimate(s, inputs, member, window.first_day.year, window.first_day.month)
        assert team_card[lead].title.endswith(window.label) and rank_card[lead].title.endswith(window.label)
        # /team: member, role, score, grade, key metric, status
        team_row = row_of(table(team_card[lead]), name, 0)
        assert (team_row[2], team_row[3]) == (score, grade), (code, "/team")
        # /digest: member, "score grade", key metric, status
        assert row_of(table(digest[lead]), name, 0)[1] == (f"{score} {grade}" if score != "—" else "—"), code
        # /rank (team): position, member, team, score, grade; /mykpi's "Rank in team" is that position
        if score != "—":
            rank_row = row_of(table(rank_card[lead]), name, 1)
            assert (rank_row[3], rank_row[4]) == (score, grade), (code, "/rank")
            assert f["Rank in team"] == f"{rank_row[0]} of {len(table(rank_card[lead]))}", (code, "rank")
            all_row = row_of(everyone, name, 1)
            assert (all_row[3], all_row[4]) == (score, grade), (code, "/rank all teams")
        # kpibot kpi --json: the same month, score, grade and every metric's actual as the card's bars
        report = kpi_json(store, code, now, capsys)
        assert (report["period"], report["score"] or "—", report["grade"] or "—") == (window.label, score, grade)
        bars = {b.label.rsplit(" (", 1)[0]: b.detail.split(" / ")[0].split(" · ")[0]
                for b in mine.blocks if isinstance(b, Progress)}
        for metric in report["metrics"]:
            if metric["actual"] is not None and metric["name"] in bars and metric["unit"] == "money":
                shown = bars[metric["name"]]
                assert shown == f"{Decimal(metric['actual']['amount']):,.2f} {metric['actual']['currency']}", \
                    (code, metric["key"])
        # the daily snapshot the history is made of
        assert snap is not None
        assert (str(snap["score"]) if snap["score"] is not None else "—", snap["grade"] or "—") == (score, grade)
        assert snap["period"] == window.label
        # commission measures the same month's basis as the card's metric
        if est is not None:
            actual = next((m["actual"] for m in report["metrics"] if m["key"] == est.plan.basis.value), None)
            if actual is not None and est.plan.currency == est.reporting:
                assert est.window == window
                assert round_money(est.basis, est.reporting) == Decimal(actual["amount"]), (code, "commission")
                # and projects it to the month's end as /mykpi's forecast does
                shown = f.get(f"Month-end forecast · {(est.plan.basis.value == 'net_gmv' and 'Net GMV') or ''}")
                if shown is not None and est.projected_basis is not None:
                    assert shown.startswith(f"{round_money(est.projected_basis, est.reporting):,.2f} "), code


def part(index: int, of: int = 4) -> Callable[..., None]:
    """The test of the `index`-th of `of` slices of CLOCKS, for a test module to bind: each module is one unit
    of `pytest --dist loadfile`, so the slices run on different workers."""
    size = -(-len(CLOCKS) // of)
    here = CLOCKS[index * size:(index + 1) * size]

    @pytest.mark.parametrize("now", here, ids=clock_ids(here))
    def test_every_view_shows_one_score_grade_rank_and_figure(store: Engine, now: datetime,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
        check_every_view(store, now, capsys)

    return test_every_view_shows_one_score_grade_rank_and_figure
