"""Creators: the month's ranking by what is credited to them, and a creator's tracked link to a product.

`/creators` calls ranking and `/link` calls tracked_link; the figures are storage.creators' (defined in
scoring.attribution).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from scoring.periods import Window
from services.container import Services
from services.errors import UserError
from storage.creators import CreatorRow, creator_names, creator_ranking, find_creator, link_for, tracked_url
from storage.queries import fx_table


@dataclass(frozen=True)
class Link:
    url: str                 # the product URL with the creator's UTM parameters
    creator: str             # the creator's name, or their handle without one
    handle: str
    campaign: str            # utm_campaign: names the creator
    content: str             # utm_content: names the product
    created: bool            # made now (False: the creator had it already)


def ranking(services: Services, window: Window, now: datetime) -> list[CreatorRow]:
    """Creators ranked by credited net GMV in the window so far (in the reporting currency)."""
    with Session(services.engine) as session:
        fx = fx_table(session, now.date() + timedelta(days=1))
        return creator_ranking(session, window.start, min(window.end, now), services.rules, fx)


def tracked_link(services: Services, who: str, product_url: str) -> Link:
    """The creator's tracked link to the product, made and kept when it is new. `who`: a handle (with or
    without @) or a name. Raises UserError when no creator goes by it."""
    with Session(services.engine) as session:
        creator = find_creator(session, who)
        if creator is None:
            raise UserError("link.no_creator", name=who, creators=", ".join(creator_names(session)) or "—")
        link, created = link_for(session, creator, product_url)
        session.commit()
        return Link(tracked_url(link), creator.name or creator.handle, creator.handle, link.utm_campaign,
                    link.utm_content, created)
