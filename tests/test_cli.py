"""The `kpibot` command as a newcomer runs it, in an empty directory: `main(argv)` in this process, as the
installed script calls it, and a few real subprocesses (the first chat that seeds the demo, a bad config and a
store set up from scratch) for what only a new process shows: the entry point, exit codes, nothing on
stderr."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from storage.migrate import head_revision
from tests.conftest import checkout_env, seeded_by_cli

NOW = "2026-11-22T12:00:00+00:00"


def kpibot(cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    """`kpibot ARGS` as a real process in `cwd`."""
    full_env = checkout_env(KPIBOT_NOW=NOW, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


class InProcess:
    """`kpibot ARGS` as `main(argv)` in this process, in a working directory, with the clock at NOW; answers
    as a finished process would (returncode, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys, self.monkeypatch = capsys, monkeypatch
        monkeypatch.setenv("KPIBOT_NOW", NOW)

    def __call__(self, cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        self.monkeypatch.chdir(cwd)
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:   # argparse refusing the arguments
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(["kpibot", *args], code, out, err)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    return InProcess(capsys, monkeypatch)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory; the first `chat` seeds the demo into ./kpibot.db there."""
    return tmp_path_factory.mktemp("newcomer")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_chat_mykpi_in_an_empty_directory(workdir: Path) -> None:
    run = kpibot(workdir, "chat", "--as", "host1", "/mykpi")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert out.startswith("Lin Xiaoyu 林小雨 · This month KPI\n")
    for word in ("Score", "Grade", "Rank in team", "Net GMV", "Achievement", "Pace", " USD / "):
        assert word in out, word
    chart_lines = [line for line in out.splitlines() if line.startswith("chart: ")]
    assert len(chart_lines) == 1
    path = Path(chart_lines[0].removeprefix("chart: "))
    assert path.is_absolute() and path.parent == workdir / "kpibot-charts"
    assert png_size(path) == (720, 400)
    assert (workdir / "kpibot.db").exists()


def test_chat_digest_prints_the_leads_digest_and_writes_its_chart(workdir: Path, cli: InProcess) -> None:
    run = cli(workdir, "chat", "--as", "lead1", "/digest")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    out = run.stdout
    assert out.startswith("直播一组 Live US/UK · 日报 2026-11-2")       # lead1 reads Chinese; the team's local day
    for word in ("团队实际GMV", "昨日", "团队（共享）", "热销商品", "达人贡献"):   # the team-scoped roles' one line
        assert word in out, word
    path = Path(next(line for line in out.splitlines() if line.startswith("chart: ")).removeprefix("chart: "))
    assert png_size(path) == (720, 599)     # three bars: the team line (four team-scoped members) and two hosts
    host = cli(workdir, "chat", "--as", "host1", "/digest")
    assert "/digest is for" in host.stdout and "lead" in host.stdout   # a host may not ask for it


def test_kpi_json_agrees_with_the_card(workdir: Path, cli: InProcess) -> None:
    card = cli(workdir, "chat", "--as", "host1", "/mykpi").stdout
    score_line = next(line for line in card.splitlines() if line.startswith("Score"))
    run = cli(workdir, "kpi", "--member", "host1", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["member"], report["period"], report["template"]) == ("host1", "2026-11", "host")
    assert score_line.split()[-1] == report["score"]
    net = next(m for m in report["metrics"] if m["key"] == "net_gmv")
    assert set(net["actual"]) == {"amount", "currency"} and net["actual"]["currency"] == "USD"
    assert f"{net['actual']['amount'].replace(',', '')}" in card.replace(",", "")
    assert [m["key"] for m in report["metrics"]] == ["net_gmv", "gmv_per_live", "avg_watch_time",
                                                     "interaction_rate", "refund_rate"]
    assert report["counting"] == {"orders_at": "paid", "refunds_netted": True}   # the card's footer, for scripts
    assert "· Orders counted at payment · refunds netted" in card.splitlines()
    text = cli(workdir, "kpi", "--member", "host1", "--period", "2026-10")
    assert text.returncode == 0 and text.stdout.splitlines()[0] == "Lin Xiaoyu 林小雨 (host1, host) · 2026-10"
    assert text.stdout.splitlines()[-1] == "Orders counted at payment · refunds netted"


def test_unbound_and_bad_arguments(workdir: Path, cli: InProcess) -> None:
    nobody = cli(workdir, "chat", "--as", "nobody", "/mykpi")
    assert nobody.returncode == 0
    assert nobody.stdout.startswith("You're not linked to kpibot yet\n")
    assert "Your console id is nobody." in nobody.stdout
    missing = cli(workdir, "chat", "/mykpi")
    assert missing.returncode == 2 and "the following arguments are required: --as" in missing.stderr
    for silent in ("", "   "):   # a message with no words, which the bot leaves unanswered
        empty = cli(workdir, "chat", "--as", "host1", silent)
        assert (empty.returncode, empty.stdout, empty.stderr) == (
            2, "", 'kpibot: chat needs what the member types, e.g. kpibot chat --as host1 "/mykpi week"\n')
    for no_one in ("", " \t"):   # an empty --as would talk as nobody: "Your console id is ."
        unnamed = cli(workdir, "chat", "--as", no_one, "/mykpi")
        assert (unnamed.returncode, unnamed.stdout, unnamed.stderr) == (
            2, "", 'kpibot: chat needs the member id to talk as, e.g. kpibot chat --as host1 "/mykpi week"\n')
    for bad in ("2026-13", "9999-12", "26-11"):
        period = cli(workdir, "kpi", "--member", "host1", "--period", bad)
        assert (period.returncode, period.stderr) == (2, f"kpibot: period must look like YYYY-MM (1970-9998), "
                                                         f"got '{bad}'\n")
    ghost = cli(workdir, "kpi", "--member", "ghost")
    assert (ghost.returncode, ghost.stderr) == (2, "kpibot: no member 'ghost' (see: kpibot members list)\n")


@pytest.mark.parametrize(("url", "shown", "error"), [
    ("mysql://kpibot:s3cret@db.example/kpibot", "mysql://kpibot:***@db.example/kpibot",
     "ModuleNotFoundError: No module named 'MySQLdb'"),
    ("postgresql+psycopg://kpibot:s3cret@127.0.0.1:1/kpibot", "postgresql+psycopg://kpibot:***@127.0.0.1:1/kpibot",
     "OperationalError: (psycopg.OperationalError) connection failed: "),
])
def test_a_store_that_cannot_be_opened_is_one_line_without_its_password(tmp_path: Path, cli: InProcess, url: str,
                                                                          shown: str, error: str) -> None:
    (tmp_path / "config.toml").write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    run = cli(tmp_path, "members", "list")
    assert run.returncode == 1
    assert run.stderr.startswith(f"kpibot: cannot open the store at {shown}: {error}")
    assert run.stderr.count("\n") == 1 and "s3cret" not in run.stderr and run.stdout == ""


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[org]\ncount_orders_at = "delivered"\n', encoding="utf-8")
    run = kpibot(tmp_path, "--config", "bad.toml", "chat", "--as", "host1", "/mykpi")
    assert run.returncode == 2
    assert run.stderr == ('kpibot: bad.toml: [org] count_orders_at: must be "paid" or "shipped", '
                          "got 'delivered'\n")
    assert run.stdout == ""
    assert not (tmp_path / "kpibot.db").exists()


def test_db_upgrade_members_and_run(tmp_path: Path, cli: InProcess) -> None:
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite:///store.db"\n', encoding="utf-8")
    head = head_revision()   # the newest migration's revision, e.g. "0006"
    assert len(head) == 4 and head.isdigit()
    assert kpibot(tmp_path, "db", "upgrade").stdout == f"schema created -> {head}\n"
    assert cli(tmp_path, "db", "upgrade").stdout == f"schema is current ({head})\n"
    assert cli(tmp_path, "seed-demo").stdout == "seeded the demo organisation\n"
    assert cli(tmp_path, "seed-demo").stdout == "the demo organisation is already in the store\n"
    bound = cli(tmp_path, "members", "bind", "host1", "--feishu", "ou_real_1")
    assert bound.stdout == "bound host1: feishu=ou_real_1 dingtalk=host1\n"
    taken = cli(tmp_path, "members", "bind", "host2", "--feishu", "ou_real_1")
    assert (taken.returncode, taken.stderr) == (2, "kpibot: feishu id ou_real_1 is already bound to host1\n")
    # any other platform, by the name its adapter uses: nothing below bot/ knows it
    other = cli(tmp_path, "members", "bind", "host2", "--id", "WeCom:zhang.wei")
    assert other.stdout == "bound host2: feishu=ou_host2 dingtalk=host2 wecom=zhang.wei\n"
    bad = cli(tmp_path, "members", "bind", "host2", "--id", "zhang.wei")
    assert (bad.returncode, bad.stderr) == (2, "kpibot: --id wants PLATFORM:ID, e.g. wecom:zhangsan; got 'zhang.wei'\n")
    console = cli(tmp_path, "members", "bind", "host2", "--id", "console:foo")
    assert (console.returncode, console.stderr) == (2, "kpibot: the console needs no binding: its ids are member "
                                                       "codes\n")
    long = cli(tmp_path, "members", "bind", "host2", "--id", "wecom:" + "x" * 65)
    assert (long.returncode, long.stderr) == (2, "kpibot: a wecom id has 1 to 64 characters; got 65\n")
    listed = cli(tmp_path, "members", "list").stdout.splitlines()
    assert len(listed) == 10
    assert "feishu=ou_real_1" in next(line for line in listed if line.startswith("host1 "))


def test_a_store_from_a_newer_kpibot_is_one_line_and_exit_2(tmp_path: Path, cli: InProcess) -> None:
    """A schema this kpibot does not know (a newer kpibot upgraded the store) is refused in one line by every
    command that would upgrade or rebuild it, not with alembic's traceback, and the store is left as it is."""
    import sqlite3

    assert cli(tmp_path, "db", "upgrade").returncode == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "kpibot.db")) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    told = (f"kpibot: the store has schema version 9999, which this kpibot does not know (its newest is "
            f"{head_revision()}): it comes from a newer kpibot; upgrade kpibot first\n")
    for command in (("db", "upgrade"), ("db", "rebuild-aggregates"), ("org", "show")):
        run = cli(tmp_path, *command)
        assert (run.returncode, run.stdout, run.stderr) == (2, "", told), command
    with contextlib.closing(sqlite3.connect(tmp_path / "kpibot.db")) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("9999",)]


