"""Loads what a member (or, for a lead, their team) did in a time range as scoring facts.

Scope by role:
- host: orders credited to them (their live sessions and videos), their live sessions and videos.
- ad_buyer: their ad-spend rows; the team's shops' orders.
- operator: the team's shops' orders, products and inventory.
- selector: the products they selected; the team's shops' orders.
- lead: everything in the team's shops.
Only the fact kinds a template reads are loaded (`needs`), so a host's card does not read inventory.
A member's own load leaves out the orders approved appeals took out of their numbers (storage.adjustments); the
team's load (a lead's view) keeps them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, literal, or_, select
from sqlmodel import Session

from scoring.facts import (
    Activity,
    AdFact,
    InventoryFact,
    LineFact,
    LiveFact,
    OrderFact,
    PostFact,
    ProductFact,
    RefundFact,
)
from scoring.money import from_minor
from scoring.roles import Role, Scope
from scoring.rules import CountOrdersAt, Rules
from storage.adjustments import excluded_orders, excluded_orders_of
from storage.models import (
    AdSpend,
    ContentPost,
    InventorySnapshot,
    LiveSession,
    Member,
    Order,
    OrderLine,
    Product,
    Refund,
    Shop,
    Sku,
)
from storage.order_sums import Read, read_sums, shape_moments

T = TypeVar("T")
ALL_FACTS = frozenset({"orders", "lines", "buyers", "lives", "posts", "ads", "products", "inventory",
                       "product_units"})


def team_shop_ids(session: Session, team_id: int | None, country: str | None = None) -> list[int]:
    """The team's shops; only those selling in `country` (Shop.region) when given."""
    if team_id is None:
        return []
    query = select(Shop.id).where(Shop.team_id == team_id)
    if country is not None:
        query = query.where(Shop.region == country)
    return list(session.execute(query).scalars())


