"""The audit trail: who acted on each change (a chat member's code, the CLI's person, a job), its before and after,
and reading it back with /audit (admins; finance: pay changes only) and `kpibot audit --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.cli import main
from cards.model import Note, Table, Text
from cards.render_text import render_text
from scoring.rules import Rules
from services.commission import close_month
from services.scorecards import Inputs
from storage.audit import acting_as, cli_actor, job_actor
from storage.audit_read import read_audit
from storage.models import AuditLog, Member
from storage.queries import member_by_code
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for
from tests.test_commands import say


def test_the_actor_rule() -> None:
    assert cli_actor({"KPIBOT_ACTOR": "ana", "SUDO_USER": "bob"}) == "cli:ana"
    assert cli_actor({"KPIBOT_ACTOR": " ", "SUDO_USER": "bob"}) == "cli:bob"   # kpibot-admin runs through sudo
    assert job_actor("refresh") == "job:refresh"
    # systemd-run passes no environment of its own: deploy/kpibot-admin hands the sudo caller on
    admin = (Path(__file__).parent.parent / "deploy" / "kpibot-admin").read_text(encoding="utf-8")
    assert '    --setenv=KPIBOT_ACTOR="${SUDO_USER:-root}" \\\n' in admin


def _rows(engine: Engine, *actions: str) -> list[tuple[str, str, str | None, dict[str, object]]]:
    with Session(engine) as s:
        return [(a.actor, a.action, a.entity_id, a.details) for a in s.execute(
            select(AuditLog).where(AuditLog.action.in_(actions)).order_by(AuditLog.id)).scalars()]  # type: ignore[attr-defined]


def test_a_target_set_in_chat_names_the_lead_with_before_and_after(demo_copy: Engine) -> None:
    d = dispatcher_for(demo_copy)
    with Session(demo_copy) as s:
        host1 = member_by_code(s, "host1")
        assert host1 is not None
        before = len(_rows(demo_copy, "target.set"))
    say(d, "lead1", "/target set host1 net_gmv 50000 2026-12")
    say(d, "lead1", "/target set host1 net_gmv 55000 2026-12")
    assert _rows(demo_copy, "target.set")[before:] == [
        ("lead1", "target.set", f"member:{host1.id}",
         {"period": "2026-12", "metric": "net_gmv", "value": "50000.00", "before": None}),
        ("lead1", "target.set", f"member:{host1.id}",
         {"period": "2026-12", "metric": "net_gmv", "value": "55000.00", "before": "50000.00"}),
    ]


def _table(card: object) -> Table:
    return next(b for b in card.blocks if isinstance(b, Table))  # type: ignore[attr-defined]


def test_audit_in_chat_admins_all_finance_pay_only_hosts_refused(demo_copy: Engine) -> None:
    d = dispatcher_for(demo_copy)
    with Session(demo_copy) as s:
        with acting_as("cli:ana", lambda: DEMO_NOW):   # October's commission closed at the command line: pay changes
            paid = close_month(s, Inputs.load(s, Rules(), DEMO_NOW), 2026, 10).paid
        s.execute(update(Member).where(Member.code == "host2").values(finance=True))
        s.commit()
        total = s.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    say(d, "lead1", "/target set host1 net_gmv 50000 2026-12")

    refused = say(d, "host1", "/audit")
    assert render_text(refused).splitlines()[-1] == "/audit is for admin and above; you are host."

    admin = say(d, "admin1", "/audit")
    rows = _table(admin).rows
    assert len(rows) == 20
    assert rows[0][1:] == ("lead1", "target.set", "host1", "host1 net_gmv 2026-12: — → 50,000")
    assert isinstance(admin.blocks[-1], Note)
    assert admin.blocks[-1].text == (f"{total + 1 - 20} more not shown: on the command line, kpibot audit (--since, "
                                     "--who, --what, --json).")

    finance = say(d, "host2", "/audit")   # host2 reads Chinese
    assert finance.blocks[0] == Note("仅显示薪酬相关变更（提成方案、结算、发放、申诉裁定）。")
    assert {r[2] for r in _table(finance).rows} == {"commission.close", "commission_plan.save"}
    closes = [r for r in _table(finance).rows if r[2] == "commission.close"]
    assert {r[1] for r in closes} == {"cli:ana"}
    assert len(closes) == min(len(paid), 20)

    # who, what and since in any order
    lead = say(d, "admin1", "/audit target 2026-11-01 lead1")
    assert [r[1:3] for r in _table(lead).rows] == [("lead1", "target.set")]
    none = say(d, "admin1", "/audit fx lead1")
    assert none.blocks == (Text("No changes recorded match."),)


def test_kpibot_audit_json_has_every_field(engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A store set up with kpibot's own commands; the person at the command line is $SUDO_USER (kpibot-admin)."""
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    monkeypatch.delenv("KPIBOT_ACTOR", raising=False)
    monkeypatch.setenv("SUDO_USER", "ana")
    monkeypatch.setenv("KPIBOT_NOW", "2026-11-22T12:00:00+00:00")
    (tmp_path / "m.csv").write_text("member,name,role\nH01,Hana,host\nA01,Ari,admin\n", encoding="utf-8")

    def kpibot(*args: str) -> str:
        capsys.readouterr()
        assert main(["--config", str(config), *args]) == 0
        return capsys.readouterr().out

    kpibot("members", "import", str(tmp_path / "m.csv"))
    kpibot("members", "finance", "H01", "on")
    kpibot("members", "bind", "H01", "--feishu", "ou_h01")
    kpibot("fx", "set", "2026-11-20", "USD", "EUR", "0.92")
    lines = [json.loads(line) for line in kpibot("audit", "--json").splitlines()]
    # stamped by the command line's clock, pinned by KPIBOT_NOW like everything else it writes (storage.audit)
    assert [r.pop("at") for r in lines] == ["2026-11-22T12:00:00+00:00"] * 6
    assert [r.pop("id") for r in lines] == [6, 5, 4, 3, 2, 1]
    assert lines == [
        {"actor": "cli:ana", "action": "fx.store", "entity": "fx_rate", "entity_id": "manual",
         "details": {"source": "manual", "file": None, "added": 1, "changed": 0, "unchanged": 0, "more": 0,
                     "rates": [{"day": "2026-11-20", "pair": "USD/EUR", "before": None, "after": "0.92"}]}},
        {"actor": "cli:ana", "action": "identity.bind", "entity": "member", "entity_id": "H01",
         "details": {"platform": "feishu", "kind": "primary", "before": None, "after": "ou_h01"}},
        {"actor": "cli:ana", "action": "member.change", "entity": "member", "entity_id": "H01",
         "details": {"before": {"finance": False}, "after": {"finance": True}}},
        {"actor": "cli:ana", "action": "import.members", "entity": "import", "entity_id": "m.csv",
         "details": {"rows": 2, "created": 2, "updated": 0}},
        {"actor": "cli:ana", "action": "member.create", "entity": "member", "entity_id": "A01",
         "details": {"before": None, "after": {"role": "admin", "team_id": None, "trial_until": None,
                                               "finance": False, "active": True}, "file": "m.csv"}},
        {"actor": "cli:ana", "action": "member.create", "entity": "member", "entity_id": "H01",
         "details": {"before": None, "after": {"role": "host", "team_id": None, "trial_until": None,
                                               "finance": False, "active": True}, "file": "m.csv"}},
    ]
    table = kpibot("audit", "--who", "H01").splitlines()   # the table reads as /audit does; --json stays raw
    assert [line[20:].split(None, 3)[:2] for line in table[1:]] == [
        ["cli:ana", "identity.bind"], ["cli:ana", "member.change"], ["cli:ana", "member.create"]]
    assert "{" not in "".join(table)
    with Session(engine) as s:
        assert [r.action for r in read_audit(s, who="H01").rows] == [
            "identity.bind", "member.change", "member.create"]
        assert read_audit(s, what="member").total == 4


