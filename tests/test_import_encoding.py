"""`--encoding ENC` on every file import but the shop exports' (tests/test_file_import covers `kpibot import`):
members, targets, products, the live roster and fx rates, each through the CLI on an empty store set up with
kpibot's own commands. A cp1252 file (Excel's "CSV" on a Western Windows) is neither UTF-8 nor GB18030: refused
without the flag, read with it; an encoding Python does not know is refused by name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.models import FxRateRow, LiveRoster, Member, Product, Target
from tests.test_cli_shops import Cli, cli  # noqa: F401  (the fixture)

# Each cp1252 é / no-break space is followed by a comma or a line end, so no byte pair reads as GB18030 either.
FILES = {
    "members": "member,name,role\nhost9,José,host\n",
    "targets": "period,member,metric,value\n2026-12,josé,gmv,1000\n",
    "products": "shop,product,sku,name,unit_cost\nus1,p1,s1,Café José,3.50\n",
    "roster": "shop,member,start,end\nus1,josé,2026-11-20T20:00,2026-11-20T22:00\n",
    "fx": "day,base,quote,rate\n2026-11-20,EUR,USD,1.0850\xa0\n",   # fx has no text column: a no-break space
}
COMMANDS = {
    "members": ("members", "import"),
    "targets": ("targets", "import"),
    "products": ("products", "import"),
    "roster": ("lives", "roster", "import"),
    "fx": ("fx", "import"),
}
REFUSED = {"fx": "nothing stored"}    # the others: "nothing imported"
DONE = {
    "members": "imported {}: 1 new, 0 updated\n",
    "targets": "imported {}: 1 targets, 0 country baselines\n",
    "products": "imported {}: 1 new products, 0 updated, 1 new SKUs; no stock\n",
    "roster": "roster {}: imported; 0 sessions got their host, 0 orders credited by live session, 0 by the roster\n",
    "fx": "imported {}: 1 rates (1 new, 0 changed, 0 unchanged)\n",
}


def _stored(engine: Engine, what: str) -> object:
    with Session(engine) as s:
        if what == "members":
            return s.exec(select(Member.name).where(Member.code == "host9")).one()
        jose = s.exec(select(Member.id).where(Member.code == "josé")).first()
        if what == "targets":
            return s.exec(select(Target.subject, Target.period, Target.metric_key, Target.value)).all()
        if what == "products":
            return s.exec(select(Product.platform_product_id, Product.name)).all()
        if what == "roster":
            return [(r.member_id == jose, r.started_at, r.ended_at) for r in s.exec(select(LiveRoster))]
        return s.exec(select(FxRateRow.base, FxRateRow.quote, FxRateRow.rate)).all()


EXPECTED: dict[str, Callable[[Engine], object]] = {
    "members": lambda e: "José",
    "targets": lambda e: [(f"member:{_jose_id(e)}", "2026-12", "gmv", D("1000.00"))],
    "products": lambda e: [("p1", "Café José")],
    "roster": lambda e: [(True, datetime(2026, 11, 21, 4, tzinfo=UTC), datetime(2026, 11, 21, 6, tzinfo=UTC))],
    "fx": lambda e: [("EUR", "USD", D("1.0850"))],
}


def _jose_id(engine: Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(Member.id).where(Member.code == "josé")).one() or 0


@pytest.mark.parametrize("what", list(COMMANDS))
def test_every_file_import_takes_encoding(what: str, cli: Cli, engine: Engine,  # noqa: F811
                                          tmp_path: Path) -> None:
    """Setup in UTF-8 (a team, a shop in Los Angeles, the member josé), then the cp1252 file three ways."""
    assert cli("org", "init", "--name", "Acme", "--currency", "USD", "--timezone", "UTC")[0] == 0
    assert cli("shops", "add", "us1", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "America/Los_Angeles")[0] == 0
    people = tmp_path / "people.csv"
    people.write_text("member,name,role\njosé,José García,host\n", encoding="utf-8")
    assert cli("members", "import", str(people))[0] == 0
    path = tmp_path / f"{what}.csv"
    path.write_bytes(FILES[what].encode("cp1252"))
    before = REFUSED.get(what, "nothing imported")

    assert cli(*COMMANDS[what], str(path)) == (
        2, "", f"kpibot: {before}: {what}.csv is neither UTF-8 nor GB18030 (GBK) text; save it as 'CSV UTF-8', "
               "or pass its encoding with --encoding (e.g. --encoding cp1252)\n")
    assert cli(*COMMANDS[what], str(path), "--encoding", "latin-9x") == (
        2, "", f"kpibot: {before}: unknown encoding 'latin-9x' (e.g. utf-8, gbk, gb18030, utf-16, cp1252)\n")
    assert cli(*COMMANDS[what], str(path), "--encoding", "cp1252") == (0, DONE[what].format(path), "")
    assert _stored(engine, what) == EXPECTED[what](engine)