class FactCache:
    """Memo of loads within one request: the members of a team who are scored on the team's orders (ad
    buyer, operator, selector, lead) share one read of them instead of one each.

    Given `now` and the rules, orders are read as sums for that `now` (storage.order_sums: a cost that grows with
    members and days, not orders) wherever the metrics need no order one by one (a buyer, a line's cost); `prefetch`
    reads a whole team's members' sums in one query."""

    def __init__(self, now: datetime | None = None, rules: Rules | None = None) -> None:
        self._orders: dict[tuple[object, ...], tuple[OrderFact, ...]] = {}
        self._sums: dict[tuple[object, ...], Read] = {}
        self._excluded: dict[tuple[object, ...], frozenset[int]] = {}
        self._own: dict[tuple[object, ...], tuple[object, ...]] = {}   # (kind, member, start, end) -> facts
        self.now = now
        self.rules = rules

    def shops(self, session: Session, team_id: int | None, country: str | None) -> list[int]:
        """team_shop_ids, read once per request."""
        key = ("shops", team_id, country)
        if key not in self._own:
            self._own[key] = tuple(team_shop_ids(session, team_id, country))
        return list(self._own[key])  # type: ignore[arg-type]

    def at(self, now: datetime) -> FactCache:
        """This cache read as of another `now` (the loads it holds are shared; sums are kept per `now`)."""
        other = FactCache(now, self.rules)
        other._orders, other._sums, other._excluded, other._own = self._orders, self._sums, self._excluded, self._own
        return other

    def excluded(self, session: Session, member_id: int, start: datetime, end: datetime) -> frozenset[int]:
        key = (member_id, start, end)
        if key not in self._excluded:
            self._excluded[key] = excluded_orders(session, member_id, start, end)
        return self._excluded[key]

    @property
    def sums(self) -> bool:
        return self.now is not None and self.rules is not None

    def orders(self, key: tuple[object, ...], load: Callable[[], tuple[OrderFact, ...]]) -> tuple[OrderFact, ...]:
        if key not in self._orders:
            self._orders[key] = load()
        return self._orders[key]

    def read(self, session: Session, start: datetime, end: datetime, member_id: int | None, shops: list[int],
             key: tuple[object, ...], products: list[int] | None, tz: str | None = None) -> Read | None:
        """The sums of a member's orders (`key` ("member", id)) or of `shops`' orders, less the orders appeals took
        out of `member_id`'s numbers, and of `products`; None: read the orders instead. The orders' and the
        products' are read and kept apart, so members of a team scored on its orders share the first."""
        excluded = self.excluded(session, member_id, start, end) if member_id is not None else frozenset()
        members = [member_id] if member_id is not None and key[0] == "member" else []
        ex = {members[0] if members else 0: excluded} if excluded else None
        full = (*key, start, end, (), excluded, self.now, tz)
        if full not in self._sums:
            got = self._read(session, start, end, members, shops, None, ex, tz)
            if got is None:
                return None
            self._sums[full] = next(iter(got.values()))
        if not products:
            return self._sums[full]
        of_products = (*key, start, end, tuple(products), excluded, self.now, tz, "products")
        if of_products not in self._sums:
            got = self._read(session, start, end, members, shops, products, ex, tz, orders=False)
            if got is None:
                return None
            self._sums[of_products] = next(iter(got.values()))
        return Read(self._sums[full].orders, self._sums[of_products].products)

    def own(self, kind: str, member_id: int, start: datetime, end: datetime) -> tuple[object, ...] | None:
        """A member's own live sessions, videos or ad days in [start, end) that `prefetch` read; None: not read."""
        return self._own.get((kind, member_id, start, end))

    def prefetch(self, session: Session, member_ids: list[int], start: datetime, end: datetime,
                 tz: str | None = None, orders_of: list[int] | None = None) -> None:
        """Read what these members did themselves in [start, end) with one query per kind for all of them, for the
        loads to find: their live sessions, videos, ad days and appeals' exclusions, and the sums of the orders
        credited to `orders_of` (default: all of them)."""
        if not member_ids:
            return
        day_from, day_to = (start - timedelta(days=1)).date(), (end + timedelta(days=1)).date()
        host, author, buyer = LiveSession.host_member_id, ContentPost.member_id, AdSpend.member_id
        for kind, by_member in (
                ("lives", _lives(session, host.in_(member_ids), start, end, host)),  # type: ignore[union-attr,arg-type]
                ("posts", _posts(session, author.in_(member_ids), start, end, author)),  # type: ignore[union-attr,arg-type]
                ("ads", _ads(session, buyer.in_(member_ids), day_from, day_to, buyer))):  # type: ignore[union-attr,arg-type]
            for m in member_ids:
                self._own[kind, m, start, end] = tuple(by_member.get(m, ()))
        for m, ids in excluded_orders_of(session, member_ids, start, end).items():
            self._excluded[m, start, end] = ids
        if not self.sums:
            return
        member_ids = member_ids if orders_of is None else orders_of
        excluded = {m: self.excluded(session, m, start, end) for m in member_ids}
        wanted = [m for m in member_ids
                  if ("member", m, start, end, (), excluded[m], self.now, tz) not in self._sums]
        if not wanted:
            return
        got = self._read(session, start, end, wanted, [], None, {m: excluded[m] for m in wanted if excluded[m]}, tz)
        if got is not None:
            for m, read in got.items():
                self._sums["member", m, start, end, (), excluded[m], self.now, tz] = read

    def _read(self, session: Session, start: datetime, end: datetime, members: list[int], shops: list[int],
              products: list[int] | None, excluded: dict[int, frozenset[int]] | None,
              tz: str | None, orders: bool = True) -> dict[int, Read] | None:
        assert self.now is not None and self.rules is not None
        cutoff = self.now - timedelta(days=self.rules.refund_maturity_days)
        return read_sums(session.connection(), self.rules.count_orders_at, start, end, self.now, cutoff,
                         members=members, shops=shops, products=products, excluded=excluded, tz=tz, orders=orders)


def load_activity(session: Session, member: Member, start: datetime, end: datetime,
                  needs: Iterable[str] = ALL_FACTS, cache: FactCache | None = None,
                  role: str | None = None, tz: str | None = None) -> Activity:
    """Facts of one member in [start, end). Orders are those paid or shipped in the range, with all their
    refunds. `role` measures the member as they were in another role (a month paid before a role change). `tz`:
    the zone of every window the activity is read in (whole local days), which lets the order sums come by day."""
    return _load(session, Role.parse(role or member.role), member.id, member.team_id, start, end, frozenset(needs),
                 cache, None, tz)


