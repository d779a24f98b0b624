"""A closed month stays closed (issue 23): FX edits of its days are refused, a refinalise (an approved appeal)
recomputes as of the close so late refunds stay out, every view of the month reads it as of the close, paid
commission is never rewritten (a correction row instead), and `kpibot month close` warns of open appeals.

The store is set up as kpibot's own commands leave it (organisation, team, members, the shipped templates applied,
a target, a plan): October 2026 is closed on 1 November 08:00 UTC; the clock is pinned on every call."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.cli import kpi as kpi_cli
from bot.cli import month as month_cli
from bot.jobs.fx_rates import run_fx_rates
from cards.chart_cache import ChartCache
from cards.model import Fields
from cards.render_text import render_text
from cards.why_card import commission_blocks
from commands.commission import _closed_card
from scoring.rules import Rules
from scoring.shipped_templates import DEFAULT_TEMPLATES
from services import appeals
from services.commission import PaidMonth, month_view
from services.container import Services
from services.export import export
from services.fx import ClosedMonthRate, set_rate
from services.month_close import close
from services.templates import apply_templates
from services.why import explain
from storage.commission import payout_for
from storage.models import AuditLog, CommissionCorrection, FxRateRow, Member, Refund, Shop, TeamLead
from storage.month_close import final_scores
from storage.targets import Subject, set_target
from tests.fakes.ecb import FakeEcb
from tests.test_cli import InProcess
from tests.test_commission_store import _order, _store, at
from tests.test_export import row_of, sheets

D = Decimal
CLOSED = datetime(2026, 11, 1, 8, tzinfo=UTC)


def _services(engine: Engine) -> Services:
    return Services(engine, Rules(), "UTC", "en", ChartCache())


def _october(engine: Engine) -> tuple[Member, Member, Member]:
    """Hosts h (1,300.00 USD in October) and h2 (1,000.00 USD, an order of 400.00 in it) and their lead l; both
    hosts' target is 2,000; October closed: h paid 160.00 (1,000 x 10 % + 300 x 20 %), h2 100.00."""
    host, shop = _store(engine)
    with Session(engine) as s:
        other = Member(org_id=host.org_id, team_id=host.team_id, code="h2", name="Host Two", role="host",
                       timezone="UTC", locale="en")
        lead = Member(org_id=host.org_id, team_id=host.team_id, code="l", name="Lead", role="lead",
                      timezone="UTC", locale="en")
        s.add_all([other, lead])
        s.flush()
        s.add(TeamLead(team_id=host.team_id or 0, member_id=lead.id or 0))   # kpibot teams set t --lead l
        apply_templates(s, host.org_id, list(DEFAULT_TEMPLATES), None, at(1, 10), "UTC")
        for m in (host, other):
            set_target(s, host.org_id, Subject("member", member=m), "2026-10", "net_gmv", D("2000"), None)
        _order(s, shop, host, "A", 130000, at(3, 10), "b1")
        _order(s, shop, other, "B", 60000, at(4, 10), "b2")
        _order(s, shop, other, "C", 40000, at(5, 10), "b3")
        s.commit()
        s.refresh(other)
        s.refresh(lead)
    result = close(_services(engine), 2026, 10, CLOSED, "cli:tester")
    assert (result.scores, result.payouts, result.open_appeals) == (3, 2, ())
    return host, other, lead


def _finals(engine: Engine) -> dict[str, tuple[Decimal | None, str | None, int | None, str | None]]:
    """code -> (score, grade, rank, net GMV actual) as frozen."""
    with Session(engine) as s:
        codes = {m.id: m.code for m in s.execute(select(Member)).scalars()}
        return {codes[f.member_id]: (f.score, f.grade, f.rank,
                                     next(m["actual"] for m in f.metrics if m["key"] == "net_gmv"))
                for f in final_scores(s, "2026-10")}


# the lead is scored on the team's shops (2,300.00) with no target of their own: no score
FROZEN = {"h": (D("65.0"), "D", 1, "1300.00"), "h2": (D("50.0"), "D", 2, "1000.00"), "l": (None, None, None, "2300.00")}


