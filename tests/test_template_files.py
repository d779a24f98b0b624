"""KPI templates as a file an admin edits: `kpibot templates init` writes the shipped ones, `templates apply`
validates a file whole and stores it as versions from a month, and scoring picks the version in effect."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.periods import month_window
from scoring.rules import Rules
from scoring.shipped_templates import DEFAULT_TEMPLATES
from scoring.templates import band_problems
from services.scorecards import Inputs, score_member
from services.templates import TemplateFileProblems, parse_file, render_file
from storage.demo import seed_demo
from storage.engine import make_engine
from storage.migrate import upgrade
from storage.queries import active_members, member_zone, team_of
from tests.clock import DEMO_NOW
from tests.conftest import dispatcher_for, seeded_demo
from tests.test_cli import InProcess
from tests.test_commands import fields, say, texts


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    return InProcess(capsys, monkeypatch)


def scores(engine: Engine, now: datetime, year: int, month: int) -> dict[str, Decimal | None]:
    """Every scored member's score for the month, as of `now`."""
    with Session(engine) as s:
        inputs = Inputs.load(s, Rules(), now)
        out = {}
        for m in active_members(s):
            card = score_member(s, inputs, m, team_of(s, m), month_window(year, month, member_zone(s, m))).scorecard
            if card is not None:
                out[m.code] = card.score
        return out


def test_init_writes_a_file_apply_accepts_unchanged_and_it_scores_as_the_demo(tmp_path: Path, cli: InProcess) -> None:
    engine = seeded_demo(tmp_path / "kpibot.db")
    demo_scores = scores(engine, DEMO_NOW, 2026, 11)
    assert demo_scores["host1"] == Decimal("113.3")
    with engine.begin() as c:   # the demo's templates gone: the file alone must score as they did
        c.execute(text("DELETE FROM kpi_template_metric"))
        c.execute(text("DELETE FROM kpi_template"))

    run = cli(tmp_path, "templates", "init", "templates.toml")
    assert (run.returncode, run.stdout, run.stderr) == (
        0, "wrote 7 templates to templates.toml; edit it, then: kpibot templates apply templates.toml\n", "")
    written = (tmp_path / "templates.toml").read_text(encoding="utf-8")
    assert written == render_file(DEFAULT_TEMPLATES)
    assert parse_file(written) == list(DEFAULT_TEMPLATES)
    assert "#   role             whose template it is: host, ad_buyer, operator, selector, lead\n" in written
    assert cli(tmp_path, "templates", "init", "templates.toml").returncode == 2   # never overwritten unasked

    run = cli(tmp_path, "templates", "apply", "templates.toml")
    assert (run.returncode, run.stdout, run.stderr) == (
        0, "7 templates in effect from every month (7 new, 0 replaced)\n", "")
    assert scores(engine, DEMO_NOW, 2026, 11) == demo_scores
    assert scores(engine, DEMO_NOW, 2026, 10) == scores(seeded_demo(tmp_path / "again.db"), DEMO_NOW, 2026, 10)
    engine.dispose()


def test_apply_refuses_a_file_with_three_problems_naming_all_three(tmp_path: Path, cli: InProcess) -> None:
    engine = seeded_demo(tmp_path / "kpibot.db")
    bad = (render_file(DEFAULT_TEMPLATES)
           .replace("net_gmv = 40\ngmv_per_live = 20", "net_gmv = 35\ngmv_per_live = 20")
           .replace("new_sku_hit_rate = 40", "new_sku_hits = 40")
           .replace('role = "lead"', 'role = "chef"'))
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    run = cli(tmp_path, "templates", "apply", "bad.toml", "--from", "2026-12")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.splitlines() == [
        "kpibot: bad.toml refused, nothing stored (3 problem(s)):",
        "  template #2 ('host'): weights sum to 95%, they must sum to 100%",
        "  template #6 ('selector') uses unknown metric(s): new_sku_hits",
        "  template #7 ('lead'): unknown role 'chef'; the roles are host, ad_buyer, operator, selector, lead, "
        "manager, admin",
    ]
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*), min(effective_from), max(effective_from) FROM kpi_template")
                         ).one() == (7, "0001-01", "0001-01")
    engine.dispose()