def load_team_activity(session: Session, team_id: int, start: datetime, end: datetime,
                       needs: Iterable[str] = ALL_FACTS, cache: FactCache | None = None,
                       country: str | None = None, tz: str | None = None) -> Activity:
    """Everything in the team's shops in [start, end), as a lead sees it; in one country's shops when given."""
    return _load(session, Role.LEAD, None, team_id, start, end, frozenset(needs), cache, country, tz)


def _load(session: Session, role: Role, member_id: int | None, team_id: int | None, start: datetime,
          end: datetime, wanted: frozenset[str], cache: FactCache | None, country: str | None,
          tz: str | None) -> Activity:
    shops = cache.shops(session, team_id, country) if cache is not None else team_shop_ids(session, team_id, country)
    by_member = role.scope is Scope.OWN
    day_from, day_to = (start - timedelta(days=1)).date(), (end + timedelta(days=1)).date()

    products: tuple[ProductFact, ...] = ()
    if "products" in wanted:
        who = Product.selector_member_id == member_id if role is Role.SELECTOR else Product.shop_id.in_(shops)  # type: ignore[attr-defined]
        products = _products(session, who, day_from, day_to)
    orders: tuple[OrderFact, ...] = ()
    sums: Read | None = None
    if "orders" in wanted and cache is not None and cache.sums and not wanted & {"lines", "buyers"}:
        key = ("member", member_id) if by_member else ("team", team_id, country)
        sums = cache.read(session, start, end, member_id, [] if by_member else shops, key,
                          sorted(p.product_id for p in products) if "product_units" in wanted else None, tz)
    if "orders" in wanted and sums is None:
        if "product_units" in wanted:
            wanted = wanted | {"lines"}
        owner = Order.member_id == member_id if by_member else Order.shop_id.in_(shops)  # type: ignore[union-attr]
        with_lines, with_buyers = "lines" in wanted, "buyers" in wanted
        key = ("member", member_id) if by_member else ("team", team_id, country)
        orders = (cache or FactCache()).orders((*key, start, end, with_lines, with_buyers),
                                               lambda: _orders(session, owner, start, end, with_lines, with_buyers))
        if member_id is not None and orders:   # what approved appeals took out of the member's numbers
            excluded = cache.excluded(session, member_id, start, end) if cache is not None else \
                excluded_orders(session, member_id, start, end)
            orders = tuple(o for o in orders if o.order_id not in excluded) if excluded else orders
    def own(kind: str, read: Callable[[], dict[int, list[T]]]) -> tuple[T, ...]:
        """The member's own `kind` as FactCache.prefetch read them for the team, else `read` now."""
        got = cache.own(kind, member_id, start, end) if cache is not None and member_id is not None else None
        return got if got is not None else tuple(read()[0])  # type: ignore[return-value]

    lives: tuple[LiveFact, ...] = ()
    if "lives" in wanted:
        lives = own("lives", lambda: _lives(session, LiveSession.host_member_id == member_id, start, end)) \
            if by_member else tuple(_lives(session, LiveSession.shop_id.in_(shops), start, end)[0])  # type: ignore[attr-defined]
    posts: tuple[PostFact, ...] = ()
    if "posts" in wanted:
        posts = own("posts", lambda: _posts(session, ContentPost.member_id == member_id, start, end)) \
            if by_member else tuple(_posts(session, ContentPost.shop_id.in_(shops), start, end)[0])  # type: ignore[attr-defined]
    ads: tuple[AdFact, ...] = ()
    if "ads" in wanted:
        ads = tuple(_ads(session, AdSpend.shop_id.in_(shops), day_from, day_to)[0]) if role is Role.LEAD \
            else own("ads", lambda: _ads(session, AdSpend.member_id == member_id, day_from, day_to))  # type: ignore[attr-defined]
    inventory: tuple[InventoryFact, ...] = ()
    if "inventory" in wanted:
        inventory = _inventory(session, shops, day_from, day_to)
    return Activity(orders=orders, lives=lives, posts=posts, ads=ads, products=products, inventory=inventory,
                    order_sums=tuple(sums.orders) if sums else (), product_sums=tuple(sums.products) if sums else ())


