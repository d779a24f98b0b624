"""Acceptance (issue 20): a real organisation, from an empty store to a host's correct /mykpi, without the demo.

Only kpibot commands, as README "Set up your organisation" walks a new admin through them: `db upgrade`, `org init`,
`teams add|set`, `templates init|apply`, `members import` with TikTok handles, `shops add` + `sync` against the fake
TikTok Shop, `chat --as ... /target set` and `/mykpi`, `fx update` against the fake ECB feed. No SQL, no demo.

Every expected figure is worked out here by hand from the fakes' seeds (tests.fakes.shop_seed, the FX days
below), never by kpibot's own code: an order is a host's when it was paid while one of their sessions was on air or in
the 30-minute tail after it (of two sessions, the one on air beats the one in its tail, then the later start); its
value is its merchandise (sub_total: after seller and platform discounts) less its completed refunds (capped at
the merchandise), and it does not count once cancelled. It counts at payment, or at shipment (TikTok's rts_time)
with `kpibot org set --count-orders-at shipped`, inside the month of the host's zone, up to now.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from tests.clock import DEMO_NOW
from tests.conftest import fresh_engine
from tests.fakes.ecb import FakeEcb
from tests.fakes.shop_seed import COMPLETED_RETURN_STATUSES, SeedLive, SeedOrder
from tests.fakes.tiktok_shop import FakeTikTokShop
from tests.test_cli_shops import Cli as InProcessCli

NOW = DEMO_NOW                                  # 2026-11-22 12:00 UTC: 04:00 in Los Angeles
LATER = NOW + timedelta(days=45)                # 2027-01-06 12:00 UTC: 19:00 in Jakarta
TAIL = timedelta(minutes=30)                    # [attribution] live_tail_minutes, its default
LA, JAKARTA = ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Jakarta")
# The fake ECB feed: euro reference rates of the working days before LATER's, as the ECB publishes them (at 16:00
# CET; none on weekends nor on TARGET holidays, here 25 December and 1 January; the latest earlier rate serves):
# 2026-12-21 to 2027-01-05, 10 days.
TARGET_HOLIDAYS = {date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)}
ECB_DAYS = {date(2026, 12, 21) + timedelta(days=d): {"USD": f"1.08{d:02d}", "IDR": f"{17200 + 7 * d}.50"}
            for d in range(16) if (date(2026, 12, 21) + timedelta(days=d)).weekday() < 5
            and date(2026, 12, 21) + timedelta(days=d) not in TARGET_HOLIDAYS}

MEMBERS = ("member,name,role,team,timezone,locale,feishu_open_id,tiktok_handle\n"
           "hana,Hana Lee,host,live-us,America/Los_Angeles,en,ou_hana,hana.live\n"
           "ivy,Ivy Park,host,live-us,America/Los_Angeles,en,ou_ivy,ivy.live\n"
           "max,Max Wu,lead,live-us,America/Los_Angeles,en,ou_max,\n")
MEMBERS_ID = ("member,name,role,team,timezone,locale,feishu_open_id,tiktok_handle\n"
              "budi,Budi Santoso,host,live-id,Asia/Jakarta,en,ou_budi,budi.live\n"
              "sari,Sari Dewi,lead,live-id,Asia/Jakarta,en,ou_sari,\n")


class Cli(InProcessCli):
    """`kpibot --config FILE ...` in this process at a pinned clock: (exit code, stdout, stderr)."""

    def __init__(self, folder: Path, store: Engine, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(folder / "config.toml", capsys, monkeypatch)
        self.folder = folder
        self.store_url = store.url.render_as_string(hide_password=False)
        self.configure("")
        self.at(NOW)

    def at(self, now: datetime) -> None:
        self.monkeypatch.setenv("KPIBOT_NOW", now.isoformat())

    def configure(self, extra: str) -> None:
        self.config.write_text(f'[store]\nurl = "{self.store_url}"\n[charts]\ndir = "{self.folder / "charts"}"\n'
                               f'{extra}', encoding="utf-8")

    def ok(self, *args: str, stdin: str = "") -> str:
        code, out, err = self(*args, stdin=stdin)
        assert (code, err) == (0, ""), (args, out)
        return out


def tiktok_section(fake: FakeTikTokShop) -> str:
    return (f'[platforms.tiktok_shop]\napp_key = "{fake.app_key}"\napp_secret = "{fake.app_secret}"\n'
            f'base_url = "{fake.base_url}"\nauth_url = "{fake.auth_base_url}"\n')


def tokens_json(fake: FakeTikTokShop) -> str:
    tokens = fake.initial_tokens()
    assert tokens.refresh_token and tokens.expires_at
    return json.dumps({"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
                       "expires_at": tokens.expires_at.isoformat(), "shop_cipher": tokens.extra["shop_cipher"]})


# --- the hand computation ---------------------------------------------------------------------------------------

def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def credited_to(order: SeedOrder, lives: tuple[SeedLive, ...], hosts: dict[str, str]) -> str | None:
    """The member an order is credited to by the live-session rule (no creator in this shop is a member)."""
    if order.paid_time is None:
        return None
    inside = [s for s in lives if s.username in hosts and s.start_time <= order.paid_time < s.end_time + TAIL.seconds]
    if not inside:
        return None
    best = min(inside, key=lambda s: (order.paid_time >= s.end_time, -s.start_time))   # type: ignore[operator]
    return hosts[best.username]


@dataclass(frozen=True)
class Counted:
    order: SeedOrder
    moment: int           # paid or shipped, Unix seconds
    net_minor: int        # merchandise less completed refunds (capped), in the shop's minor units


def counted(fake: FakeTikTokShop, member: str, hosts: dict[str, str], month_start: datetime, now: datetime,
            at_shipment: bool) -> list[Counted]:
    """`member`'s counted, not cancelled orders of the month so far, each with its net value."""
    tl = fake.timeline
    out = []
    for index in range(tl.total_orders):
        o = tl.current(index)
        if credited_to(o, tl.lives, hosts) != member:
            continue
        moment = o.collection_time if at_shipment else o.paid_time   # the fake renders collection_time as rts_time
        if moment is None or not month_start <= _utc(moment) <= now:
            continue
        if o.cancel_time is not None and _utc(o.cancel_time) <= now:
            continue
        refunded = sum(r.total_minor for r in o.returns
                       if r.status in COMPLETED_RETURN_STATUSES and _utc(o.update_time) <= now)
        out.append(Counted(o, moment, o.sub_total_minor - min(refunded, o.sub_total_minor)))
    return out