def test_apply_names_four_kinds_of_problems_in_one_pass_each_on_a_short_line(tmp_path: Path, cli: InProcess) -> None:
    # an unknown setting used to hide the same template's weights and grade bands, and a template with any
    # problem used to hide that another had its name: all four come at once now, in file order, clashes last
    engine = seeded_demo(tmp_path / "kpibot.db")
    bad = (render_file(DEFAULT_TEMPLATES)
           .replace('name = "host"\nrole = "host"\n', 'name = "host"\nrole = "host"\n' + "x" * 300 + " = 1\n")
           .replace("[template.weights]\nnet_gmv = 40\ngmv_per_live = 20",
                    "[template.grade_bands]\nA = 100\nS = 120\nD = 0\n[template.weights]\nnet_gmv = 35\n"
                    "gmv_per_live = 20")
           .replace('name = "host-stable"', 'name = "host"'))
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    run = cli(tmp_path, "templates", "apply", "bad.toml", "--from", "2026-12")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.splitlines() == [
        "kpibot: bad.toml refused, nothing stored (4 problem(s)):",
        f"  template #2 ('host'): unknown setting '{'x' * 40}'",
        "  template #2 ('host'): weights sum to 95%, they must sum to 100%",
        "  template #2 ('host'): grade band S = 120 has a higher floor than A = 100 above it; list the bands from "
        "the highest floor down",
        "  template 'host' is in the file twice",
    ]
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM kpi_template")).one() == (7,)
    engine.dispose()


def problems_of(bands: str) -> list[str]:
    """The problems parse_file finds in the shipped templates with the host template's grade bands `bands`."""
    bad = render_file(DEFAULT_TEMPLATES).replace("[template.weights]\nnet_gmv = 40\ngmv_per_live = 20",
                                                 f"[template.grade_bands]\n{bands}\n[template.weights]\n"
                                                 "net_gmv = 40\ngmv_per_live = 20")
    with pytest.raises(TemplateFileProblems) as caught:
        parse_file(bad)
    return caught.value.problems


def test_a_wrong_grade_band_is_named_with_its_floor() -> None:
    assert problems_of("S = 90\nA = 90\nD = 0") == [
        "template #2 ('host'): grade band A = 90 starts at the same floor as S = 90 above it; list the bands from the "
        "highest floor down"]
    assert problems_of('S = 90\nA = "80.5"\nB = 85\nD = 0') == [
        "template #2 ('host'): grade band B = 85 has a higher floor than A = 80.5 above it; list the bands from the "
        "highest floor down"]
    assert problems_of("S = 90\nA = 80\nD = 5") == ["template #2 ('host'): the last grade band D = 5 must be at 0"]
    assert problems_of("") == [
        "template #2 ('host'): grade bands are empty; list them from the highest floor down to a last band at 0"]


