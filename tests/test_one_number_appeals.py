"""One person, one number after appeals: the demo (seeded for 2026-11-22, reporting in
USD, with GBP and IDR shops and a CNY commission plan) with October closed (`kpibot month close`), then one appeal
of each kind decided at the same pinned clock: host1's November net GMV overridden, a refunded order of host3's
November excluded, a missed session added to host2 (IDR), a partial approval of buyer1's (a team-scoped role)
November net GMV, and on closed October an order of host1 credited to host3 and a partial approval of operator1's
net GMV (refinalised). For every member, every view of November (/mykpi, /mykpi why, /rank, the export's live
sheet, the commission estimate, the appeal's value now) and of October (/mykpi why, final_score, the export's
frozen sheet, the payout) shows the same score, rank and each metric's actual, target, achievement and points.
On SQLite only: it passed on PostgreSQL too when written, but took 45 s there; the views read the store through the
same queries on both backends, which the other appeal tests run on each."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.chart_cache import ChartCache
from scoring.money import to_minor
from scoring.periods import PeriodKind, month_window
from scoring.rules import Rules
from services.appeal_routing import AppealRules
from services.appeals import decide, file_appeal
from services.commission import estimate
from services.container import Services
from services.export import export
from services.month_close import close
from services.my_kpi import my_kpi
from services.ranking import ranking
from services.scorecards import Inputs
from services.why import explain
from storage.commission import corrections_for, payout_for
from storage.models import Order, Refund
from storage.month_close import final_scores
from storage.queries import member_by_code
from tests.clock import DEMO_NOW
from tests.conftest import seeded_demo

D = Decimal
NOW = DEMO_NOW
CODES = ("host1", "host2", "host3", "buyer1", "operator1", "selector1", "lead1", "lead2")
LIVE_US = ("host1", "host3", "buyer1", "operator1", "selector1", "lead1")


def _services(engine: Engine) -> Services:
    return Services(engine, Rules(), "Asia/Shanghai", "en", ChartCache(),
                    appeals=AppealRules(window=timedelta(days=31)))


def _member(services: Services, code: str) -> Any:
    with Session(services.engine, expire_on_commit=False) as s:
        m = member_by_code(s, code)
        assert m is not None
        s.expunge(m)
        return m


def _appeal(services: Services, code: str, metric: str, period: str | None, category: str, evidence: list[str],
            outcome: str = "approve", claimed: D | None = None, value: D | None = None) -> None:
    """File and decide (admin1) an appeal; its value now is the metric's actual /mykpi why shows."""
    member = _member(services, code)
    shown = explain(services, member, metric, period, NOW).metric(metric).actual
    filed = file_appeal(services, member, metric, period, category, "numbers wrong", evidence, NOW, claimed)
    assert filed.appeal.value_now == shown, (code, metric)
    decide(services, _member(services, "admin1"), filed.appeal.id or 0, outcome, value, None, NOW)


def _sheets(services: Services) -> dict[str, dict[str, dict[str, Any]]]:
    book = load_workbook(io.BytesIO(export(services, None, 2, NOW).content))
    out = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        out[sheet.title] = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    return out


def _num(value: D | None) -> float | None:
    return None if value is None else float(value)


def _same(cell: float | None, value: D | None) -> bool:
    """A spreadsheet number (15 significant digits) is the Decimal."""
    return (cell is None) == (value is None) and (value is None or abs(D(str(cell)) - value) <= abs(value) * D("1e-12"))


def _position(rows: list[tuple[str, str, D | None, str | None]], name: str) -> tuple[int, int]:
    scores = [s for _, _, s, _ in rows if s is not None]
    mine = next(s for n, _, s, _ in rows if n == name)
    assert mine is not None
    return 1 + sum(1 for s in scores if s > mine), len(scores)