def test_a_rate_of_a_closed_day_is_refused_and_the_feed_leaves_it(engine: Engine) -> None:
    """(a) kpibot fx set of a day in closed October is refused naming the month, also a rate the store lacks;
    a November day is stored. The ECB job stores November's rates and leaves October's as they were."""
    _october(engine)
    services = _services(engine)
    with pytest.raises(ClosedMonthRate) as refused:
        set_rate(services, "2026-10-15", "GBP", "USD", "2.0")
    assert str(refused.value) == ("2026-10-15 is in 2026-10, a closed month (kpibot month close): its scores and "
                                  "commission were settled with the rates stored then")
    one, stored = set_rate(services, "2026-11-02", "GBP", "USD", "1.3")
    assert (one.day, stored.added, stored.closed) == (date(2026, 11, 2), 1, 0)
    with FakeEcb({date(2026, 10, 30): {"USD": "1.08"}, date(2026, 11, 2): {"USD": "1.09"}}) as feed:
        run = run_fx_rates(services, {}, datetime(2026, 11, 3, 16, tzinfo=UTC), "i", url=feed.daily_url,
                           history_url=feed.history_url)
    assert run.stored is not None
    assert (run.rates, run.stored.added, run.stored.closed) == (2, 1, 1)
    with Session(engine) as s:
        rows = s.execute(select(FxRateRow).order_by(FxRateRow.day, FxRateRow.base)).scalars().all()
        assert [(r.day, r.base, r.quote, r.rate) for r in rows] == [
            (date(2026, 11, 2), "EUR", "USD", D("1.09")), (date(2026, 11, 2), "GBP", "USD", D("1.3"))]


