"""Set-up without SQL: from an empty store to an organisation with teams, leads and a shop, using only kpibot
commands (`db upgrade`, `org init|set|show`, `teams add|list|set`, `members import`, `shops add --team`),
on SQLite and PostgreSQL; every refusal is one line with exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.app import build_services
from bot.cli import main
from bot.config import load_config
from scoring.rules import CountOrdersAt
from storage.models import CommissionPayout, Member, Organisation, Shop, Target, Team
from tests.clock import DEMO_NOW
from tests.conftest import fresh_engine, migrated_sqlite

CONFIG_ORG = ('[org]\nname = "From the config"\nreporting_currency = "EUR"\ntimezone = "Europe/Berlin"\n'
              'locale = "zh-CN"\n')
MEMBERS = "member,name,role,team\nlead1,Lena Li,lead,live-us\nhost1,Hana,host,live-us\nhost2,Budi,host,live-sea\n"


class Cli:
    """`kpibot --config FILE ...` in this process: (exit code, stdout, stderr)."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config, self.capsys = config, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err


def _cli(store: Engine, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         extra: str = "") -> Cli:
    monkeypatch.setenv("KPIBOT_NOW", DEMO_NOW.isoformat())
    config = folder / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{store.url.render_as_string(hide_password=False)}"\n{extra}', encoding="utf-8")
    return Cli(config, capsys)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store with no schema at all: a new SQLite file, a new PostgreSQL database."""
    store = fresh_engine(request.param, tmp_path)
    yield store
    store.dispose()


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI over an empty, migrated SQLite store (the scenario above runs `db upgrade` itself)."""
    store = migrated_sqlite(tmp_path / "kpibot.db")
    yield _cli(store, tmp_path, capsys, monkeypatch)
    store.dispose()