def _largest_orders(services: Services, code: str) -> tuple[list[str], dict[str, int]]:
    """host1's November orders (USD, the reporting currency: no conversion) straight from the store: the 5 largest
    counted (paid in the month, by now), not cancelled; and the counts the trail gives."""
    with Session(services.engine) as s:
        member = member_by_code(s, code)
        assert member is not None
        nov = month_window(2026, 11, "America/Los_Angeles")
        orders = s.execute(select(Order).where(Order.member_id == member.id, Order.paid_at >= nov.start,
                                               Order.paid_at < nov.end, Order.paid_at <= NOW)).scalars().all()
        kept = [o for o in orders if o.cancelled_at is None or o.cancelled_at > NOW]
        refunds = s.execute(select(Refund).where(Refund.order_id.in_([o.id for o in kept]),  # type: ignore[attr-defined]
                                                 Refund.status == "completed", Refund.completed_at <= NOW)).all()
        top = sorted(kept, key=lambda o: (-o.merchandise_minor, o.paid_at))[:5]
        return [o.platform_order_id for o in top], {"orders": len(kept), "cancelled": len(orders) - len(kept),
                                                   "refunds": len(refunds)}


def _check(services: Services) -> None:
    sheets = _sheets(services)
    assert set(sheets) == {"2026-11", "2026-10", "About"}
    with Session(services.engine) as s:
        frozen = {f.member_id: f for f in final_scores(s, "2026-10")}
    october_scores: dict[str, D | None] = {}
    for code in CODES:
        member = _member(services, code)
        # November, open: /mykpi, /mykpi why, /rank, the export's live sheet
        mine = my_kpi(services, member, PeriodKind.MONTH, NOW)
        card = mine.score.scorecard
        assert card is not None
        why = explain(services, member, None, None, NOW)
        row = sheets["2026-11"][code]
        assert (why.score, why.grade, why.period) == (card.score, card.grade, "2026-11"), code
        assert (_num(card.score), row["grade"]) == (row["score"], card.grade), code
        position = _position(ranking(services, member, PeriodKind.MONTH, NOW).rows, member.name)
        assert mine.rank == position == (row["rank"], row["rank of"]), code
        for r, t in zip(card.results, why.metrics, strict=True):
            assert (t.key, t.actual, t.target, t.achievement) == (r.metric.key, r.actual, r.target, r.achievement)
            assert _same(row[f"{t.key} actual"], r.actual) and _same(row[f"{t.key} achievement"], r.achievement), \
                (code, t.key)
        # the commission estimate measures the card's month: net GMV in the reporting currency (USD plans)
        with Session(services.engine) as s:
            est = estimate(s, Inputs.load(s, services.rules, NOW), member, 2026, 11)
        if est is not None and est.plan.basis.value == "net_gmv" and "net_gmv" in [r.metric.key for r in
                                                                                   card.results]:
            assert est.basis == card.result("net_gmv").actual, code
        # October, closed: /mykpi why of the previous month, final_score, the export's frozen sheet, the payout
        old = explain(services, member, None, "2026-10", NOW)
        final = frozen[member.id]
        row = sheets["2026-10"][code]
        october_scores[code] = old.score
        assert (final.score, final.grade) == (old.score, old.grade), code
        assert (row["score"], row["grade"], row["rank"], row["rank of"]) == (
            _num(final.score), final.grade, final.rank, final.rank_of), code
        for t, f in zip(old.metrics, final.metrics, strict=True):
            assert (f["key"], f["actual"], f["target"], f["achievement"]) == (
                t.key, None if t.actual is None else str(t.actual), None if t.target is None else str(t.target),
                None if t.achievement is None else str(t.achievement)), code
            assert f["points"] == (None if t.points is None else str(t.points.quantize(D("0.01")))), (code, t.key)
            assert _same(row[f"{t.key} actual"], t.actual), (code, t.key)
        with Session(services.engine) as s:
            est = estimate(s, Inputs.load(s, services.rules, NOW), member, 2026, 10)
            paid = payout_for(s, member.id, "2026-10")
            corrections = corrections_for(s, member.id, "2026-10")
        assert est is not None and paid is not None
        # what was paid stays; an appeal's difference is a correction beside it (services.month_close.refinalise)
        basis = corrections[-1].basis_amount if corrections else paid.basis_amount
        corrected = sum(c.amount_minor for c in corrections)
        assert (basis, paid.earned_minor + corrected) == (
            est.basis, to_minor(est.statement.earned, est.plan.currency)), code
        assert (row["commission earned"], row["commission correction"]) == (
            _num(D(paid.earned_minor) / 10 ** 2), _num(D(corrected) / 10 ** 2)), code
    # October's ranks: each team's frozen scores ranked as /rank ranks them
    for code in CODES:
        team = LIVE_US if code in LIVE_US else ("host2", "lead2")
        scores = [october_scores[c] for c in team]
        mine = october_scores[code]
        assert mine is not None
        final = frozen[_member(services, code).id]
        assert (final.rank, final.rank_of) == (1 + sum(1 for x in scores if x is not None and x > mine),
                                               len(scores)), code


