"""/link (tracked link and QR code) and /creators (ranking by credited net GMV) on the demo store."""

from __future__ import annotations

import struct
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cards.model import Image, Table, Text
from cards.render_text import render_text
from tests.conftest import DEMO_NOW, dispatcher_for
from tests.test_commands import fields, say


@pytest.fixture(scope="module")
def demo(module_demo: Engine) -> Engine:
    return module_demo


def test_link_gives_the_same_tracked_link_and_a_qr_code(demo: Engine) -> None:
    d = dispatcher_for(demo)
    url = "https://shop.example.com/products/Glow-Serum?ref=x&utm_source=old"
    card = say(d, "lead2", f"/link glowwithmia {url}")
    link = next(b.text for b in card.blocks if isinstance(b, Text))
    assert link.startswith("https://shop.example.com/products/Glow-Serum?ref=x&utm_source=kpibot&utm_medium=creator"
                           "&utm_campaign=creator-glowwithmia&utm_content=glow-serum-")
    f = fields(card)
    assert f["utm_campaign"] == "creator-glowwithmia" and link.endswith(f["utm_content"])
    qr = next(b for b in card.blocks if isinstance(b, Image))
    assert qr.png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", qr.png[16:24])
    assert width == height and width % 8 == 0     # 8 px a module
    assert render_text(card).rstrip().endswith(
        "New link. Orders from visits through it within 30 days are credited to the creator, unless the platform's "
        "affiliate data or a promo code names someone.")
    assert "Try: /link CREATOR PRODUCT-URL" in render_text(say(d, "lead2", f"/link Mia Johnson {url}"))
    again = say(d, "lead2", f"/link GLOWWITHMIA {url}")   # any case: the same link, not a new one
    assert next(b.text for b in again.blocks if isinstance(b, Text)) == link
    assert "This creator already has this link." in render_text(again)
    with demo.connect() as c:
        assert c.execute(text("SELECT count(*) FROM tracked_link WHERE utm_campaign = 'creator-glowwithmia'"))\
            .scalar_one() == 2   # the demo's own link and this one


def test_link_mistakes(demo: Engine) -> None:
    d = dispatcher_for(demo)
    assert "ftp://x is not a product link" in render_text(say(d, "lead2", "/link glowwithmia ftp://x"))
    assert render_text(say(d, "lead2", "/link nobody https://x.com/p")).rstrip().endswith(
        "No creator nobody. Creators: belanjahemat.rizky, dealsbyjordan, glowwithmia, homehacks.sam, "
        "londonlooks.chloe, racunshopee.dinda.")


def test_creators_rank_by_credited_net_gmv_computed_independently(demo: Engine) -> None:
    d = dispatcher_for(demo)
    card = say(d, "lead2", "/creators")      # lead2 reads English
    table = next(b for b in card.blocks if isinstance(b, Table))
    rows = {r[0]: r for r in table.rows}
    # Mia sells in the USD shop: plain SQL over her credited orders paid in November in lead2's zone
    with demo.connect() as c:
        zone = ZoneInfo(c.execute(text("SELECT timezone FROM member WHERE code = 'lead2'")).scalar_one())
        start = datetime(2026, 11, 1, tzinfo=zone)
        net, count = c.execute(text(
            "SELECT sum(o.merchandise_minor - min(o.refunded_minor, o.merchandise_minor)), count(*) "
            "FROM shop_order o JOIN creator c ON c.id = o.creator_id WHERE c.handle = '@glowwithmia' "
            "AND o.attribution_rule IN ('affiliate', 'promo_code', 'tracked_link') AND o.cancelled_at IS NULL "
            "AND o.paid_at >= :start AND o.paid_at <= :now"),
            {"start": start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S"),
             "now": DEMO_NOW.strftime("%Y-%m-%d %H:%M:%S")}).one()
    assert rows["Mia Johnson"][1] == f"{Decimal(net) / 100:,.2f} USD"
    assert rows["Mia Johnson"][2] == str(count)
    assert rows["Mia Johnson"][4] == f"{Decimal(net) / 100 * Decimal('0.15'):,.2f} USD"
    nets = [Decimal(r[1].split()[0].replace(",", "")) for r in table.rows]
    assert nets == sorted(nets, reverse=True)
    assert "is for team lead and above" in render_text(say(d, "host1", "/creators"))
