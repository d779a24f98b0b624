"""/audit's readable lines (commands/audit_lines.py) and the one clock every audit row is stamped by
(storage.audit.acting_as): a store set up with kpibot's own commands, the command line's clock pinned by KPIBOT_NOW
and the chat's by the dispatcher's clock, as `kpibot run` sets both from the same environment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.cli import main
from bot.dispatch import Dispatcher
from cards.chart_cache import ChartCache
from cards.model import Table
from commands.audit_lines import CHANGE_SHOWN, about, change_line
from scoring.rules import Rules
from services.audit_log import AuditNames, AuditRow
from services.container import Services
from storage.audit import acting_as, audit_now
from storage.audit_read import read_audit
from tests.test_commands import say

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _row(action: str, entity: str, entity_id: str | None, details: dict[str, object]) -> AuditRow:
    return AuditRow(1, AT, "lead1", action, entity, entity_id, details)


NAMES = AuditNames(members={1: "lily", 2: "lead1", 3: "mgr1"}, teams={4: "live-us", 5: "live-id"}, shops={7: "tts-us"})


def test_acting_as_clock_stamps_rows_and_is_inherited() -> None:
    with acting_as("cli:ana", lambda: AT):
        assert audit_now() == AT
        with acting_as("lead1"):   # a nested actor without a clock keeps the entry point's
            assert audit_now() == AT
    assert audit_now() != AT   # outside every entry point: the real time


@pytest.mark.parametrize(("row", "about_", "line"), [
    (_row("target.set", "target", "member:1", {"period": "2026-11", "metric": "net_gmv", "value": "1200.00",
                                              "before": "1000.00"}),
     "lily", "lily net_gmv 2026-11: 1,000 → 1,200"),
    (_row("target.force", "target", "team:4", {"period": "2026-10", "metric": "net_gmv", "value": "5000.50",
                                               "before": None, "settled": "paid"}),
     "live-us", "live-us net_gmv 2026-10: — → 5,000.5 (--force, paid)"),
    (_row("baseline.set", "target", "team:5", {"country": "ID", "period": "2026-11", "metric": "net_gmv",
                                               "value": "300"}),
     "live-id", "live-id ID net_gmv 2026-11: 300"),
    (_row("member.change", "member", "lily", {"before": {"role": "host", "team_id": 4},
                                             "after": {"role": "lead", "team_id": 5}}),
     "lily", "role host → team lead; team live-us → live-id"),
    (_row("member.create", "member", "lily", {"before": None, "after": {
        "role": "host", "team_id": 4, "trial_until": None, "finance": False, "active": True}, "file": "m.csv"}),
     "lily", "role host; team live-us"),
    (_row("appeal.approve", "appeal", "6", {"before": {"status": "open"}, "after": {
        "status": "approved", "member_id": 1, "metric": "net_gmv", "decided_value": "1400.00"}, "note": None}),
     "#6", "#6 lily Net GMV: approved, 1,400"),
    (_row("appeal.reject", "appeal", "7", {"before": {"status": "open"}, "after": {
        "status": "rejected", "member_id": 1, "metric": "orders", "decided_value": None}, "note": "no proof"}),
     "#7", "#7 lily Orders: rejected; no proof"),
    (_row("appeal.file", "appeal", "8", {"after": {"status": "open", "member_id": 1, "metric": "net_gmv",
                                                   "value_claimed": "1500"}, "approver": "lead1"}),
     "#8", "#8 lily Net GMV: filed, 1,500"),
    (_row("appeal.escalate", "appeal", "8", {"before": {"status": "open"}, "after": {
        "status": "open", "member_id": 1, "metric": "net_gmv", "approver_member_id": 3, "level": 2}}),
     "#8", "#8 lily Net GMV: → mgr1 (2)"),
    (_row("appeal.exclude_order", "appeal_adjustment", "11", {
        "appeal": 6, "member": 1, "period": "2026-11", "before": {"order": "A1", "excluded": False},
        "after": {"order": "A1", "excluded": True}}),
     "#6", "#6 lily 2026-11 exclude_order: excluded false → true"),
    (_row("fx.store", "fx_rate", "manual", {"source": "manual", "file": None, "added": 0, "changed": 1,
                                            "unchanged": 0, "more": 2, "rates": [
        {"day": "2026-10-15", "pair": "GBP/USD", "before": "1.27", "after": "2.0"}]}),
     "manual", "GBP/USD 2026-10-15: 1.27 → 2.0; +2 more"),
    (_row("sync.run", "shop", "7", {"resources": {"orders": {"new": 8, "updated": 1, "pending": 0},
                                                  "returns": {"new": 0, "updated": 0, "pending": 3}},
                                    "failed": ["ads"]}),
     "tts-us", "orders 8 new, 1 updated; returns 3 pending; failed: ads"),
    (_row("org.settings", "organisation", "default", {"before": {"timezone": "UTC"},
                                                      "after": {"timezone": "Asia/Shanghai"}}),
     "default", "timezone UTC → Asia/Shanghai"),
    (_row("import.members", "import", "m.csv", {"rows": 2, "created": 2, "updated": 0}),
     "m.csv", "rows=2; created=2; updated=0"),
    (_row("target.set", "target", "member:99", {"period": "2026-11", "metric": "net_gmv", "value": "1"}),
     "member:99", "member:99 net_gmv 2026-11: 1"),   # a member no longer stored: the id stays
    (_row("target.set", "target", "member:1", {"period": "2026-11", "metric": "refund_rate", "value": "0.08",
                                              "before": "0.1"}),
     "lily", "lily refund_rate 2026-11: 10.00% → 8.00%"),   # a ratio metric's target as a percentage
    (_row("final_score.refinalise", "final_score", "2026-10:lily", {
        "period": "2026-10", "member": "lily", "members": ["lily", "eq"],
        "before": {"eq": {"score": "33.0", "grade": "D", "rank": 2, "rank_of": 3},
                   "lily": {"score": "53.0", "grade": "C", "rank": 1, "rank_of": 3},
                   "lead1": {"score": None, "grade": None, "rank": None, "rank_of": None}},
        "after": {"eq": {"score": "40.0", "grade": "D", "rank": 1, "rank_of": 3},
                  "lily": {"score": "33.0", "grade": "D", "rank": 2, "rank_of": 3},
                  "lead1": {"score": None, "grade": None, "rank": None, "rank_of": None}}}),
     "2026-10:lily", "2026-10 lily: score 53.0 → 33.0, rank 1 → 2; eq: score 33.0 → 40.0, rank 2 → 1"),
    (_row("commission.close", "commission_payout", "lily:2026-10", {
        "plan": "hosts", "currency": "USD", "basis": "1300.00", "earned_minor": 3800, "clawback_minor": 0,
        "paid_minor": 3800, "clawbacks_taken": []}),
     "lily:2026-10", "hosts: earned 38.00 USD, paid 38.00 USD"),
    (_row("commission.close", "commission_payout", "lily:2026-10", {
        "plan": "hosts", "currency": "JPY", "basis": "9000", "earned_minor": 3800, "clawback_minor": 500,
        "paid_minor": 3300, "clawbacks_taken": []}),
     "lily:2026-10", "hosts: earned 3,800 JPY, clawback 500 JPY, paid 3,300 JPY"),   # JPY has no minor unit
    (_row("commission_correction.add", "commission_correction", "2026-10:lily", {
        "period": "2026-10", "member": "lily", "appeal": 8, "currency": "USD", "basis_paid": "1300.00",
        "basis_now": "900.00", "earned_before_minor": 3800, "earned_after_minor": 1800, "correction_minor": -2000,
        "members": ["lily"]}),
     "2026-10:lily", "2026-10 lily #8: earned 38.00 USD → 18.00 USD (-20.00 USD)"),
    (_row("import.sales", "import", "s.csv", {"currency": "USD", "total_minor": 123456}),
     "s.csv", "currency=USD; total=1,234.56 USD"),   # any other row's minor units with its currency
])
def test_each_family_in_one_readable_line(row: AuditRow, about_: str, line: str) -> None:
    assert (about(row, NAMES), change_line(row, NAMES, "en")) == (about_, line)


def test_lines_are_translated_and_shortened() -> None:
    appeal = _row("appeal.partly", "appeal", "6", {"after": {"status": "partly_approved", "member_id": 1,
                                                             "metric": "net_gmv", "decided_value": "1300"}})
    assert change_line(appeal, NAMES, "zh") == "#6 lily 实际GMV: 部分批准, 1,300"
    assert change_line(appeal, NAMES, "id") == "#6 lily GMV bersih: disetujui sebagian, 1,300"
    override = _row("appeal.override", "appeal_adjustment", "12", {
        "appeal": 6, "member": "lily", "period": "2026-11", "before": {"metric": "net_gmv", "value": "11225.66"},
        "after": {"metric": "net_gmv", "value": "5200"}})
    assert change_line(override, NAMES, "zh") == "#6 lily 2026-11 override: 数值 11,225.66 → 5,200"
    correction = _row("commission_correction.add", "commission_correction", "2026-10:lily", {
        "period": "2026-10", "member": "lily", "appeal": None, "currency": "USD", "earned_before_minor": 3800,
        "earned_after_minor": 4300, "correction_minor": 500})
    assert change_line(correction, NAMES, "zh") == "2026-10 lily: 应得 38.00 USD → 43.00 USD (+5.00 USD)"
    moved = _row("final_score.refinalise", "final_score", "2026-10:lily", {
        "period": "2026-10", "member": "lily", "before": {"lily": {"score": "53.0", "rank": 1}},
        "after": {"lily": {"score": "60.0", "rank": 1}}})
    assert change_line(moved, NAMES, "id") == "2026-10 lily: skor 53.0 → 60.0"
    long = change_line(_row("import.orders", "shop", "x", {"note": "y" * 500}), NAMES, "en")
    assert (len(long), long[-1]) == (CHANGE_SHOWN, "…")
    odd = _row("member.change", "member", "lily", {"before": "?", "after": ["?"]})   # a shape no writer makes
    assert change_line(odd, NAMES, "en") == '? → ["?"]'


def test_cli_and_chat_rows_share_one_clock_and_read_as_codes(engine: Engine, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty store set up at the command line (KPIBOT_NOW 11:00, 12:10) and a target changed in chat at 12:05
    (the dispatcher's clock): newest first is 12:10, 12:05, 11:00, on SQLite and PostgreSQL. Before, the CLI's rows
    carried the real date while chat rows carried the pinned one."""
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    monkeypatch.setenv("KPIBOT_ACTOR", "ana")
    (tmp_path / "m.csv").write_text("member,name,role,team,feishu_open_id\nlily,Lily,host,live-us,ou_lily\n"
                                    "lead1,Lee,lead,live-us,ou_lead1\nadm,Ada,admin,,ou_adm\n", encoding="utf-8")
    (tmp_path / "t.csv").write_text("period,member,metric,value\n2026-11,lily,net_gmv,1000\n", encoding="utf-8")

    def kpibot(now: str, *args: str) -> None:
        monkeypatch.setenv("KPIBOT_NOW", now)
        assert main(["--config", str(config), *args]) == 0
        capsys.readouterr()

    kpibot("2026-11-22T11:00:00+00:00", "org", "init", "--name", "Acme", "--timezone", "UTC")
    kpibot("2026-11-22T11:00:00+00:00", "teams", "add", "live-us", "--name", "Live US")
    kpibot("2026-11-22T11:00:00+00:00", "members", "import", str(tmp_path / "m.csv"))
    kpibot("2026-11-22T11:00:00+00:00", "teams", "set", "live-us", "--lead", "lead1")
    kpibot("2026-11-22T11:00:00+00:00", "targets", "import", str(tmp_path / "t.csv"))
    chat = Dispatcher(Services(engine, Rules(), "UTC", "en", ChartCache()),
                      clock=lambda: datetime(2026, 11, 22, 12, 5, tzinfo=UTC))
    say(chat, "ou_lead1", "/target set lily net_gmv 1200 2026-11", "feishu")
    kpibot("2026-11-22T12:10:00+00:00", "members", "finance", "lily", "on")

    with Session(engine) as s:
        page = read_audit(s, what="target")
        assert [(r.at, r.actor, r.action) for r in read_audit(s, who="lily").rows[:3]] == [
            (datetime(2026, 11, 22, 12, 10, tzinfo=UTC), "cli:ana", "member.change"),
            (datetime(2026, 11, 22, 12, 5, tzinfo=UTC), "lead1", "target.set"),
            (datetime(2026, 11, 22, 11, 0, tzinfo=UTC), "cli:ana", "target.set")]
    assert page.total == 2
    card = say(chat, "ou_adm", "/audit lily", "feishu")
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert table.headers[0] == "When (UTC)"   # the times are in the reader's zone, named
    rows = table.rows
    assert rows[:3] == (
        ("2026-11-22 12:10", "cli:ana", "member.change", "lily", "finance no → yes"),
        ("2026-11-22 12:05", "lead1", "target.set", "lily", "lily net_gmv 2026-11: 1,000 → 1,200"),
        ("2026-11-22 11:00", "cli:ana", "target.set", "lily", "lily net_gmv 2026-11: — → 1,000"))