def test_a_grade_is_one_to_eight_printable_characters_and_every_band_problem_comes_at_once() -> None:
    """A grade named with ESC/BEL or 300 characters was stored and printed raw on /mykpi and /team; bands with a
    wrong order and a last floor off 0 named only the order."""
    assert problems_of('S = 90\n"D\\u001b[31mRED\\u0007" = 50\n' + "G" * 300 + ' = 10\n" " = 5\n"B " = 0') == [
        "template #2 ('host'): grade 'D[31mRED' has a control character; a grade is 1 to 8 printable characters",
        f"template #2 ('host'): grade '{'G' * 39}…' has 300 characters, at most 8; a grade is 1 to 8 printable "
        "characters",
        "template #2 ('host'): grade ' ' is empty; a grade is 1 to 8 printable characters",
        "template #2 ('host'): grade 'B ' has spaces around it; a grade is 1 to 8 printable characters"]
    assert problems_of("S = 120\nA = 130\nD = 5") == [
        "template #2 ('host'): grade band A = 130 has a higher floor than S = 120 above it; list the bands from the "
        "highest floor down",
        "template #2 ('host'): the last grade band D = 5 must be at 0"]
    # TOML refuses a key twice; a stored template's bands are checked by the same rule
    bands = tuple((grade, Decimal(floor)) for grade, floor in (("S", 90), ("A", 80), ("S", 70), ("D", 0)))
    assert band_problems("KPI template 'x'", bands) == [
        "KPI template 'x': grade band S is listed twice; each grade once"]
    good = render_file(DEFAULT_TEMPLATES).replace("[template.weights]\nnet_gmv = 40\ngmv_per_live = 20",
                                                  '[template.grade_bands]\n"B+" = 90\n"Gold 1" = 80\n"优" = 0\n'
                                                  "[template.weights]\nnet_gmv = 40\ngmv_per_live = 20")
    host = next(t for t in parse_file(good) if t.name == "host")
    assert host.grade_bands == (("B+", Decimal(90)), ("Gold 1", Decimal(80)), ("优", Decimal(0)))


def test_a_template_sharing_its_name_is_told_by_its_place_and_a_zero_weight_is_named() -> None:
    bad = render_file(DEFAULT_TEMPLATES).replace('name = "host-stable"', 'name = "host"').replace(
        "net_gmv = 50\ngmv_per_live = 20\nreturn_rate = 15\ninteraction_rate = 15", "net_gmv = 100").replace(
        "refund_rate = 10", "refund_rate = 10\naov = 0")
    with pytest.raises(TemplateFileProblems) as caught:
        parse_file(bad)
    assert caught.value.problems == [
        "template #2 ('host') has 6 metrics; it needs 3 to 5",
        "template #2 ('host'): the weight of aov is 0%; it must be above 0",
        "template #3 ('host') has 1 metric; it needs 3 to 5",
        "template 'host' is in the file twice"]


def test_a_too_long_template_name_is_called_too_long_and_cut(tmp_path: Path, cli: InProcess) -> None:
    engine = seeded_demo(tmp_path / "kpibot.db")
    engine.dispose()
    long = render_file(DEFAULT_TEMPLATES).replace('name = "host"\n', f'name = "{"h" * 300}"\n', 1)
    (tmp_path / "long.toml").write_text(long, encoding="utf-8")
    run = cli(tmp_path, "templates", "apply", "long.toml", "--from", "2026-12")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.splitlines() == [
        "kpibot: long.toml refused, nothing stored (1 problem(s)):",
        f"  template #2 ('{'h' * 39}…'): the name is too long (300 characters; at most 64)"]
    blank = render_file(DEFAULT_TEMPLATES).replace('name = "host"\n', 'name = " "\n', 1)
    with pytest.raises(TemplateFileProblems) as caught:
        parse_file(blank)
    assert caught.value.problems == ["template #2 (' '): a name is required, 1 to 64 characters"]


def test_a_problem_line_is_cut_short() -> None:
    bad = render_file(DEFAULT_TEMPLATES).replace("new_sku_hit_rate = 40", "\n".join(
        f"{'m' * 39}{i} = 8" for i in range(5)))
    with pytest.raises(TemplateFileProblems) as caught:
        parse_file(bad)
    assert caught.value.problems == [
        "template #6 ('selector') has 7 metrics; it needs 3 to 5",
        "template #6 ('selector') uses unknown metric(s): " + ", ".join(f"{'m' * 39}{i}" for i in range(5))[:110]
        + "…",   # 160 characters in all
    ]


