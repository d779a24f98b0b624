"""What people type, stored and printed clean (scoring.text): names lose control characters and extra spaces,
codes have no spaces, handles with control characters are refused, countries are ISO 3166-1 alpha-2; and a
member's handle on a known platform can be removed. Every path that takes such a value uses the same functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.shop_sources import SHOP_PLATFORMS
from scoring.text import BadText, code_text, country_code, display_name, exact_text, shown
from storage.crediting import handle_platform
from storage.ingest.records import FILE_PLATFORMS, HANDLE_PLATFORMS
from storage.member_import import ImportProblem, import_members
from storage.models import Member, MemberHandle, Organisation, Team
from storage.target_import import import_targets
from tests.conftest import fresh_engine
from tests.test_cli import InProcess
from tests.test_org_setup import Cli, _cli

LONG = "Ab" * 150   # 300 characters


@pytest.mark.parametrize(("text", "name"), [
    ("Acme\x07\x1b[31mRed", "Acme[31mRed"),
    ("Z\x1b[2Jzz", "Z[2Jzz"),
    ("  Zhang\u200b Wei\t 张伟\n", "Zhang Wei 张伟"),
    ("Lin\u202eXiaoyu", "LinXiaoyu"),        # a bidi override, category Cf
    ("x" * 200, "x" * 200),
])
def test_display_name_drops_controls_and_collapses_spaces(text: str, name: str) -> None:
    assert display_name(text) == name


@pytest.mark.parametrize(("call", "reason"), [
    (lambda: display_name("\x1b\u200b \x07"), "is empty"),
    (lambda: display_name("x" * 201), "has 201 characters, at most 200"),
    (lambda: code_text("live us"), "has a space"),
    (lambda: code_text("x" * 65), "has 65 characters, at most 64"),
    (lambda: exact_text("a\x1bb"), "has a control character"),
    (lambda: exact_text("a\u200bb"), "has a control character"),
    (lambda: exact_text(" "), "is empty"),
    (lambda: code_text("bad\x1bcode"), "has a control character"),   # ids are refused as handles are
    (lambda: code_text(" live\u200b-us "), "has a control character"),
    (lambda: country_code("G\x1bB"), "has a control character"),     # not "'GB' is no country"
    (lambda: country_code("XX"), "is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (lambda: country_code("UK"), "is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (lambda: country_code("ÜS"), "is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
])
def test_what_is_refused_says_why(call: object, reason: str) -> None:
    with pytest.raises(BadText) as err:
        call()  # type: ignore[operator]
    assert str(err.value) == reason


def test_codes_handles_countries_and_what_a_reply_shows() -> None:
    assert code_text(" live-us\t") == "live-us"
    assert exact_text(" Lin.Live ") == "Lin.Live"
    assert (country_code(" gb"), country_code("ID")) == ("GB", "ID")
    assert shown("a\x1b[2J" + "b" * 50) == "a[2J" + "b" * 35 + "…"
    assert shown("short\x07") == "short"


def test_handle_platforms_are_the_shop_platforms() -> None:
    assert tuple(handle_platform(p) for p in SHOP_PLATFORMS if p != "file") == HANDLE_PLATFORMS
    assert "file" in FILE_PLATFORMS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli(request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Cli, Engine]]:
    """The CLI over a new store with an organisation, a team live-us and members ann (host) and lead1."""
    store = fresh_engine(request.param, tmp_path)
    run = _cli(store, tmp_path, capsys, monkeypatch)
    assert run("db", "upgrade")[0] == 0
    assert run("org", "init", "--name", "Acme", "--timezone", "UTC", "--locale", "en", "--currency", "USD")[0] == 0
    assert run("teams", "add", "live-us", "--country", "US")[0] == 0
    members = tmp_path / "members.csv"
    members.write_text("member,name,role,team\nann,Ann,host,live-us\nlead1,Lena,lead,live-us\n", encoding="utf-8")
    assert run("members", "import", str(members))[0] == 0
    yield run, store
    store.dispose()


def test_org_and_team_names_are_stored_without_controls(cli: tuple[Cli, Engine]) -> None:
    run, store = cli
    assert run("org", "set", "--name", "Acme\x07\x1b[31mRed")[1].startswith("updated organisation Acme[31mRed: ")
    assert run("teams", "add", "live-z", "--name", "Z\x1b[2Jzz") == (0, (
        "added team live-z       Z[2Jzz               UTC                  growth     leads=- countries=-\n"), "")
    assert run("teams", "set", "live-z", "--name", " Zed\u200b  Live ")[1].startswith(
        "updated team live-z       Zed Live ")
    assert run("teams", "add", "live-x")[1].startswith("added team live-x ")
    assert run("org", "set", "--name", "\x1b\x07") == (2, "", "kpibot: the name must be 1 to 200 characters, got ''\n")
    assert run("teams", "set", "live-z", "--name", LONG) == (
        2, "", f"kpibot: the name must be 1 to 200 characters, got '{LONG[:39]}…'\n")
    with Session(store) as s:
        assert s.execute(select(Organisation.name)).scalar_one() == "Acme[31mRed"
        assert list(s.execute(select(Team.code, Team.name).order_by(Team.code))) == [
            ("live-us", "live-us"), ("live-x", "live-x"), ("live-z", "Zed Live")]


@pytest.mark.parametrize(("args", "error"), [
    (("teams", "add", "t2", "--country", "XX"),
     "country 'XX' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (("teams", "set", "live-us", "--country", "US,uk"),
     "country 'UK' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (("shops", "add", "s1", "--platform", "file", "--region", "XX", "--currency", "USD", "--timezone", "UTC"),
     "--region 'XX' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (("teams", "add", "bad\x1bcode"), "team code 'badcode' has a control character"),
    (("teams", "add", "t2", "--country", "G\x1bB"), "country 'GB' has a control character"),
    (("shops", "add", "s\x071", "--platform", "file", "--region", "US", "--currency", "USD", "--timezone", "UTC"),
     "shop code 's1' has a control character"),
    (("shops", "add", "s 1", "--platform", "file", "--region", "US", "--currency", "USD", "--timezone", "UTC"),
     "shop code 's 1' has a space"),
    (("shops", "add", "s1", "--platform", "file", "--region", "US", "--currency", "USD", "--timezone", "UTC",
      "--name", "\x1b"), "--name '' is empty"),
])
def test_countries_and_shop_names_are_checked_alike(cli: tuple[Cli, Engine], args: tuple[str, ...],
                                                     error: str) -> None:
    run, _ = cli
    assert run(*args) == (2, "", f"kpibot: {error}\n")


def test_a_shop_name_is_stored_clean(cli: tuple[Cli, Engine]) -> None:
    run, _ = cli
    assert run("shops", "add", "s1", "--platform", "file", "--region", "gb", "--currency", "GBP", "--timezone",
               "UTC", "--name", "UK\x1b[31m shop")[1].startswith("added shop s1: file GB GBP UTC")
    assert run("shops", "list")[1].splitlines()[1].startswith("s1           file         GB ")


def test_member_import_cleans_names_and_refuses_long_ones(cli: tuple[Cli, Engine], tmp_path: Path) -> None:
    run, store = cli
    path = tmp_path / "more.csv"
    path.write_text(f"member,name,role\nbob,Bob\x1b[31m  Red,host\ncat,{LONG},host\nd d,Dee,host\n"
                    "bad\x07id,Bad,host\n", encoding="utf-8")
    assert run("members", "import", str(path)) == (2, "", (
        f"kpibot: nothing imported: line 3: name '{LONG[:39]}…' has 300 characters, at most 200; "
        "line 4: member id 'd d' has a space; line 5: member id 'badid' has a control character\n"))
    path.write_text("member,name,role\nbob,Bob\x1b[31m  Red,host\n", encoding="utf-8")
    assert run("members", "import", str(path)) == (0, f"imported {path}: 1 new, 0 updated\n", "")
    with Session(store) as s:
        assert s.execute(select(Member.name).where(Member.code == "bob")).scalar_one() == "Bob[31m Red"


def test_handles_on_known_platforms_added_and_removed(cli: tuple[Cli, Engine]) -> None:
    run, store = cli
    assert run("members", "handle", "ann", "--platform", "tiktok", "a\x1bb") == (
        2, "", "kpibot: the handle 'ab' has a control character\n")
    assert run("members", "handle", "ann", "--platform", "tiktk", "ann.live") == (
        2, "", "kpibot: unknown platform 'tiktk'; handles are kept for tiktok, shopee, amazon, shopify, temu, shein\n")
    assert run("members", "handle", "ann", "--platform", "tiktok_shop", "@Ann.Live") == (
        0, "ann: handle added; handles: tiktok=ann.live\n", "")
    assert run("members", "handle", "ann", "--platform", "shopee", "ann_sg") == (
        0, "ann: handle added; handles: shopee=ann_sg tiktok=ann.live\n", "")
    assert run("members", "handle", "ann", "--platform", "tiktok", "ANN.LIVE", "--remove") == (
        0, "ann: handle removed; handles: shopee=ann_sg\n", "")
    # removing a handle the member does not have did nothing: a usage error (exit 2), not a success
    assert run("members", "handle", "ann", "--platform", "tiktok", "ann.live", "--remove") == (
        2, "", "kpibot: ann has no tiktok handle 'ann.live'; handles: shopee=ann_sg\n")
    assert run("members", "handle", "lead1", "--platform", "shopee", "ann_sg", "--remove") == (
        2, "", "kpibot: lead1 has no shopee handle 'ann_sg'; handles: -\n")
    # the handle is free again for whoever really holds it
    assert run("members", "handle", "lead1", "--platform", "tiktok", "ann.live") == (
        0, "lead1: handle added; handles: tiktok=ann.live\n", "")
    with Session(store) as s:
        assert sorted(s.execute(select(MemberHandle.platform, MemberHandle.handle))) == [  # type: ignore[call-overload]
            ("shopee", "ann_sg"), ("tiktok", "ann.live")]


def test_member_import_checks_handles_as_the_command_does(cli: tuple[Cli, Engine], tmp_path: Path) -> None:
    run, _ = cli
    path = tmp_path / "handles.csv"
    path.write_text("member,tiktok_handle\nann,a\x1bb\n", encoding="utf-8")
    assert run("members", "import", str(path)) == (
        2, "", "kpibot: nothing imported: line 2: tiktok_handle: the handle 'ab' has a control character\n")
    path.write_text("member,tiktk_handle\nann,ann.live\n", encoding="utf-8")
    assert run("members", "import", str(path)) == (2, "", (
        f"kpibot: nothing imported: {path}: the header must name the columns member, name, role, team, timezone, "
        "locale, feishu_open_id, feishu_union_id, dingtalk_staff_id or PLATFORM_user_id or PLATFORM_handle (member "
        "is required); unknown: tiktk_handle\n"))


def test_target_import_checks_countries(cli: tuple[Cli, Engine], tmp_path: Path) -> None:
    _, store = cli
    path = tmp_path / "targets.csv"
    path.write_text("period,team,country,metric,value\n2027-01,live-us,XX,net_gmv,1000\n", encoding="utf-8")
    with Session(store) as s, pytest.raises(ImportProblem) as err:
        import_targets(s, path, 1, None, "USD")
    assert str(err.value) == "line 2: country 'XX' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"


def test_member_import_problem_names_the_row(demo_copy: Engine, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text(f"member,name\nhost1,{LONG}\nhost2,\x1b\n", encoding="utf-8")
    with Session(demo_copy) as s, pytest.raises(ImportProblem) as err:
        import_members(s, path, "UTC", "en", "Demo")
    assert str(err.value) == (f"line 2: name '{LONG[:39]}…' has 300 characters, at most 200; "
                              "line 3: name '' is empty")


def test_an_unbound_console_id_is_cut_and_clean(tmp_path: Path, cli_process: InProcess) -> None:
    typed = "\x1b[2J" + "n" * 300
    card = cli_process(tmp_path, "chat", "--as", typed, "/whoami")
    cut = "[2J" + "n" * 60 + "…"
    assert (card.returncode, card.stdout.splitlines()[3], card.stdout.splitlines()[5]) == (
        0, f"Your id   {cut}", f"Your console id is {cut}. Ask an admin to link it to your member id:")


@pytest.fixture
def cli_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    return InProcess(capsys, monkeypatch)
