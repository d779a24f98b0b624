"""The attribution job over stored orders (storage.attribution), on SQLite and PostgreSQL: which rule credits
which creator, precedence, the click window, self-referral, affiliate handles seen for the first time, orders
re-attributed when new evidence arrives, and refunds and cancellations reversing the credit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from scoring.fx import FxTable
from scoring.rules import Rules
from storage.attribution import AttributionCounts, attribute_orders
from storage.creators import add_own_buyer, creator_ranking
from storage.ingest.records import (
    AffiliateRecord,
    LineRecord,
    OrderRecord,
    OrderStatus,
    RefundKind,
    RefundRecord,
    RefundStatus,
    ReturnRecord,
    Visit,
)
from storage.ingest.writer import StoreWriter
from storage.models import Creator, Order, Organisation, PromoCode, Shop, TrackedLink

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
SAM_LINK = ("creator-homehacks.sam", "mug-3f2a1b")
MIA_LINK = ("creator-glowwithmia", "cap-9c8d7e")


def _order(pid: str, **changes: object) -> OrderRecord:
    """17.50 USD of goods, paid at T0."""
    order = OrderRecord(pid, OrderStatus.PAID, "USD", subtotal=D("17.50"), discount=D("0"), merchandise=D("17.50"),
                        shipping=D("0"), tax=D("0"), total=D("17.50"), created_at=T0, updated_at=T0, paid_at=T0,
                        lines=(LineRecord(f"{pid}-1", "P1", "P1-red", "Mug", 1, D("17.50"), D("17.50")),),
                        buyer_ref=f"buyer-{pid}")
    return order._replace(**changes)


def _click(days_before: float, link: tuple[str, str]) -> Visit:
    return Visit(T0 - timedelta(days=days_before), "tiktok", "creator", link[0], link[1])


def _affiliate(pid: str, handle: str, amount: str, rate: str = "0.10") -> AffiliateRecord:
    return AffiliateRecord(pid, "P1", handle, "VIDEO", None, D(rate), "USD", D(amount), 1, 0, "COMPLETED", T0, T0)


def _setup(engine: Engine) -> tuple[int, int, dict[str, int]]:
    """Two TikTok shops; creators mia (code MIA15, shop s0 only; a link), sam (a link), jo (code JO10, every
    shop, and a buyer id of jo's own)."""
    with Session(engine) as s:
        org = Organisation(code="o", name="Org")
        s.add(org)
        s.flush()
        shops = [Shop(org_id=org.id, code=f"s{i}", name=f"Shop {i}", platform="tiktok_shop", region="US",
                      currency="USD", timezone="America/Los_Angeles") for i in range(2)]
        creators = {name: Creator(org_id=org.id, handle=handle, platform="tiktok_shop", name=name,
                                  commission_rate=D(rate))
                    for name, handle, rate in (("mia", "@glowwithmia", "0.15"), ("sam", "@homehacks.sam", "0.20"),
                                               ("jo", "@jo.deals", "0.10"))}
        s.add_all([*shops, *creators.values()])
        s.flush()
        ids = {name: c.id for name, c in creators.items()}
        s.add_all([PromoCode(org_id=org.id, creator_id=ids["mia"], code="MIA15", shop_id=shops[0].id),
                   PromoCode(org_id=org.id, creator_id=ids["jo"], code="JO10", shop_id=None)])
        for name, (campaign, content) in (("sam", SAM_LINK), ("mia", MIA_LINK)):
            s.add(TrackedLink(org_id=org.id, creator_id=ids[name], product_url=f"https://shop.example/{content}",
                              utm_source="kpibot", utm_medium="creator", utm_campaign=campaign, utm_content=content))
        assert add_own_buyer(s, creators["jo"], "tiktok_shop", "buyer-jo-own") is True
        assert add_own_buyer(s, creators["jo"], "tiktok_shop", " buyer-jo-own ") is False   # known already
        s.commit()
        return shops[0].id, shops[1].id, ids  # type: ignore[return-value]


def _credit(engine: Engine) -> dict[str, tuple[str | None, str | None, bool]]:
    """platform order id -> (creator handle, rule, still due)."""
    with Session(engine) as s:
        rows = s.execute(select(Order.platform_order_id, Creator.handle, Order.attribution_rule, Order.attribution_due)
                         .outerjoin(Creator, Creator.id == Order.creator_id)).all()
    return {pid: (handle, rule, due) for pid, handle, rule, due in rows}


def test_each_rule_in_its_order_with_window_self_referral_and_new_affiliates(engine: Engine) -> None:
    s0, s1, ids = _setup(engine)
    writer = StoreWriter(engine)
    writer.write_page(s0, [
        _order("O1", promo_codes=("SAVE10", "mia15")),                        # first code that is a creator's
        _order("O2", promo_codes=("MIA15",)),                                 # + affiliate data: affiliate wins
        _order("O3", visits=(_click(10, SAM_LINK), _click(1, ("summer-sale", "x")))),   # unknown campaign
        _order("O4", visits=(_click(31, SAM_LINK), _click(-1 / 24, SAM_LINK))),  # too old; after the order
        _order("O5", promo_codes=("JO10",), buyer_ref="buyer-jo-own"),        # jo buying through jo's code
        _order("O6"),                                                         # two affiliates, same amount
        _order("O8", visits=(_click(5, SAM_LINK), _click(2, MIA_LINK), _click(29.9, SAM_LINK))),  # last click
        _affiliate("O2", "newcreator", "17.50", "0.155"),
        _affiliate("O6", "zed", "8.75"), _affiliate("O6", "@GlowWithMia", "8.75"),
    ])
    writer.write_page(s1, [_order("O7", promo_codes=("MIA15",))])             # MIA15 is not valid in s1
    assert set(_credit(engine).values()) == {(None, None, True)} and len(_credit(engine)) == 8   # all due

    counts = attribute_orders(engine)

    assert counts == AttributionCounts(orders=8, credited=5, self_referral=1, unattributed=2, changed=6,
                                       new_creators=2)
    assert _credit(engine) == {
        "O1": ("@glowwithmia", "promo_code", False),
        "O2": ("newcreator", "affiliate", False),
        "O3": ("@homehacks.sam", "tracked_link", False),
        "O4": (None, None, False),
        "O5": ("@jo.deals", "self_referral", False),
        "O6": ("@glowwithmia", "affiliate", False),      # tie on amount: "glowwithmia" before "zed"
        "O7": (None, None, False),
        "O8": ("@glowwithmia", "tracked_link", False),
    }
    with Session(engine) as s:
        new = s.execute(select(Creator.handle, Creator.platform, Creator.commission_rate)
                        .where(Creator.id.notin_(ids.values())).order_by(Creator.handle)).all()  # type: ignore[union-attr]
    assert [tuple(r) for r in new] == [("newcreator", "tiktok_shop", D("0.155")), ("zed", "tiktok_shop", D("0.10"))]

    assert attribute_orders(engine) == AttributionCounts()                    # nothing due: nothing done
    writer.write_page(s0, [_order("O1", promo_codes=("SAVE10", "mia15"))])   # the same again: not due
    assert attribute_orders(engine) == AttributionCounts()


def test_new_evidence_reattributes_and_refunds_and_cancellations_reverse_the_credit(engine: Engine) -> None:
    s0, s1, ids = _setup(engine)
    writer = StoreWriter(engine)
    writer.write_page(s0, [_order("O1", promo_codes=("MIA15",)), _order("O2", promo_codes=("MIA15",)),
                           _order("O3", visits=(_click(3, SAM_LINK),))])
    writer.write_page(s1, [_order("O7", promo_codes=("MIA15", "LATE5"))])
    assert attribute_orders(engine) == AttributionCounts(orders=4, credited=3, unattributed=1, changed=3)

    def ranking() -> list[tuple[str, int, D, D]]:
        with Session(engine) as s:
            rows = creator_ranking(s, T0 - timedelta(days=1), T0 + timedelta(days=1), Rules(), FxTable([]))
        return [(r.handle, r.orders, r.net, r.commission) for r in rows]

    assert ranking() == [("@glowwithmia", 2, D("35.00"), D("5.2500")), ("@homehacks.sam", 1, D("17.50"), D("3.5000"))]

    # the platform's affiliate data for O1 arrives later (handle without @, as TikTok sends it): sam's now
    later = T0 + timedelta(hours=2)
    writer.write_page(s0, [_affiliate("O1", "homehacks.sam", "17.50")._replace(updated_at=later)])
    assert attribute_orders(engine) == AttributionCounts(orders=1, credited=1, changed=1)
    # a completed refund of 5.00 on O2 and the cancellation of O3
    writer.write_page(s0, [ReturnRecord("O2", RefundRecord("O2-R1", RefundKind.REFUND, RefundStatus.COMPLETED, "USD",
                                                           D("5.00"), later, later), later),
                           _order("O3", visits=(_click(3, SAM_LINK),), status=OrderStatus.CANCELLED,
                                  cancelled_at=later, updated_at=later)])
    assert attribute_orders(engine) == AttributionCounts(orders=1, credited=1)   # O3: still sam's, cancelled
    assert ranking() == [("@homehacks.sam", 1, D("17.50"), D("3.5000")), ("@glowwithmia", 1, D("12.50"), D("1.8750"))]

    # a code added afterwards: only a run over every order finds the earlier order that used it
    with Session(engine) as s:
        org_id = s.execute(select(Organisation.id)).scalar_one()
        s.add(PromoCode(org_id=org_id, creator_id=ids["sam"], code="LATE5", shop_id=None))
        s.commit()
    assert attribute_orders(engine, [s1]) == AttributionCounts()
    assert attribute_orders(engine, [s1], everything=True) == AttributionCounts(orders=1, credited=1, changed=1)
    assert _credit(engine)["O7"] == ("@homehacks.sam", "promo_code", False)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Order).where(Order.attribution_due)).scalar_one() == 0


def test_a_narrower_window_drops_an_older_click(engine: Engine) -> None:
    s0, _, _ = _setup(engine)
    StoreWriter(engine).write_page(s0, [_order("O1", visits=(_click(6, SAM_LINK),))])
    assert attribute_orders(engine, window=timedelta(days=7)) == AttributionCounts(orders=1, credited=1, changed=1)
    counts = attribute_orders(engine, window=timedelta(days=5), everything=True)
    assert counts == AttributionCounts(orders=1, unattributed=1, changed=1)
    assert _credit(engine)["O1"] == (None, None, False)
