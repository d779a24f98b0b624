"""Creator attribution rules (pure): precedence, shop-bound codes, the window, last click, self-referral."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoring.attribution import (
    NOBODY,
    Attribution,
    Click,
    Directory,
    OrderEvidence,
    PromoOwner,
    Rule,
    attribute,
)

PLACED = datetime(2026, 11, 20, 12, tzinfo=UTC)
DIRECTORY = Directory(
    codes={"LINA10": PromoOwner(1, None), "MAYA5": PromoOwner(2, 7)},
    links={("creator-1", "lipstick"): 1, ("creator-3", "serum"): 3},
    own_buyers={2: frozenset({"buyer-maya"}), 3: frozenset({"buyer-zoe"})},
)


def order(**kw: object) -> OrderEvidence:
    base: dict[str, object] = {"shop_id": 7, "placed_at": PLACED}
    return OrderEvidence(**{**base, **kw})  # type: ignore[arg-type]


def click(days_before: float, campaign: str = "creator-3", content: str = "serum") -> Click:
    return Click(PLACED - timedelta(days=days_before), campaign, content)


def test_affiliate_data_beats_a_promo_code_which_beats_a_link() -> None:
    everything = order(affiliate_creator_id=9, promo_codes=("LINA10",), clicks=(click(1),))
    assert attribute(everything, DIRECTORY) == Attribution(9, Rule.AFFILIATE)
    assert attribute(order(promo_codes=("lina10",), clicks=(click(1),)), DIRECTORY) == Attribution(1, Rule.PROMO_CODE)
    assert attribute(order(clicks=(click(1),)), DIRECTORY) == Attribution(3, Rule.TRACKED_LINK)
    assert attribute(order(), DIRECTORY) == NOBODY


def test_a_code_bound_to_another_shop_or_unknown_is_skipped() -> None:
    assert attribute(order(shop_id=8, promo_codes=("MAYA5", "LINA10")), DIRECTORY) == Attribution(1, Rule.PROMO_CODE)
    assert attribute(order(promo_codes=("SUMMER", "MAYA5")), DIRECTORY) == Attribution(2, Rule.PROMO_CODE)
    assert attribute(order(promo_codes=("SUMMER",)), DIRECTORY) == NOBODY


def test_the_window_and_last_click() -> None:
    lina = ("creator-1", "lipstick")
    # the later of two clicks inside 30 days wins
    assert attribute(order(clicks=(click(20, *lina), click(2))), DIRECTORY) == Attribution(3, Rule.TRACKED_LINK)
    assert attribute(order(clicks=(click(2), click(1, *lina))), DIRECTORY) == Attribution(1, Rule.TRACKED_LINK)
    # exactly 30 days counts; 30 days and a second does not; after the order does not; no time does not
    assert attribute(order(clicks=(click(30),)), DIRECTORY) == Attribution(3, Rule.TRACKED_LINK)
    assert attribute(order(clicks=(Click(PLACED - timedelta(days=30, seconds=1), "creator-3", "serum"),)),
                     DIRECTORY) == NOBODY
    assert attribute(order(clicks=(click(-0.5),)), DIRECTORY) == NOBODY
    assert attribute(order(clicks=(Click(None, "creator-3", "serum"),)), DIRECTORY) == NOBODY
    # a configured 7-day window
    assert attribute(order(clicks=(click(8),)), DIRECTORY, timedelta(days=7)) == NOBODY
    # a click on a link kpibot did not make
    assert attribute(order(clicks=(click(1, "spring", "serum"),)), DIRECTORY) == NOBODY


def test_a_creator_buying_through_their_own_code_or_link_is_flagged_not_credited() -> None:
    own_code = attribute(order(promo_codes=("MAYA5",), buyer_ref="buyer-maya"), DIRECTORY)
    assert own_code == Attribution(2, Rule.SELF_REFERRAL) and not own_code.credited
    own_link = attribute(order(clicks=(click(1),), buyer_ref="buyer-zoe"), DIRECTORY)
    assert own_link == Attribution(3, Rule.SELF_REFERRAL) and not own_link.credited
    # someone else using the code is credited
    assert attribute(order(promo_codes=("MAYA5",), buyer_ref="buyer-zoe"), DIRECTORY).credited