def test_demo_prompt_switches_users(workdir: Path, cli: InProcess) -> None:
    run = cli(workdir, "demo", stdin="/mykpi week\n:as lead1\n/team\n/nonsense\n:quit\n")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "kpibot console — you are host1." in out
    assert "Lin Xiaoyu 林小雨 · This week KPI" in out
    assert "you are now lead1" in out
    assert "直播一组 Live US/UK · 2026-11" in out
    assert "我不认识 /nonsense。" in out


def test_seed_demo_refuses_a_store_with_a_real_organisation(tmp_path: Path, cli: InProcess) -> None:
    import sqlite3

    assert cli(tmp_path, "db", "upgrade").returncode == 0
    with sqlite3.connect(tmp_path / "kpibot.db") as db:
        db.execute("INSERT INTO organisation (code, name, created_at) VALUES ('acme', 'Acme', '2026-01-01 00:00:00')")
    run = cli(tmp_path, "seed-demo")
    assert (run.returncode, run.stderr) == (2, "kpibot: the store at sqlite:///kpibot.db already holds an "
                                               "organisation; the demo goes only into an empty store\n")


def test_a_chat_subscribed_twice_is_told_so_and_one_unsubscribed_can_be_subscribed_again(tmp_path: Path,
                                                                                      cli: InProcess) -> None:
    """From the new-user trial: the second subscribe printed a traceback, and a chat once unsubscribed could never
    be subscribed again (its row kept the unique key)."""
    assert cli(tmp_path, "seed-demo").returncode == 0
    sub = ("digest", "subscribe", "live-us", "--platform", "feishu", "--chat", "oc_leads", "--tz", "Asia/Shanghai")
    first = cli(tmp_path, *sub, "--time", "09:00")
    assert first.returncode == 0 and first.stdout.startswith("subscription ")
    number = first.stdout.split()[1].rstrip(":")
    again = cli(tmp_path, *sub, "--time", "10:00")
    assert (again.returncode, again.stdout, again.stderr) == (
        2, "", "kpibot: feishu chat oc_leads already gets the digest of live-us\n")
    assert cli(tmp_path, "digest", "unsubscribe", number).stdout == f"subscription {number} stopped\n"
    back = cli(tmp_path, *sub, "--time", "10:00", "--lang", "zh", "--no-weekly")
    assert (back.returncode, back.stdout) == (
        0, f"subscription {number}: live-us -> feishu oc_leads at 10:00 Asia/Shanghai (zh)\n")