def test_kpibot_fx_set_and_import_name_the_closed_month(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """(a) On an empty store set up with kpibot's own commands (clock pinned at 2026-11-22 by KPIBOT_NOW)."""
    cli = InProcess(capsys, monkeypatch)
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    assert cli(tmp_path, "month", "close", "2026-10").stdout == \
        "2026-10 closed: 0 final scores frozen, no commission plan was in force, nothing paid\n"
    refused = cli(tmp_path, "fx", "set", "2026-10-15", "GBP", "USD", "2.0")
    assert (refused.returncode, refused.stderr) == (2, (
        "kpibot: nothing stored: 2026-10-15 is in 2026-10, a closed month (kpibot month close): its scores and "
        "commission were settled with the rates stored then\n"))
    (tmp_path / "rates.csv").write_text("day,base,quote,rate\n2026-11-02,GBP,USD,1.3\n2026-10-31,GBP,USD,1.2\n")
    imported = cli(tmp_path, "fx", "import", "rates.csv")
    assert (imported.returncode, imported.stdout) == (2, "")
    assert "2026-10-31 is in 2026-10, a closed month" in imported.stderr
    assert cli(tmp_path, "fx", "list", "--days", "60").stdout.startswith("no rates stored from ")


def test_an_appeal_after_the_close_moves_only_its_adjustment_and_adds_a_correction(engine: Engine) -> None:
    """(b) (d) A refund of h2's 400.00 order arrives the day after the close; h's appeal (net GMV 1,500) is
    approved on 4 November: h's final score moves, h2's stays as frozen (the refund stays out), the payout
    row stays as paid and a correction of +40.00 (1,500 pays 200.00) is recorded and audited; /commission shows
    paid and correction apart, the export too."""
    host, _, lead = _october(engine)
    services = _services(engine)
    assert _finals(engine) == FROZEN
    with Session(engine) as s:
        s.add(Refund(order_id=3, platform_refund_id="late", kind="refund", status="completed", currency="USD",
                     amount_minor=40000, requested_at=at(2, 11), completed_at=at(2, 11)))
        s.commit()
    filed = appeals.file_appeal(services, host, "net_gmv", "2026-10", "other", "order D missing", [], at(3, 11),
                                D("1500"))
    appeals.decide(services, lead, filed.appeal.id, "approve", None, None, at(4, 11))
    assert _finals(engine) == {**FROZEN, "h": (D("75.0"), "C", 1, "1500")}
    with Session(engine) as s:
        paid = payout_for(s, host.id or 0, "2026-10")
        assert paid is not None
        assert (paid.basis_amount, paid.earned_minor, paid.paid_minor) == (D("1300.00"), 16000, 16000)
        (fix,) = s.execute(select(CommissionCorrection)).scalars().all()
        assert (fix.member_id, fix.period, fix.appeal_id, fix.basis_amount, fix.amount_minor, fix.currency,
                fix.at, fix.by) == (host.id, "2026-10", filed.appeal.id, D("1500"), 4000, "USD", at(4, 11), "l")
        (row,) = s.execute(select(AuditLog).where(AuditLog.action == "commission_correction.add")).scalars().all()
        assert (row.actor, row.entity_id, row.details["correction_minor"]) == ("l", "2026-10:h", 4000)
    shown = month_view(services, host, None, (2026, 10), at(5, 11))
    assert isinstance(shown, PaidMonth)
    assert render_text(_closed_card(shown, "en")).splitlines()[3:7] == [
        "Basis when paid                           1,300.00 USD",
        "Earned                                    160.00 USD",
        "Paid on 2026-11-01                        160.00 USD",
        "Correction after appeal #1 on 2026-11-04  +40.00 USD"]   # nothing to take back: 200.00 is earned now
    # the why trail of the paid month says the same: paid, corrected, nothing still due (never paid twice)
    trail = explain(services, host, "net_gmv", "2026-10", at(5, 11)).commission
    assert trail is not None
    rows = dict(next(b for b in commission_blocks(trail, "en") if isinstance(b, Fields)).items)
    assert (rows["Earned"], rows["Paid on 2026-11-01"], rows["Correction after appeal #1 on 2026-11-04"],
            rows["Still due"], "Payable" in rows) == ("200.00 USD", "160.00 USD", "+40.00 USD", "0.00 USD", False)
    # November's close takes nothing back from October: it keeps 160.00 paid + 40.00 corrected = what it earns
    close(services, 2026, 11, datetime(2026, 12, 1, 8, tzinfo=UTC), "cli:tester")
    with Session(engine) as s:
        october, november = payout_for(s, host.id or 0, "2026-10"), payout_for(s, host.id or 0, "2026-11")
        assert october is not None and november is not None
        assert (october.clawed_back_minor, november.clawback_minor, november.paid_minor) == (0, 0, 0)
    book = sheets(export(services, None, 2, at(5, 11)).content)
    assert [(row_of(book["2026-10"], c)["commission paid"], row_of(book["2026-10"], c)["commission correction"])
            for c in ("h", "h2")] == [(160, 40), (100, 0)]


def test_every_view_of_a_closed_month_is_its_final_score(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """(c) After a late refund, /mykpi why 2026-10 and kpibot kpi --period 2026-10 still show the frozen score
    and net GMV, and say the month is closed and final."""
    _, other, _ = _october(engine)
    services = _services(engine)
    with Session(engine) as s:
        s.add(Refund(order_id=3, platform_refund_id="late", kind="refund", status="completed", currency="USD",
                     amount_minor=40000, requested_at=at(2, 11), completed_at=at(2, 11)))
        s.commit()
    why = explain(services, other, "net_gmv", "2026-10", at(5, 11))
    assert (why.score, why.grade, why.metric("net_gmv").actual, why.closed_on) == (
        D("50.0"), "D", D("1000.00"), date(2026, 11, 1))
    args = argparse.Namespace(member="h2", period="2026-10", json=False)
    assert kpi_cli._kpi(services, args, lambda: at(5, 11)) == 0
    assert capsys.readouterr().out.splitlines()[:3] == [
        "closed on 2026-11-01: final (as frozen by kpibot month close; only an approved appeal changes it)",
        "Host Two (h2, host) · 2026-10",
        "template host · score 50.0 · grade D"]
    assert kpi_cli._kpi(services, argparse.Namespace(member="h2", period="2026-10", json=True), lambda: at(5, 11)) == 0
    report = json.loads(capsys.readouterr().out)
    net = next(m for m in report["metrics"] if m["key"] == "net_gmv")
    assert (report["closed"], report["score"], report["grade"], net["actual"]) == (
        "2026-11-01", "50.0", "D", {"amount": "1000.00", "currency": "USD"})


def test_month_close_warns_of_the_months_open_appeals(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """(e) kpibot month close (run again on a closed month) lists October's open appeal on stderr."""
    host, _, _ = _october(engine)
    services = _services(engine)
    filed = appeals.file_appeal(services, host, "net_gmv", "2026-10", "other", "order D missing", [], at(3, 11),
                                D("1500"))
    capsys.readouterr()
    assert month_cli.run(services, argparse.Namespace(period="2026-10"), None, lambda: at(3, 11)) == 0  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out == "2026-10 is closed already (on 2026-11-01 08:00 UTC by cli:tester); nothing changed\n"
    assert err == ("warning: 1 open appeal(s) of 2026-10 may still be decided; an approval recomputes the "
                   "month's final scores and adds a commission correction:\n"
                   f"  #{filed.appeal.id} h net_gmv (opened 2026-11-03)\n")


def test_a_refinalise_rescores_the_team_as_it_closed(engine: Engine) -> None:
    """After the close h2 is deactivated and h3 joins the team with a 5,000.00 order in October; h's appeal is
    approved on 4 November: h2 keeps their frozen row, h3 gets none, and h is ranked among the team as it closed."""
    host, other, lead = _october(engine)
    services = _services(engine)
    with Session(engine) as s:
        s.get_one(Member, other.id).active = False
        late = Member(org_id=host.org_id, team_id=host.team_id, code="h3", name="Host Three", role="host",
                      timezone="UTC", locale="en")
        s.add(late)
        s.flush()
        set_target(s, host.org_id, Subject("member", member=late), "2026-10", "net_gmv", D("2000"), None)
        shop = s.execute(select(Shop)).scalars().one()
        _order(s, shop, late, "E", 500000, at(6, 10), "b4")
        s.commit()
    filed = appeals.file_appeal(services, host, "net_gmv", "2026-10", "other", "order D missing", [], at(3, 11),
                                D("1500"))
    appeals.decide(services, lead, filed.appeal.id, "approve", None, None, at(4, 11))
    # the lead is scored on the team's shops: an October order first stored after the close counts (documented)
    assert _finals(engine) == {**FROZEN, "h": (D("75.0"), "C", 1, "1500"), "l": (None, None, None, "7300.00")}
    with Session(engine) as s:
        assert [(f.rank, f.rank_of) for f in final_scores(s, "2026-10") if f.member_id == other.id] == [(2, 2)]


def test_an_order_amount_of_a_closed_month_nets_only_the_refunds_before_its_close(engine: Engine) -> None:
    """A refund of C (400.00) completed before the close counts in October's amounts; one after does not, as the
    frozen scores leave it out (the final review found a credited-away amount netting a refund after the close)."""
    from services.order_amounts import refunded_at_close
    from storage.models import Order
    _october(engine)
    with Session(engine) as s:
        order = s.execute(select(Order).where(Order.platform_order_id == "C")).scalar_one()
        s.add_all([Refund(order_id=order.id, platform_refund_id="before", kind="refund", status="completed",
                          currency="USD", amount_minor=5000, requested_at=at(20, 10), completed_at=at(20, 10)),
                   Refund(order_id=order.id, platform_refund_id="after", kind="refund", status="completed",
                          currency="USD", amount_minor=7000, requested_at=at(2, 11), completed_at=at(2, 11))])
        s.commit()
        assert (refunded_at_close(s, order, "2026-10"), refunded_at_close(s, order, "2026-11")) == (5000, None)


def test_a_week_across_two_months_keeps_an_exclusion_of_its_anchor_month() -> None:
    """A week of 27 January to 2 February (Asia/Shanghai) viewed on 1 February loads 26 Jan 16:00 to 28 Feb 16:00
    UTC with its anchor month: January's exclusion holds in it; February's own month range is not January's."""
    from storage.adjustments import _holds
    week = (datetime(2026, 1, 26, 16, tzinfo=UTC), datetime(2026, 2, 28, 16, tzinfo=UTC))
    february = (datetime(2026, 1, 31, 16, tzinfo=UTC), datetime(2026, 2, 28, 16, tzinfo=UTC))
    assert (_holds(*week, "2026-01"), _holds(*february, "2026-01"), _holds(*february, "2026-02")) == (
        True, False, True)