def money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


# --- the scenario ----------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    store = fresh_engine(request.param, tmp_path)
    yield store
    store.dispose()


@pytest.mark.wallclock   # the fake checks the signatures' timestamps against the wall clock
def test_an_organisation_from_an_empty_store_to_correct_cards(empty_store: Engine, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(tmp_path, empty_store, capsys, monkeypatch)
    cli.ok("db", "upgrade")
    cli.ok("org", "init", "--name", "Acme Live", "--currency", "USD", "--timezone", "Asia/Shanghai", "--locale", "en")
    cli.ok("teams", "add", "live-us", "--name", "Live US", "--timezone", "America/Los_Angeles", "--stage", "growth",
           "--country", "US")
    templates = tmp_path / "templates.toml"
    cli.ok("templates", "init", str(templates))
    cli.ok("templates", "apply", str(templates))
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    assert cli.ok("members", "import", str(members)) == f"imported {members}: 3 new, 0 updated\n"
    cli.ok("teams", "set", "live-us", "--lead", "max")
    cli.ok("chat", "--as", "max", "/target set hana net_gmv 20000")

    start = int((NOW - timedelta(days=20)).timestamp())
    with FakeTikTokShop(seed=3, n_orders=120, start=start, span_s=19 * 86_400,
                        live_hosts=("hana.live", "ivy.live")) as us:
        # a refund and a cancellation on two of hana's orders, the day before NOW
        us.update_order("576400000000000078", refund="RETURN_AND_REFUND")
        us.update_order("576400000000000103", status="CANCELLED")
        cli.configure(tiktok_section(us))
        cli.ok("shops", "add", "tts-us", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "America/Los_Angeles", "--team", "live-us", "--tokens-stdin", stdin=tokens_json(us))
        assert cli.ok("sync").splitlines()[-1] == (
            "host credit: 113 paid orders, 0 by the platform, 12 by live session, 0 by the roster, 101 nobody's; "
            "0 handles match no member")
        hosts, month = {"hana.live": "hana", "ivy.live": "ivy"}, datetime(2026, 11, 1, tzinfo=LA)
        paid = counted(us, "hana", hosts, month, NOW, at_shipment=False)
        # 6 orders paid in her sessions or their tails this month: ...078 less its refund of one 38.16 line,
        # ...103 cancelled
        assert [(c.order.order_id[-3:], c.net_minor) for c in paid] == [
            ("047", 6199), ("050", 2610), ("061", 4500), ("078", 8820 - 3816), ("113", 9998)]
        net_paid = sum((Decimal(c.net_minor) for c in paid), Decimal(0)) / 100
        assert net_paid == Decimal("283.11")
        card = cli.ok("chat", "--as", "hana", "/mykpi")
        assert f"This month so far · Net GMV  {money(net_paid)} USD / 20,000.00 USD" in card, card

        # the same month counted at shipment (rts_time) instead
        cli.ok("org", "set", "--count-orders-at", "shipped")
        shipped = counted(us, "hana", hosts, month, NOW, at_shipment=True)
        # ...048 was paid in October and shipped in November; the others are not shipped yet (or not in November)
        assert [(c.order.order_id[-3:], c.net_minor) for c in shipped] == [("048", 2700), ("061", 4500),
                                                                           ("113", 9998)]
        net_shipped = sum((Decimal(c.net_minor) for c in shipped), Decimal(0)) / 100
        assert net_shipped == Decimal("171.98")
        card = cli.ok("chat", "--as", "hana", "/mykpi")
        assert f"This month so far · Net GMV  {money(net_shipped)} USD / 20,000.00 USD" in card, card
        assert cli.ok("org", "set", "--count-orders-at", "paid").endswith("orders count when paid, refunds netted\n")

    # 45 days on: an Indonesian team and its IDR shop, rates from the ECB feed
    cli.at(LATER)
    cli.ok("teams", "add", "live-id", "--name", "Live ID", "--timezone", "Asia/Jakarta", "--country", "ID")
    members.write_text(MEMBERS_ID, encoding="utf-8")
    assert cli.ok("members", "import", str(members)) == f"imported {members}: 2 new, 0 updated\n"
    cli.ok("teams", "set", "live-id", "--lead", "sari")
    cli.ok("chat", "--as", "sari", "/target set budi net_gmv 5000")
    start = int((LATER - timedelta(days=5)).timestamp())
    with FakeTikTokShop(seed=5, n_orders=200, start=start, span_s=5 * 86_400 - 3600, currency="IDR",
                        shop_tz="Asia/Jakarta", shop_cipher="ROW_cipher_id", live_hosts=("budi.live",),
                        price_scale=10_000) as idr, \
            FakeEcb(dict(ECB_DAYS)) as ecb:
        cli.configure(tiktok_section(idr) + f'[fx]\nurl = "{ecb.daily_url}"\nhistory_url = "{ecb.history_url}"\n')
        cli.ok("shops", "add", "tts-id", "--platform", "tiktok_shop", "--region", "ID", "--currency", "IDR",
               "--timezone", "Asia/Jakarta", "--team", "live-id", "--tokens-stdin", stdin=tokens_json(idr))
        # every TikTok shop is reached through the one [platforms.tiktok_shop]; a fake serves one shop, so the
        # US shop (whose fake is gone) is left out of this sync
        assert cli.ok("sync", "--shop", "tts-id").splitlines()[-1] == (
            "host credit: 192 paid orders, 0 by the platform, 23 by live session, 0 by the roster, 169 nobody's; "
            "0 handles match no member")
        assert cli.ok("fx", "update") == (f"exchange rates from {ecb.history_url}: 20 read (20 new, 0 changed, "
                                          "0 unchanged)\n")   # a first run reads the 90-day history
        card = cli.ok("chat", "--as", "budi", "/mykpi")
        kept = counted(idr, "budi", {"budi.live": "budi"}, datetime(2027, 1, 1, tzinfo=JAKARTA), LATER, False)
        total = Decimal(0)
        for c in kept:
            day = max(d for d in ECB_DAYS if d <= _utc(c.moment).date())
            rate = Decimal(ECB_DAYS[day]["USD"]) / Decimal(ECB_DAYS[day]["IDR"])
            total += Decimal(c.net_minor) / 100 * rate
        # 4 orders in January (Jakarta), all converted at the rates of Thursday 31 December: 1 January is a TARGET
        # holiday with no rate, and the Sunday 3rd takes the latest earlier one too:
        # 1,159,520.00 IDR x 1.0810 / 17270.50 = 72.5770... USD
        assert [(c.order.order_id[-3:], c.net_minor, _utc(c.moment).date().isoformat()) for c in kept] == [
            ("057", 25_990_000, "2027-01-01"), ("138", 39_980_000, "2027-01-01"), ("158", 19_992_000, "2027-01-01"),
            ("175", 29_990_000, "2027-01-03")]
        assert date(2027, 1, 1) not in ECB_DAYS and ECB_DAYS[date(2026, 12, 31)] == {"USD": "1.0810", "IDR": "17270.50"}
        assert money(total) == "72.58"
    assert f"This month so far · Net GMV  {money(total)} USD / 5,000.00 USD" in card, card