def test_commission_plan_refuses_bad_tiers_and_rates_above_the_cap(tmp_path: Path, cli: InProcess) -> None:
    seeded_by_cli(tmp_path / "kpibot.db", NOW)   # as `kpibot seed-demo` leaves it (October paid), copied
    assert cli(tmp_path, "seed-demo").stdout == "the demo organisation is already in the store\n"
    plan = ("commission", "plan", "host-new", "--role", "host", "--basis", "net_gmv", "--kind", "tiered",
            "--currency", "USD")
    usage = "use --tier FROM:RATE, e.g. --tier 0:0.02 --tier 20000:0.03 (RATE 0.03 = 3 %)"
    for bad in ("abc", "0:abc", "x:0.02", "0:NaN", "0"):
        run = cli(tmp_path, *plan, "--tier", bad)
        assert (run.returncode, run.stdout, run.stderr) == (2, "", f"kpibot: --tier '{bad}' is not FROM:RATE; "
                                                                   f"{usage}\n")
    above = cli(tmp_path, *plan, "--tier", "0:0.1", "--tier", "1000:2")
    assert (above.returncode, above.stderr) == (2, "kpibot: the plan is not valid: plan host-new: the rate from 1000 "
                                                   "is 2 (200 %); at most 1 (100 %) is allowed ([commission] "
                                                   "max_tier_rate)\n")
    negative = cli(tmp_path, *plan, "--tier", "0:-0.1")
    assert (negative.returncode, negative.stderr) == (2, "kpibot: the plan is not valid: plan host-new: a rate "
                                                         "cannot be negative\n")
    cap = cli(tmp_path, *plan, "--tier", "0:0.1", "--cap", "lots")
    assert (cap.returncode, cap.stderr) == (2, "kpibot: --cap 'lots' is not a number\n")
    # the cap is configurable, at most 100 %
    (tmp_path / "config.toml").write_text("[commission]\nmax_tier_rate = 0.2\n", encoding="utf-8")
    lower = cli(tmp_path, *plan, "--tier", "0:0.25")
    assert (lower.returncode, lower.stderr) == (2, "kpibot: the plan is not valid: plan host-new: the rate from 0 "
                                                   "is 0.25 (25 %); at most 0.2 (20 %) is allowed ([commission] "
                                                   "max_tier_rate)\n")
    ok = cli(tmp_path, *plan, "--tier", "0:0.2")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "plan host-new saved for hosts, in force from 2026-11\n", "")
    # a new customers plan pays money per customer: 2.5 USD a customer is not a share
    per_customer = cli(tmp_path, "commission", "plan", "host-nc", "--role", "host", "--basis", "new_customers",
                       "--kind", "tiered", "--currency", "USD", "--tier", "0:2.5")
    assert (per_customer.returncode, per_customer.stdout) == (0, "plan host-nc saved for hosts, in force from "
                                                                 "2026-11\n")
    (tmp_path / "config.toml").write_text("[commission]\nmax_tier_rate = 2\n", encoding="utf-8")
    wide = cli(tmp_path, *plan, "--tier", "0:0.2")
    assert (wide.returncode, wide.stderr) == (2, "kpibot: config.toml: [commission] max_tier_rate: must be above 0 "
                                                 "and at most 1, got 2\n")