def test_a_shop_refresh_audits_its_counts_as_the_job(engine: Engine) -> None:
    """A sync run that wrote something: one sync.run row with its counts per resource; a run that changed nothing
    writes none. Under the refresh job (bot.jobs.refresh) the actor is job:refresh."""
    from storage.ingest.sync import sync_shop
    from tests.test_sync_writer import NOW, _shops, _source

    shop, _ = _shops(engine)
    with acting_as(job_actor("refresh")):
        first = sync_shop(engine, shop, _source(), None, NOW)
        sync_shop(engine, shop, _source(), None, NOW)   # nothing new
    assert first.ok
    assert _rows(engine, "sync.run") == [("job:refresh", "sync.run", str(shop), {
        "resources": {"returns": {"new": 0, "updated": 0, "pending": 3},
                      "orders": {"new": 8, "updated": 0, "pending": 0}},
        "failed": []})]


def test_org_settings_that_change_scores_are_audited(engine: Engine, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    monkeypatch.setenv("KPIBOT_ACTOR", "ana")
    assert main(["--config", str(config), "org", "init", "--name", "Acme", "--timezone", "UTC"]) == 0
    assert main(["--config", str(config), "org", "set", "--count-orders-at", "shipped",
                 "--timezone", "Asia/Shanghai"]) == 0
    assert main(["--config", str(config), "org", "set", "--timezone", "Asia/Shanghai"]) == 0   # no change
    assert _rows(engine, "org.settings") == [("cli:ana", "org.settings", "default", {
        "before": {"count_orders_at": "paid", "timezone": "UTC"},
        "after": {"count_orders_at": "shipped", "timezone": "Asia/Shanghai"}})]


def test_team_changes_that_move_scores_or_approvals_are_audited(engine: Engine, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A team's zone, stage and leads decide its members' days, templates and who decides their appeals."""
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    monkeypatch.setenv("KPIBOT_ACTOR", "ana")
    kpibot = ["--config", str(config)]
    assert main([*kpibot, "org", "init", "--name", "Acme", "--timezone", "UTC"]) == 0
    assert main([*kpibot, "teams", "add", "us", "--name", "US"]) == 0
    members = tmp_path / "members.csv"
    members.write_text("member,name,role,team,timezone,locale\nmax,Max,lead,us,UTC,en\nzoe,Zoe,lead,us,UTC,en\n",
                       encoding="utf-8")
    assert main([*kpibot, "members", "import", str(members)]) == 0
    assert main([*kpibot, "teams", "set", "us", "--lead", "max", "--stage", "stable"]) == 0
    assert main([*kpibot, "teams", "set", "us", "--lead", "zoe"]) == 0
    assert main([*kpibot, "teams", "set", "us", "--lead", "zoe"]) == 0   # no change: no row
    assert _rows(engine, "team.change") == [
        ("cli:ana", "team.change", "us", {"before": {"stage": "growth", "leads": []},
                                          "after": {"stage": "stable", "leads": ["max"]}}),
        ("cli:ana", "team.change", "us", {"before": {"leads": ["max"]}, "after": {"leads": ["zoe"]}})]


def test_an_import_is_audited_as_what_the_file_held(engine: Engine, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A live-session export is import.live, an order export import.orders (lives were audited as orders)."""
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    monkeypatch.setenv("KPIBOT_ACTOR", "ana")
    kpibot = ["--config", str(config)]
    assert main([*kpibot, "org", "init", "--name", "Acme", "--timezone", "UTC"]) == 0
    assert main([*kpibot, "shops", "add", "tts-us", "--platform", "file", "--region", "US", "--currency", "USD",
                 "--timezone", "UTC"]) == 0
    lives = tmp_path / "lives.csv"
    lives.write_text("session_id,host,title,started_at,ended_at,currency,gmv,viewers,views,avg_watch_seconds,likes,"
                     "comments,shares,new_followers\nL1,lily.live,Evening,2026-11-20 19:00,2026-11-20 21:00,USD,150.00,"
                     "400,900,52,300,80,10,35\n", encoding="utf-8")
    assert main([*kpibot, "import", str(lives), "--preset", "live_sessions", "--shop", "tts-us"]) == 0
    assert [(a, e, i, d["file"], d["records"]) for a, e, i, d in _rows(engine, "import.live", "import.orders")] == [
        ("cli:ana", "import.live", "tts-us", "lives.csv", 1)]