def test_every_view_agrees_after_each_kind_of_appeal(tmp_path: Path) -> None:
    engine = seeded_demo(tmp_path / "kpibot.db")
    services = _services(engine)
    assert close(services, 2026, 10, NOW, "cli:tester").scores == 8
    _check(services)
    # the why trail's largest orders and counts are the metric's orders: counted, not cancelled, refunds by now
    top, counts = _largest_orders(services, "host1")
    trail = explain(services, _member(services, "host1"), "net_gmv", None, NOW).metric("net_gmv")
    with Session(engine) as s:
        refs = {o.id: o.platform_order_id for o in s.execute(select(Order)).scalars()}
    assert [refs[i.fact_id or 0] for i in trail.largest] == [i.ref for i in trail.largest] == top
    assert dict(trail.counts) == counts
    before = my_kpi(services, _member(services, "host1"), PeriodKind.MONTH, NOW).score.scorecard
    assert before is not None
    _appeal(services, "host1", "net_gmv", None, "other", [],
            claimed=(before.result("net_gmv").actual or D(0)) + D("1234.56"))
    with Session(engine) as s:
        host3 = member_by_code(s, "host3")
        assert host3 is not None
        nov = month_window(2026, 11, "America/Los_Angeles")
        refunded = s.execute(select(Order.platform_order_id).join(Refund, Refund.order_id == Order.id)
                             .where(Order.member_id == host3.id, Order.paid_at >= nov.start,
                                    Refund.status == "completed").order_by(Order.id)).scalars().first()
        oct_ = month_window(2026, 10, "America/Los_Angeles")
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        october_order = s.execute(select(Order.platform_order_id).where(
            Order.member_id == host1.id, Order.paid_at >= oct_.start, Order.paid_at < oct_.end,
            Order.cancelled_at.is_(None)).order_by(Order.merchandise_minor.desc())).scalars().first()  # type: ignore[union-attr,attr-defined]
    assert refunded is not None and october_order is not None
    _appeal(services, "host3", "net_gmv", None, "refund", [refunded])
    _appeal(services, "host2", "live_sessions", None, "activity", ["live:shopee-id:2026-11-20T19:00/21:00"])
    _appeal(services, "buyer1", "net_gmv", None, "other", [], "partly", value=D("5000.25"))
    _appeal(services, "host3", "net_gmv", "2026-10", "attribution", [october_order])
    _appeal(services, "operator1", "net_gmv", "2026-10", "other", [], "partly", value=D("99999.99"))
    _check(services)
    assert my_kpi(services, _member(services, "buyer1"), PeriodKind.MONTH, NOW).score.scorecard.result(  # type: ignore[union-attr]
        "net_gmv").actual == D("5000.25")