def test_commission_close_refuses_a_month_not_over_in_every_zone(tmp_path: Path, cli: InProcess) -> None:
    seeded_by_cli(tmp_path / "kpibot.db", NOW)   # as `kpibot seed-demo` leaves it (October paid), copied
    assert cli(tmp_path, "seed-demo").stdout == "the demo organisation is already in the store\n"
    for month in ("2026-11", "2027-03"):
        run = cli(tmp_path, "commission", "close", month)
        assert (run.returncode, run.stdout, run.stderr) == (
            # live-us (Los Angeles) ends last; buyer1 is its first member (a member's month is their team's)
            2, "", f"kpibot: {month} is not over yet for buyer1: it ends {month[:5]}"
                   f"{'12-01' if month == '2026-11' else '04-01'} 00:00 America/Los_Angeles; a month is closed "
                   "once it is over in every member's team's zone, nothing closed\n")
    # October is over everywhere; the demo paid it on November 2nd
    done = cli(tmp_path, "commission", "close", "2026-10")
    assert (done.returncode, done.stdout, done.stderr) == (0, "2026-10: 0 payouts recorded\n", "")


def test_commission_plans_take_effect_from_a_month_a_paid_month_keeps_its_plan(tmp_path: Path, cli: InProcess) -> None:
    seeded_by_cli(tmp_path / "kpibot.db", NOW)   # as `kpibot seed-demo` leaves it (October paid), copied
    assert cli(tmp_path, "seed-demo").stdout == "the demo organisation is already in the store\n"
    plan = ("commission", "plan", "host-2027", "--role", "host", "--basis", "net_gmv", "--kind", "tiered",
            "--currency", "USD", "--tier", "0:0.05")
    paid = cli(tmp_path, *plan, "--from", "2026-10")     # the demo paid October on November 2nd
    assert (paid.returncode, paid.stderr) == (2, "kpibot: --from 2026-10: 2026-10 is already paid and keeps the plan "
                                                 "it was paid under; a new plan can take effect from 2026-11\n")
    bad = cli(tmp_path, *plan, "--from", "2027-13")
    assert (bad.returncode, bad.stderr) == (2, "kpibot: --from: period must look like YYYY-MM (1970-9998), got "
                                               "'2027-13'\n")
    later = cli(tmp_path, *plan, "--from", "2027-01")
    assert (later.returncode, later.stdout) == (0, "plan host-2027 saved for hosts, in force from 2027-01\n")
    hosts = [line.split() for line in cli(tmp_path, "commission", "plans").stdout.splitlines()
             if line.split()[1] == "host"]
    assert [row[:7] for row in hosts] == [
        ["host-gmv", "host", "tiered", "net_gmv", "USD", "always", "active"],
        ["host-2027", "host", "tiered", "net_gmv", "USD", "from", "2027-01"]]