def _orders(session: Session, owner: ColumnElement[bool], start: datetime, end: datetime,
            with_lines: bool, with_buyers: bool) -> tuple[OrderFact, ...]:
    in_range = or_(and_(Order.paid_at >= start, Order.paid_at < end),  # type: ignore[operator]
                   and_(Order.shipped_at >= start, Order.shipped_at < end))  # type: ignore[operator]
    rows = session.execute(
        select(Order.id, Order.currency, Order.merchandise_minor, Order.units, Order.created_at, Order.paid_at,
               Order.shipped_at, Order.cancelled_at, Order.buyer_ref).where(owner, in_range)
    ).all()
    ids = [r[0] for r in rows]
    firsts = _first_orders(session, {r[8] for r in rows if r[8]}) if with_buyers else set()
    refunds: dict[int, list[RefundFact]] = defaultdict(list)
    lines: dict[int, list[LineFact]] = defaultdict(list)
    for chunk in _chunks(ids, 5000):
        for oid, cur, amount, returned, at in session.execute(
            select(Refund.order_id, Refund.currency, Refund.amount_minor, Refund.returned_units, Refund.completed_at)
            .where(Refund.order_id.in_(chunk), Refund.status == "completed")  # type: ignore[attr-defined]
        ):
            refunds[oid].append(RefundFact(from_minor(amount, cur), at, returned))
        if with_lines:
            for oid, pid, qty, cost, cost_cur in session.execute(
                select(OrderLine.order_id, OrderLine.product_id, OrderLine.quantity, Sku.unit_cost_minor,
                       Sku.currency)
                .outerjoin(Sku, Sku.id == OrderLine.sku_id)
                .where(OrderLine.order_id.in_(chunk), OrderLine.product_id.is_not(None))  # type: ignore[attr-defined,union-attr]
            ):
                known = cost_cur is not None and cost
                lines[oid].append(LineFact(pid, qty, from_minor(cost * qty, cost_cur) if known else None,
                                           cost_cur if known else None))
    return tuple(
        OrderFact(oid, cur, from_minor(merch, cur), units, created, paid, shipped, cancelled,
                  tuple(refunds.get(oid, ())), tuple(lines.get(oid, ())), oid in firsts)
        for oid, cur, merch, units, created, paid, shipped, cancelled, _ in rows
    )


def _first_orders(session: Session, buyers: set[str]) -> set[int]:
    """Ids of each buyer's first paid, not cancelled order anywhere in the store (the earliest; the lowest id on a
    tie)."""
    first: dict[str, tuple[datetime, int]] = {}
    for chunk in _chunks(sorted(buyers), 2000):
        for buyer, paid, oid in session.execute(
            select(Order.buyer_ref, Order.paid_at, Order.id)
            .where(Order.buyer_ref.in_(chunk), Order.paid_at.is_not(None))  # type: ignore[union-attr]
        ):
            if buyer not in first or (paid, oid) < first[buyer]:
                first[buyer] = (paid, oid)
    return {oid for _, oid in first.values()}


NOBODY = literal(0)   # the key of a load that is not split by member


def _lives(session: Session, who: ColumnElement[bool], start: datetime, end: datetime,
           key: ColumnElement[Any] = NOBODY) -> dict[int, list[LiveFact]]:
    """Live sessions started in [start, end) that `who` selects, by `key` (a member column, or NOBODY)."""
    out: dict[int, list[LiveFact]] = defaultdict(list)
    for k, s, e, cur, g, vw, v, w, i, f in session.execute(
        select(key, LiveSession.started_at, LiveSession.ended_at, LiveSession.currency, LiveSession.gmv_minor,
               LiveSession.viewers, LiveSession.views, LiveSession.watch_seconds, LiveSession.interactions,
               LiveSession.new_followers)
        .where(who, LiveSession.started_at >= start, LiveSession.started_at < end)  # type: ignore[operator]
    ):
        out[k].append(LiveFact(s, e, cur, from_minor(g, cur), vw, v, w, i, f))
    return out


