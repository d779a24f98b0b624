"""A creator added to a scenario store, and the tracked links /link made for them there."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.models import Creator, Organisation, TrackedLink


def add_creator(store: Engine, handle: str, name: str) -> None:
    """A creator of the store's (single, demo) organisation."""
    with Session(store) as session:
        org = session.exec(select(Organisation)).one()
        session.add(Creator(org_id=org.id, handle=handle, platform="tiktok_shop", name=name,
                            commission_rate=Decimal("0.10")))
        session.commit()


def links_of(store: Engine, handle: str) -> list[tuple[str, str, str]]:
    """(product URL, utm_campaign, utm_content) of the creator's tracked links."""
    with Session(store) as session:
        rows = session.exec(select(TrackedLink).join(Creator, TrackedLink.creator_id == Creator.id)
                            .where(Creator.handle == handle)).all()
        return [(r.product_url, r.utm_campaign, r.utm_content) for r in rows]