def test_targets_import_refuses_settled_months_and_zero_unless_told(tmp_path: Path, cli: InProcess,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    monkeypatch.setenv("KPIBOT_ACTOR", "ana")   # who is at the command line (storage.audit.cli_actor)

    seeded_by_cli(tmp_path / "kpibot.db", NOW)   # as `kpibot seed-demo` leaves it (October paid), copied
    assert cli(tmp_path, "seed-demo").stdout == "the demo organisation is already in the store\n"
    (tmp_path / "t.csv").write_text("period,member,metric,value\n2026-10,host1,net_gmv,1000\n"
                                    "2026-12,host1,net_gmv,0\n2025-01,host2,net_gmv,5\n", encoding="utf-8")
    run = cli(tmp_path, "targets", "import", "t.csv")
    assert (run.returncode, run.stdout, run.stderr) == (2, "", (
        "kpibot: nothing imported: line 2: commission for 2026-10 is already paid, so its targets are settled; add "
        "--force to change them anyway (audited); line 3: a target of 0 takes net_gmv out of the score; add --zero "
        "if that is meant; line 4: 2025-01 is over, so its targets are settled; add --force to change them anyway "
        "(audited)\n"))
    zero_only = cli(tmp_path, "targets", "import", "t.csv", "--zero")
    assert zero_only.returncode == 2 and "line 3" not in zero_only.stderr
    done = cli(tmp_path, "targets", "import", "t.csv", "--force", "--zero")
    assert (done.returncode, done.stdout) == (0, "imported t.csv: 3 targets, 0 country baselines\n")
    with sqlite3.connect(tmp_path / "kpibot.db") as db:
        rows = db.execute("SELECT action, actor, json_extract(details, '$.period'), json_extract(details, '$.settled')"
                          " FROM audit_log WHERE action LIKE 'target.%' ORDER BY id").fetchall()
    assert rows[-3:] == [("target.force", "cli:ana", "2026-10", "paid"), ("target.set", "cli:ana", "2026-12", None),
                         ("target.force", "cli:ana", "2025-01", "over")]


def test_run_with_no_chat_platform_refuses_with_what_to_set_and_exit_2(
        cli: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One misnamed variable in .env leaves no platform configured: `kpibot run` refuses at once (a console
    that exits 0 at EOF would be a restart loop under compose, a cleanly stopped service under systemd)."""
    for name in ("KPIBOT_FEISHU_APP_ID", "KPIBOT_DINGTALK_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KPIBOT_FEISHU_APPID", "cli_misnamed")
    run = cli(tmp_path, "run")
    assert (run.returncode, run.stdout, run.stderr) == (
        2, "", "kpibot: run needs a chat platform: set [feishu] app_id (KPIBOT_FEISHU_APP_ID) or [dingtalk] "
               "client_id (KPIBOT_DINGTALK_CLIENT_ID); the console is kpibot demo\n")
    assert not (tmp_path / "kpibot.db").exists()   # refused before the store


def test_db_rebuild_aggregates_recomputes_the_order_sums_and_refuses_an_old_schema(tmp_path: Path,
                                                                                   cli: InProcess) -> None:
    """The demo's order sums, kept as it was seeded, are what a rebuild from the orders gives, row for row; a store
    whose schema is not current is refused (exit 2, on stderr) and left as it is."""
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite:///store.db"\n', encoding="utf-8")
    assert cli(tmp_path, "seed-demo").stdout == "seeded the demo organisation\n"

    def rows(table: str) -> list[tuple[object, ...]]:
        with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as conn:
            return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)

    kept, kept_products = rows("order_sum"), rows("order_product_sum")
    with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as conn:
        orders = conn.execute("SELECT count(*) FROM shop_order").fetchone()[0]
    rebuilt = cli(tmp_path, "db", "rebuild-aggregates")
    assert rebuilt.returncode == 0
    assert re.fullmatch(rf"order sums rebuilt from {orders:,} orders: {len(kept):,} order_sum rows \(and the hour, "
                        rf"product and shape sums\) in \d+\.\d s\n",
                        rebuilt.stdout), rebuilt.stdout
    assert (rows("order_sum"), rows("order_product_sum")) == (kept, kept_products)
    assert len(kept) > 1000 and len(kept_products) > 1000
    with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '0031'")
    old = cli(tmp_path, "db", "rebuild-aggregates")
    assert (old.returncode, old.stdout, old.stderr) == (
        2, "", "the store's schema is not current: run `kpibot db upgrade` first\n")
    assert rows("order_sum") == kept