def test_an_empty_store_becomes_an_organisation_with_teams(empty_store: Engine, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cli = _cli(empty_store, tmp_path, capsys, monkeypatch)
    assert cli("db", "upgrade")[0] == 0
    assert cli("org", "init", "--name", "Acme Live", "--currency", "usd", "--timezone", "Asia/Singapore",
               "--locale", "en") == (0, "initialised organisation Acme Live: reporting currency USD, time zone "
                                        "Asia/Singapore, locale en; "
        "orders count when paid, refunds netted\n"
                                        "next: kpibot teams add CODE --name NAME --stage STAGE --country CC\n", "")
    assert cli("teams", "add", "live-us", "--name", "Live US", "--timezone", "America/Los_Angeles", "--stage",
               "cold_start", "--country", "US") == (
        0, "added team live-us      Live US              America/Los_Angeles  cold_start leads=- countries=US\n", "")
    # zone and locale from the organisation, stage growth by default; countries comma-separated or repeated
    assert cli("teams", "add", "live-sea", "--name", "Live SEA", "--country", "ID,MY", "--country", "TH") == (
        0, "added team live-sea     Live SEA             Asia/Singapore       growth     leads=- countries=ID,MY,TH\n",
        "")

    members = tmp_path / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    assert cli("members", "import", str(members)) == (0, f"imported {members}: 3 new, 0 updated\n", "")
    assert cli("teams", "set", "live-us", "--stage", "growth", "--lead", "lead1") == (
        0, "updated team live-us      Live US              America/Los_Angeles  growth     leads=lead1 countries=US\n",
        "")
    assert cli("teams", "list") == (0, (
        "live-sea     Live SEA             Asia/Singapore       growth     leads=- countries=ID,MY,TH\n"
        "live-us      Live US              America/Los_Angeles  growth     leads=lead1 countries=US\n"), "")
    assert cli("shops", "add", "tts-us", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "America/Los_Angeles", "--team", "live-us", "--platform-shop-id", "7495") == (
        0, "added shop tts-us: tiktok_shop US USD America/Los_Angeles, team live-us\n"
           "next: kpibot shops token tts-us --tokens-stdin (the shop's API tokens)\n", "")

    with Session(empty_store) as session:
        team = {t.code: t.id for t in session.execute(select(Team)).scalars()}
        assert [(m.code, m.team_id, m.timezone, m.locale) for m in
                session.execute(select(Member).order_by(Member.code)).scalars()] == [
            ("host1", team["live-us"], "Asia/Singapore", "en"), ("host2", team["live-sea"], "Asia/Singapore", "en"),
            ("lead1", team["live-us"], "Asia/Singapore", "en")]
        assert session.execute(select(Shop.code, Shop.team_id)).all() == [("tts-us", team["live-us"])]


def test_the_store_s_settings_win_over_the_config_once_initialised(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = fresh_engine("sqlite", tmp_path)
    cli = _cli(store, tmp_path, capsys, monkeypatch, CONFIG_ORG)
    assert cli("db", "upgrade")[0] == 0
    config = load_config(cli.config)
    before = build_services(config)
    assert (before.rules.reporting_currency, before.org_timezone, before.org_locale) == ("EUR", "Europe/Berlin",
                                                                                         "zh-CN")
    before.engine.dispose()
    # org init's defaults are the config's [org] values
    assert cli("org", "init", "--currency", "GBP") == (
        0, "initialised organisation From the config: reporting currency GBP, time zone Europe/Berlin, locale zh-CN; "
        "orders count when paid, refunds netted\n"
           "next: kpibot teams add CODE --name NAME --stage STAGE --country CC\n", "")
    assert cli("org", "set", "--timezone", "Europe/London", "--locale", "en-GB", "--name", "Acme UK") == (
        0, "updated organisation Acme UK: reporting currency GBP, time zone Europe/London, locale en-GB; "
        "orders count when paid, refunds netted\n", "")
    after = build_services(config)
    assert (after.rules.reporting_currency, after.org_timezone, after.org_locale) == ("GBP", "Europe/London", "en-GB")
    after.engine.dispose()
    assert cli("org", "show") == (
        0, "organisation Acme UK: reporting currency GBP, time zone Europe/London, locale en-GB; "
        "orders count when paid, refunds netted\n", "")
    # the statistical definitions: every process scores by the store's once org set says them
    assert cli("org", "set", "--count-orders-at", "shipped", "--net-refunds", "no")[0] == 0
    counted = build_services(config)
    assert (counted.rules.count_orders_at, counted.rules.net_refunds) == (CountOrdersAt.SHIPPED, False)
    counted.engine.dispose()
    assert cli("org", "set", "--count-orders-at", "paid", "--net-refunds", "yes")[0] == 0
    # once a target is set, its amount is in GBP: the currency no longer changes under it
    assert cli("org", "set", "--currency", "EUR")[0] == 0
    with Session(store) as s:
        org = s.execute(select(Organisation)).scalar_one()
        s.add(Target(org_id=org.id, scope="company", subject="company", period="2026-11", metric_key="net_gmv",
                     value=Decimal("1000")))
        s.commit()
    assert cli("org", "set", "--currency", "USD") == (
        2, "", "kpibot: the reporting currency stays EUR: 1 targets are amounts in it; set them again in the new "
               "currency after starting a new organisation\n")
    assert cli("org", "set", "--currency", "EUR")[0] == 0   # the same currency is no change
    # once a month's commission is paid, the counting rules that measured it stay
    with Session(store) as s:
        org = s.execute(select(Organisation)).scalar_one()
        member = Member(org_id=org.id or 0, code="host9", name="Host 9", role="host", timezone="UTC", locale="en")
        s.add(member)
        s.flush()
        s.add(CommissionPayout(member_id=member.id or 0, period="2026-10", plan_name="hosts", role="host",
                               basis_amount=Decimal("1000"), currency="EUR"))
        s.commit()
    assert cli("org", "set", "--count-orders-at", "shipped") == (
        2, "", "kpibot: the counting rules stay as they are: 1 commission payouts were measured by them, and "
               "measuring paid months another way would book clawbacks that are not refunds\n")
    assert cli("org", "set", "--count-orders-at", "paid", "--net-refunds", "yes")[0] == 0   # no change: allowed
    store.dispose()


@pytest.mark.parametrize(("args", "error"), [
    (("--currency", "XYZ"), "unknown currency 'XYZ' (an ISO 4217 code such as USD, GBP, IDR)"),
    (("--timezone", "Mars/Olympus"), "unknown time zone 'Mars/Olympus' (an IANA name such as America/Los_Angeles)"),
    (("--locale", "fr"), "locale 'fr' is not supported; use en, zh-CN or id-ID"),
    (("--name", " "), "the name must be 1 to 200 characters, got ' '"),
])
def test_org_init_refuses_a_bad_value_and_makes_nothing(cli: Cli, args: tuple[str, ...], error: str) -> None:
    assert cli("org", "init", *args) == (2, "", f"kpibot: {error}\n")
    assert cli("org", "show") == (2, "", "kpibot: the store has no organisation yet; make it with: kpibot org init\n")


def test_org_init_refuses_a_store_with_an_organisation(cli: Cli) -> None:
    assert cli("org", "init", "--name", "Acme")[0] == 0
    assert cli("org", "init", "--name", "Other") == (
        2, "", "kpibot: the store already has an organisation (Acme); change it with: kpibot org set\n")
    assert cli("org", "set") == (
        2, "", "kpibot: nothing to change: give --name, --currency, --timezone, --locale, "
        "--count-orders-at or --net-refunds\n")


def test_org_init_and_set_leave_the_demo_alone(demo_copy: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cli = _cli(demo_copy, tmp_path, capsys, monkeypatch)
    assert cli("org", "init", "--name", "Acme") == (
        2, "", "kpibot: the store holds the demo organisation; kpibot org init needs a store without it\n")
    assert cli("org", "set", "--currency", "EUR") == (
        2, "", "kpibot: the store holds the demo organisation, which kpibot org set does not change\n")


def test_teams_before_the_organisation_are_refused(cli: Cli) -> None:
    assert cli("teams", "add", "live-us") == (
        2, "", "kpibot: the store has no organisation yet; make it with: kpibot org init\n")
    assert cli("teams", "list") == (0, "no teams yet (kpibot teams add)\n", "")


@pytest.mark.parametrize(("args", "error"), [
    (("add", "live-us"), "there is already a team live-us (see: kpibot teams list)"),
    (("add", "LIVE-US"), "there is already a team LIVE-US (see: kpibot teams list)"),
    (("add", "live us"), "team code 'live us': letters, digits, '-', '_' or '.', at most 64, e.g. live-us"),
    (("add", "t2", "--stage", "scale"), "unknown business stage 'scale'; stages: cold_start, growth, stable"),
    (("add", "t2", "--country", "u5"),
     "country 'U5' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (("add", "t2", "--country", "USA"),
     "country 'USA' is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)"),
    (("add", "t2", "--timezone", "PST"), "unknown time zone 'PST' (an IANA name such as America/Los_Angeles)"),
    (("add", "t2", "--locale", "de-DE"), "locale 'de-DE' is not supported; use en, zh-CN or id-ID"),
    (("set", "nope", "--stage", "stable"), "no team 'nope'; teams: live-sea, live-us"),
    (("set", "live-us"), "nothing to change: give --name, --timezone, --stage, --locale, --country or --lead"),
    (("set", "live-us", "--lead", "ghost"),
     "no member 'ghost' to lead team live-us (import members first: kpibot members import)"),
    (("set", "live-us", "--lead", "host2"),
     "host2 is not a member of team live-us; put them in it first (the team column of kpibot members import)"),
    (("set", "live-us", "--stage", "stable", "--lead", "ghost"),
     "no member 'ghost' to lead team live-us (import members first: kpibot members import)"),
])
def test_team_mistakes_are_one_line_and_change_nothing(cli: Cli, tmp_path: Path, args: tuple[str, ...],
                                                       error: str) -> None:
    assert cli("org", "init", "--name", "Acme", "--timezone", "UTC", "--locale", "en")[0] == 0
    assert cli("teams", "add", "live-us", "--country", "US")[0] == 0
    assert cli("teams", "add", "live-sea")[0] == 0
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    assert cli("members", "import", str(members))[0] == 0
    assert cli("teams", *args) == (2, "", f"kpibot: {error}\n")
    assert cli("teams", "list") == (0, (
        "live-sea     live-sea             UTC                  growth     leads=- countries=-\n"
        "live-us      live-us              UTC                  growth     leads=- countries=US\n"), "")


def test_set_replaces_leads_and_countries(cli: Cli, tmp_path: Path) -> None:
    assert cli("org", "init", "--name", "Acme", "--timezone", "UTC", "--locale", "en")[0] == 0
    assert cli("teams", "add", "live-us", "--country", "US,CA")[0] == 0
    assert cli("teams", "add", "live-sea")[0] == 0
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    assert cli("members", "import", str(members))[0] == 0
    assert cli("teams", "set", "live-us", "--lead", "lead1", "--lead", "host1", "--lead", "lead1")[0] == 0
    assert cli("teams", "set", "live-us", "--country", "MX", "--name", "Live Americas", "--locale", "zh-CN")[0] == 0
    assert cli("teams", "list")[1].splitlines()[1] == (
        "live-us      Live Americas        UTC                  growth     leads=host1,lead1 countries=MX")
    assert cli("teams", "set", "live-us", "--lead", "host1")[0] == 0
    assert cli("teams", "list")[1].splitlines()[1] == (
        "live-us      Live Americas        UTC                  growth     leads=host1 countries=MX")


def test_org_set_gives_settings_to_an_organisation_a_members_import_made(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before org init existed, members import made the organisation from the config's [org] name: org init
    refuses it, org set gives it settings of its own, starting from the config's."""
    store = migrated_sqlite(tmp_path / "kpibot.db")
    cli = _cli(store, tmp_path, capsys, monkeypatch, CONFIG_ORG)
    members = tmp_path / "members.csv"
    members.write_text("member,name,role\nhost1,Hana,host\n", encoding="utf-8")
    assert cli("members", "import", str(members))[0] == 0
    assert cli("org", "show") == (
        0, "organisation From the config: reporting currency EUR, time zone Europe/Berlin, locale zh-CN; "
        "orders count when paid, refunds netted\n", "")
    assert cli("org", "init") == (
        2, "", "kpibot: the store already has an organisation (From the config); change it with: kpibot org set\n")
    assert cli("org", "set", "--currency", "SGD") == (
        0, "updated organisation From the config: reporting currency SGD, time zone Europe/Berlin, locale zh-CN; "
           "orders count when paid, refunds netted\n", "")
    # the statistical definitions are the store's too, once set; the config's [org] says them until then
    assert cli("org", "set", "--count-orders-at", "shipped", "--net-refunds", "no") == (
        0, "updated organisation From the config: reporting currency SGD, time zone Europe/Berlin, locale zh-CN; "
           "orders count when shipped, refunds not netted\n", "")
    store.dispose()
