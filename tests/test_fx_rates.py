"""Exchange rates that keep themselves current: the ECB feed's format, the daily job against a fake of the feed,
EUR cross rates, `kpibot fx set|import`, and a card 45 days after the last stored rate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.dispatch import Incoming
from bot.fx_feed import FeedError, fetch_ecb, parse_ecb
from bot.jobs.fx_rates import run_fx_rates
from cards.chart_cache import ChartCache
from cards.model import Note
from scoring.fx import FxRate, FxTable
from scoring.rules import Rules
from services.container import Services
from storage.models import FxRateRow, Member, Order, Organisation, Shop
from tests.clock import DEMO_NOW, DEMO_TODAY
from tests.conftest import dispatcher_for
from tests.fakes.ecb import FakeEcb
from tests.test_cli import InProcess, kpibot
from tests.test_cli_shops import Cli

FIXTURE = Path(__file__).parent / "data" / "fx" / "eurofxref-daily.xml"
NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


def test_parses_the_ecb_daily_feed_as_published() -> None:
    rates = parse_ecb(FIXTURE.read_bytes())
    assert rates == [FxRate(date(2024, 6, 28), "EUR", c, D(r)) for c, r in
                     (("CNY", "7.7748"), ("GBP", "0.84638"), ("IDR", "17487.21"), ("JPY", "171.94"), ("USD", "1.0705"))]
    assert str(rates[1].rate) == "0.84638"   # the text as published, not a float's approximation
    with pytest.raises(FeedError, match=r"^not an ECB rates document"):
        parse_ecb("<html><body>maintenance</body></html>")
    with pytest.raises(FeedError, match=r"^2024-06-28 USD: rate 'n/a' is not a number$"):
        parse_ecb(FIXTURE.read_text().replace("1.0705", "n/a"))


def test_usd_to_idr_goes_through_eur_cross_rates_in_exact_decimals() -> None:
    fx = FxTable(parse_ecb(FIXTURE.read_bytes()))
    # 1 USD = (17487.21 IDR / EUR) / (1.0705 USD / EUR), one Decimal division
    assert fx.rate("USD", "IDR", date(2024, 6, 28)) == D("16335.55347968239140588510042")
    assert fx.convert(D("100"), "USD", "IDR", date(2024, 7, 1)) == D("1633555.347968239140588510042")
    assert fx.rate("IDR", "USD", date(2024, 6, 28)) == D("0.00006121616884568779124857538738")
    assert fx.stale == {}    # three days after a Friday rate: the usual weekend, no note


def test_an_old_rate_is_used_and_remembered_and_a_currency_without_rates_is_left_out() -> None:
    fx = FxTable(parse_ecb(FIXTURE.read_bytes()), skip_missing=True)
    assert fx.convert(D("10"), "EUR", "USD", date(2024, 8, 12)) == D("10.7050")
    assert fx.stale == {("EUR", "USD"): date(2024, 6, 28)}
    assert fx.convert(D("10"), "MYR", "USD", date(2024, 8, 12)) == D("0")
    assert fx.missing == {("MYR", "USD"): date(2024, 8, 12)}


def test_as_of_names_the_day_of_the_route_a_conversion_uses_and_records_nothing() -> None:
    fx = FxTable([FxRate(date(2026, 11, 20), "USD", "SGD", D("1.34")),
                  FxRate(date(2026, 11, 18), "EUR", "USD", D("1.08")),
                  FxRate(date(2026, 11, 23), "EUR", "SGD", D("1.45")),
                  FxRate(date(2026, 11, 23), "EUR", "IDR", D("17233"))])
    # SGD->USD: the inverse of USD->SGD (20th) is fresher than the cross through EUR (18th and 23rd: the 18th);
    # IDR->USD only through EUR (23rd and 18th); on the 19th SGD has no rate yet
    assert [fx.as_of("SGD", "USD", date(2026, 11, 30)), fx.as_of("IDR", "USD", date(2026, 11, 30)),
            fx.as_of("SGD", "USD", date(2026, 11, 19)), fx.as_of("USD", "USD", date(2026, 11, 30)),
            fx.as_of("MYR", "USD", date(2026, 11, 30))] == \
        [date(2026, 11, 20), date(2026, 11, 18), None, date(2026, 11, 30), None]
    assert (fx.stale, fx.missing) == ({}, {})


def _services(engine: Engine) -> Services:
    return Services(engine, Rules(), "UTC", "en", ChartCache())


def _stored(engine: Engine) -> list[tuple[date, str, str, D, str]]:
    with Session(engine) as session:
        rows = session.exec(select(FxRateRow).order_by(FxRateRow.day, FxRateRow.quote)).all()
        return [(r.day, r.base, r.quote, r.rate, r.source) for r in rows]


def test_the_daily_job_fills_the_gap_from_the_history_then_reads_the_daily_feed(engine: Engine) -> None:
    days = {date(2026, 12, 1): {"USD": "1.0832", "IDR": "17210.55"},
            date(2026, 12, 2): {"USD": "1.0851", "IDR": "17233.10"}}
    services = _services(engine)
    with FakeEcb(days) as feed:
        first = run_fx_rates(services, {}, NOW, "i", url=feed.daily_url, history_url=feed.history_url)
        assert (first.url, first.rates, first.stored.added if first.stored else None) == (feed.history_url, 4, 4)
        feed.days[date(2026, 12, 3)] = {"USD": "1.0840", "IDR": "17222.00"}
        feed.fail_next(1)   # a 503 is retried
        second = run_fx_rates(services, {}, NOW, "i", url=feed.daily_url, history_url=feed.history_url,
                              fetch=lambda u: fetch_ecb(u, backoff_s=0.01))
        assert (second.url, second.rates, second.stored.added if second.stored else None) == (feed.daily_url, 2, 2)
        assert [c.path for c in feed.calls] == ["/stats/eurofxref/eurofxref-hist-90d.xml",
                                                "/stats/eurofxref/eurofxref-daily.xml",
                                                "/stats/eurofxref/eurofxref-daily.xml"]
        feed.fail_next(10)
        failed = run_fx_rates(services, {}, NOW, "i", url=feed.daily_url, history_url=feed.history_url,
                              fetch=lambda u: fetch_ecb(u, attempts=2, backoff_s=0.01))
        assert (failed.rates, failed.stored) == (0, None)
    assert _stored(engine) == [
        (date(2026, 12, 1), "EUR", "IDR", D("17210.55"), "ecb"), (date(2026, 12, 1), "EUR", "USD", D("1.0832"), "ecb"),
        (date(2026, 12, 2), "EUR", "IDR", D("17233.10"), "ecb"), (date(2026, 12, 2), "EUR", "USD", D("1.0851"), "ecb"),
        (date(2026, 12, 3), "EUR", "IDR", D("17222.00"), "ecb"), (date(2026, 12, 3), "EUR", "USD", D("1.0840"), "ecb"),
    ]


def test_kpibot_fx_set_and_import(tmp_path: Path, cli: InProcess) -> None:
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite:///store.db"\n', encoding="utf-8")
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    ok = cli(tmp_path, "fx", "set", "2026-12-01", "usd", "IDR", "15850.5")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "stored: on 2026-12-01 1 USD = 15850.5 IDR\n", "")
    assert cli(tmp_path, "fx", "set", "2026-12-01", "USD", "IDR", "15850.5").stdout == \
        "unchanged: on 2026-12-01 1 USD = 15850.5 IDR\n"
    bad = cli(tmp_path, "fx", "set", "2026-12-01", "USD", "XXX", "1")
    assert (bad.returncode, bad.stdout, bad.stderr) == (2, "", "kpibot: nothing stored: unknown currency 'XXX'\n")
    zero = cli(tmp_path, "fx", "set", "2026-12-01", "USD", "IDR", "0")
    assert (zero.returncode, zero.stderr) == (2, "kpibot: nothing stored: rate '0' is not a positive number\n")
    huge = cli(tmp_path, "fx", "set", "2026-12-01", "USD", "IDR", "1e400")
    assert (huge.returncode, huge.stderr) == (2, "kpibot: nothing stored: rate '1e400' is not an exchange rate "
                                                 "(between 0.000000001 and 1,000,000,000, at most 15 significant "
                                                 "digits)\n")
    (tmp_path / "rates.csv").write_text("day,base,quote,rate\n2026-12-01,USD,IDR,15851\n2026-12-02,EUR,USD,1.0851\n",
                                        encoding="utf-8")
    imported = cli(tmp_path, "fx", "import", "rates.csv")
    assert (imported.returncode, imported.stdout) == (
        0, "imported rates.csv: 2 rates (1 new, 1 changed, 0 unchanged)\n")
    (tmp_path / "bad.csv").write_text("day,base,quote,rate\n2026-12-03,USD,IDR,15860\n2026-13-01,USD,IDR,1\n"
                                      "2026-12-04,USD,XXX,2\n2026-12-05,USD\n", encoding="utf-8")
    refused = cli(tmp_path, "fx", "import", "bad.csv")
    assert (refused.returncode, refused.stderr) == (
        2, "kpibot: nothing stored: bad.csv line 3: day '2026-13-01' is not a date (YYYY-MM-DD); line 4: unknown "
           "currency 'XXX'; line 5: 2 columns, expected 4\n")
    (tmp_path / "cols.csv").write_text("date,from,to,rate\n", encoding="utf-8")
    assert cli(tmp_path, "fx", "import", "cols.csv").stderr == \
        "kpibot: nothing stored: cols.csv: the first line must be day,base,quote,rate\n"
    # a GBK file is read (storage.tabular detects GB18030): its Chinese text reaches the row check intact
    (tmp_path / "gbk.csv").write_bytes("day,base,quote,rate\n2026-12-03,USD,IDR,15860 # 汇率\n".encode("gbk"))
    assert cli(tmp_path, "fx", "import", "gbk.csv").stderr == \
        "kpibot: nothing stored: gbk.csv line 2: rate '15860 # 汇率' is not a positive number\n"
    (tmp_path / "latin.csv").write_bytes("day,base,quote,rate\n2026-12-03,USD,IDR,15860 # taux de change é\n"
                                         .encode("cp1252"))
    assert cli(tmp_path, "fx", "import", "latin.csv").stderr == (
        "kpibot: nothing stored: latin.csv is not UTF-8 text and its encoding cannot be told; save it as 'CSV "
        "UTF-8', or pass its encoding with --encoding (e.g. --encoding cp1252 for Western Excel, --encoding gb18030 "
        "for Chinese: it reads GBK too)\n")
    book = Workbook()
    book.active.append(["day", "base", "quote", "rate"])
    book.active.append([date(2026, 12, 4), "USD", "IDR", "15870.25"])
    book.save(tmp_path / "rates.xlsx")
    assert cli(tmp_path, "fx", "import", "rates.xlsx").stdout == \
        "imported rates.xlsx: 1 rates (1 new, 0 changed, 0 unchanged)\n"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    return InProcess(capsys, monkeypatch)


def test_a_card_45_days_after_the_last_rate_still_answers_and_says_from_when(demo_copy: Engine) -> None:
    later = DEMO_NOW + timedelta(days=45)            # 2027-01-06; the demo's last rates are of DEMO_TODAY
    with Session(demo_copy) as session:
        host2 = session.exec(select(Member).where(Member.code == "host2")).one()
        shop = session.exec(select(Shop).where(Shop.currency == "IDR")).first()
        assert shop is not None and shop.id is not None
        for n, (currency, minor) in enumerate((("IDR", 158_000_000), ("MYR", 50_000))):
            paid = later - timedelta(days=1)
            session.add(Order(shop_id=shop.id, platform_order_id=f"fx-{n}", status="paid", currency=currency,
                              subtotal_minor=minor, merchandise_minor=minor, total_minor=minor, units=1,
                              created_at=paid, paid_at=paid, member_id=host2.id))
        session.commit()
    card = dispatcher_for(demo_copy, now=later).handle_message(Incoming("console", "host2", "/mykpi"))
    assert card is not None
    notes = [b.text for b in card.blocks if isinstance(b, Note)]
    assert notes == [   # host2 reads Chinese
        "未计分（无目标或无数据）：直播场次, 发布视频数, 平均观看时长, 互动率, 新增粉丝",
        "数据截至 2027-01-06 19:00（Asia/Jakarta）· 模板 host-cold-start",
        f"暂无更新的 IDR->USD 汇率：按 {DEMO_TODAY.isoformat()} 的汇率换算。",
        "MYR 金额未计入：没有 MYR->USD 汇率。请管理员补充（kpibot fx set）。",
        "订单按付款时间计入 · 退款已扣除",   # the counting rules, last (cards.counting)
    ]


def test_the_history_feed_fills_working_days_the_store_lacks() -> None:
    from bot.jobs.fx_rates import missed_a_working_day

    monday, friday = date(2026, 11, 16), date(2026, 11, 20)
    assert missed_a_working_day(monday, friday) is True             # Tue-Thu would keep Monday's rate
    assert missed_a_working_day(friday, date(2026, 11, 23)) is False  # the weekend: nothing published
    assert missed_a_working_day(friday, friday) is False
    assert missed_a_working_day(date(2026, 11, 19), friday) is False  # yesterday's is there: today's is daily


def test_kpibot_fx_update_runs_the_daily_job_once(tmp_path: Path, cli: InProcess) -> None:
    days = {date(2026, 11, 19): {"USD": "1.0832", "IDR": "17210.55"},
            date(2026, 11, 20): {"USD": "1.0851", "IDR": "17233.10"}}
    with FakeEcb(days) as feed:
        config = f'[store]\nurl = "sqlite:///store.db"\n[fx]\nurl = "{feed.daily_url}"\nhistory_url = "{{}}"\n'
        (tmp_path / "config.toml").write_text(config.format(feed.history_url), encoding="utf-8")
        assert cli(tmp_path, "db", "upgrade").returncode == 0
        first = cli(tmp_path, "fx", "update")
        assert (first.returncode, first.stdout, first.stderr) == (
            0, f"exchange rates from {feed.history_url}: 4 read (4 new, 0 changed, 0 unchanged)\n", "")
        again = cli(tmp_path, "fx", "update")   # Sunday 22 November: Friday's rate is the newest
        assert (again.returncode, again.stdout) == (
            0, f"exchange rates from {feed.daily_url}: 2 read (0 new, 0 changed, 2 unchanged)\n")
        missing = feed.base_url + "/nothing-here.xml"   # a 404 is not retried
        (tmp_path / "config.toml").write_text(config.format(missing), encoding="utf-8")
        store = _engine(tmp_path)
        with Session(store) as session:   # no rates: the history feed is read
            for row in session.exec(select(FxRateRow)).all():
                session.delete(row)
            session.commit()
        store.dispose()
        failed = cli(tmp_path, "fx", "update")
        one_line = (f"kpibot: exchange rates not fetched from {missing}: request: ECB rates: HTTP 404 (code 404); "
                    "cards keep the latest earlier rates\n")
        assert (failed.returncode, failed.stdout, failed.stderr) == (1, "", one_line)
        # a real process, whose logging writes to stderr: the job's warning is not printed as well
        process = kpibot(tmp_path, "fx", "update")
        assert (process.returncode, process.stdout, process.stderr) == (1, "", one_line)


def _engine(folder: Path) -> Engine:
    from storage.engine import make_engine

    return make_engine(f"sqlite:///{folder / 'store.db'}")


def test_kpibot_fx_list_shows_the_stored_rates_and_the_day_each_currency_in_use_converts_from(
        engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates as stored, newest first, of the organisation's last 14 days (its zone: 01:00 on 23 November in
    Shanghai); then each currency of the shops and orders with the day of the rate a card converts it to USD with:
    IDR through EUR (23 November), SGD by the inverse of USD->SGD (20 November), MYR (an order's) none."""
    monkeypatch.setenv("KPIBOT_NOW", "2026-11-22T17:00:00+00:00")
    config = tmp_path / "kpibot.toml"
    config.write_text(f'[store]\nurl = "{engine.url.render_as_string(hide_password=False)}"\n', encoding="utf-8")
    cli = Cli(config, capsys, monkeypatch)
    paid = datetime(2026, 11, 21, 3, tzinfo=UTC)
    with Session(engine) as s:
        org = Organisation(code="acme", name="Acme")
        s.add(org)
        s.flush()
        assert org.id is not None
        shops = [Shop(org_id=org.id, code=code, name=name, platform="file", region=region, currency=currency,
                      timezone="UTC") for code, name, region, currency in (
                     ("us1", "US", "US", "USD"), ("sg1", "Singapore", "SG", "SGD"), ("id1", "Jakarta", "ID", "IDR"))]
        s.add_all(shops)
        s.flush()
        assert shops[1].id is not None
        s.add(Order(shop_id=shops[1].id, platform_order_id="o-1", status="paid", currency="MYR", subtotal_minor=500,
                    merchandise_minor=500, total_minor=500, units=1, created_at=paid, paid_at=paid))
        s.add_all(FxRateRow(day=day, base=base, quote=quote, rate=D(rate), source=source) for day, base, quote, rate,
                  source in ((date(2026, 11, 23), "EUR", "USD", "1.0851", "ecb"),
                             (date(2026, 11, 23), "EUR", "IDR", "17233.10", "ecb"),
                             (date(2026, 11, 20), "USD", "SGD", "1.3400", "manual"),
                             (date(2026, 11, 10), "EUR", "USD", "1.0790", "import"),
                             (date(2026, 11, 9), "EUR", "USD", "1.08", "import")))
        s.commit()
    currencies = ("\ncurrencies in use, converted to USD on 2026-11-23 with the rate of:\n"
                  "IDR   2026-11-23         Jakarta (id1)\n"
                  "MYR   no rate            Singapore (sg1)\n"
                  "SGD   2026-11-20         Singapore (sg1)\n"
                  "USD   reporting currency US (us1)\n")
    assert cli("fx", "list") == (0, "day         base  quote rate                 source\n"
                                    "2026-11-23  EUR   IDR   17233.10             ecb\n"
                                    "2026-11-23  EUR   USD   1.0851               ecb\n"
                                    "2026-11-20  USD   SGD   1.3400               manual\n"
                                    "2026-11-10  EUR   USD   1.0790               import\n" + currencies, "")
    assert cli("fx", "list", "--base", "eur", "--quote", "USD", "--days", "15") == (
        0, "day         base  quote rate                 source\n"
           "2026-11-23  EUR   USD   1.0851               ecb\n"
           "2026-11-10  EUR   USD   1.0790               import\n"
           "2026-11-09  EUR   USD   1.08                 import\n" + currencies, "")
    assert cli("fx", "list", "--quote", "JPY", "--days", "1") == (
        0, "no rates stored from 2026-11-23 to 2026-11-23\n" + currencies, "")
    assert cli("fx", "list", "--days", "0") == (2, "", "kpibot: --days must be at least 1, got 0\n")
    assert cli("fx", "list", "--base", "XXX") == (2, "", "kpibot: unknown currency 'XXX'\n")