def test_a_template_applied_from_december_scores_december_and_leaves_november(
        tmp_path: Path, cli: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kpibot.db'}")
    upgrade(engine)
    with Session(engine) as s:   # the demo a month on: November is closed, December is under way
        seed_demo(s, date(2026, 12, 20))
        s.commit()
    now = datetime(2026, 12, 20, 12, tzinfo=UTC)
    assert (scores(engine, now, 2026, 11)["host1"], scores(engine, now, 2026, 12)["host1"]) == \
        (Decimal("100.2"), Decimal("113.0"))

    edited = render_file(DEFAULT_TEMPLATES).replace("net_gmv = 40\ngmv_per_live = 20\n",
                                                    "net_gmv = 20\ngmv_per_live = 40\n")
    (tmp_path / "templates.toml").write_text(edited, encoding="utf-8")
    monkeypatch.setenv("KPIBOT_NOW", now.isoformat())
    run = cli(tmp_path, "templates", "apply", "templates.toml", "--from", "2026-12")
    assert (run.returncode, run.stdout) == (0, "7 templates in effect from 2026-12 (7 new, 0 replaced)\n")
    assert (scores(engine, now, 2026, 11)["host1"], scores(engine, now, 2026, 12)["host1"]) == \
        (Decimal("100.2"), Decimal("112.8"))
    assert scores(engine, now, 2026, 12)["host2"] == Decimal("103.2")   # host-cold-start: unchanged

    listed = cli(tmp_path, "templates", "list").stdout.splitlines()
    assert [line for line in listed if line.startswith("host ")] == [
        "host               every month host      any stage   net_gmv 40%, gmv_per_live 20%, avg_watch_time 15%, "
        "interaction_rate 15%, refund_rate 10%",
        "host               2026-12     host      any stage   net_gmv 20%, gmv_per_live 40%, avg_watch_time 15%, "
        "interaction_rate 15%, refund_rate 10%"]
    refused = cli(tmp_path, "templates", "apply", "templates.toml", "--from", "2026-11")
    assert (refused.returncode, refused.stderr) == (
        2, "kpibot: --from 2026-11 is before the current month (2026-12): a closed month keeps being scored by the "
        "templates it had\n")
    engine.dispose()


def test_a_bad_template_breaks_only_its_members_cards(demo_copy: Engine) -> None:
    with demo_copy.begin() as c:   # a metric the catalog no longer has, in the cold-start hosts' template
        c.execute(text("UPDATE kpi_template_metric SET metric_key = 'gone' WHERE metric_key = 'new_followers'"))
    d = dispatcher_for(demo_copy)
    assert texts(say(d, "host2", "/mykpi")).splitlines()[2] == (
        "KPI 考核配置有误，请管理员修正：KPI template 'host-cold-start' uses unknown metric(s): gone")
    assert fields(say(d, "host1", "/mykpi"))["Score"] == "113.3"
    team = texts(say(d, "lead2", "/team")).splitlines()   # the lead is scored, the host's row is left blank
    # the lead is measured on the team's figure: the shared row first (tests/test_team_rows.py)
    assert team[7:10] == ["Team (shared)   —          —      —      Net GMV 73% · 102% of pace      ok",
                          "Budi Santoso    team lead  94.6   B      team figure, see Team (shared)  —",
                          "Wang Fang 王芳  host       —      —      —                               ok"]


def test_the_current_month_is_the_organisations_own(demo_copy: Engine) -> None:
    # 20:00 UTC on 30 November is already 1 December in Shanghai: November is closed there, not in Los Angeles
    from sqlalchemy import select

    from services.templates import apply_templates
    from storage.models import Organisation

    now = datetime(2026, 11, 30, 20, tzinfo=UTC)
    with Session(demo_copy) as s:
        org_id = s.execute(select(Organisation.id)).scalar_one()
        with pytest.raises(ValueError, match=r"^--from 2026-11 is before the current month \(2026-12\)"):
            apply_templates(s, org_id, list(DEFAULT_TEMPLATES), "2026-11", now, "Asia/Shanghai")
        applied = apply_templates(s, org_id, list(DEFAULT_TEMPLATES), "2026-11", now, "America/Los_Angeles")
        assert (applied.effective_from, applied.added, applied.replaced) == ("2026-11", 7, 0)