def _posts(session: Session, who: ColumnElement[bool], start: datetime, end: datetime,
           key: ColumnElement[Any] = NOBODY) -> dict[int, list[PostFact]]:
    out: dict[int, list[PostFact]] = defaultdict(list)
    for k, *row in session.execute(
        select(key, ContentPost.published_at, ContentPost.views, ContentPost.likes, ContentPost.add_to_cart,
               ContentPost.orders, ContentPost.new_followers)
        .where(who, ContentPost.published_at >= start, ContentPost.published_at < end)  # type: ignore[operator]
    ):
        out[k].append(PostFact(*row))
    return out


def _ads(session: Session, who: ColumnElement[bool], day_from: date, day_to: date,
         key: ColumnElement[Any] = NOBODY) -> dict[int, list[AdFact]]:
    out: dict[int, list[AdFact]] = defaultdict(list)
    for k, d, cur, sp, c, i, g, v in session.execute(
        select(key, AdSpend.day, AdSpend.currency, AdSpend.spend_minor, AdSpend.clicks, AdSpend.impressions,
               AdSpend.attributed_gmv_minor, AdSpend.live_room_visitors)
        .where(who, AdSpend.day >= day_from, AdSpend.day <= day_to)  # type: ignore[operator]
    ):
        out[k].append(AdFact(d, cur, from_minor(sp, cur), c, i, from_minor(g, cur), v))
    return out


def _products(session: Session, who: ColumnElement[bool], day_from: date, day_to: date) -> tuple[ProductFact, ...]:
    rows = session.execute(
        select(Product.id, Product.launched_on, Product.units_received)
        .where(who, Product.launched_on >= day_from, Product.launched_on <= day_to)  # type: ignore[operator]
    )
    return tuple(ProductFact(*row) for row in rows)


def _inventory(session: Session, shops: list[int], day_from: date, day_to: date) -> tuple[InventoryFact, ...]:
    totals: dict[date, int] = defaultdict(int)
    rows = session.execute(
        select(InventorySnapshot.day, InventorySnapshot.units_on_hand)
        .join(Sku, Sku.id == InventorySnapshot.sku_id).join(Product, Product.id == Sku.product_id)
        .where(Product.shop_id.in_(shops), InventorySnapshot.day >= day_from,  # type: ignore[attr-defined]
               InventorySnapshot.day <= day_to)  # type: ignore[operator]
    )
    for day, units in rows:
        totals[day] += units
    return tuple(InventoryFact(d, u) for d, u in sorted(totals.items()))


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def team_order_moments(session: Session, team_id: int, start: datetime, end: datetime,
                       at_shipment: bool = False) -> list[datetime]:
    """The counting moments (payment, or shipment when the organisation counts at shipment) in [start, end) of
    the team's shops' orders that were not cancelled: the history a team's pace shape is learned from
    (scoring.shape). Reads only the one timestamp column."""
    moment = Order.shipped_at if at_shipment else Order.paid_at
    query = (select(moment).join(Shop, Shop.id == Order.shop_id)
             .where(Shop.team_id == team_id, moment >= start, moment < end, Order.cancelled_at.is_(None),
                    Order.is_sample.is_(False)))  # type: ignore[union-attr, attr-defined]
    return list(session.execute(query).scalars())


def team_order_counts(session: Session, team_id: int, start: datetime, end: datetime,
                      basis: CountOrdersAt, tz: str | None = None,
                      cache: FactCache | None = None) -> list[tuple[datetime, int]] | None:
    """team_order_moments as (quarter-hour, orders) from the store's sums; None when an order changed in
    this transaction and is not yet summed (read team_order_moments instead). `cache`: the request's, whose
    team's shops are read once."""
    shops = cache.shops(session, team_id, None) if cache is not None else team_shop_ids(session, team_id)
    return shape_moments(session.connection(), shops, basis, start, end, tz)
