"""/link CREATOR PRODUCT-URL: the creator's tracked link to a product, with a QR code.

The link is the product URL with UTM parameters that name the creator (utm_campaign) and the product
(utm_content); orders whose customer came through it are credited to the creator (scoring.attribution,
rule 3). The same creator and URL always give the same link.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlmodel import Session

from cards.i18n import t
from cards.model import Card, Fields, Note, Text, Tone
from cards.qr import qr_image
from commands.context import Request
from commands.spec import Command
from services.errors import UserError
from storage.creators import creator_names, find_creator, link_for, tracked_url

USAGE = "/link CREATOR PRODUCT-URL"


def handle(req: Request) -> Card:
    if len(req.args) != 2:
        raise UserError("error.bad_args", problem=" ".join(req.args) or "—", usage=USAGE)
    who, url = req.args
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 1500:
        raise UserError("link.bad_url", url=url[:200])
    with Session(req.services.engine) as session:
        creator = find_creator(session, who)
        if creator is None:
            raise UserError("link.no_creator", name=who, creators=", ".join(creator_names(session)) or "—")
        link, created = link_for(session, creator, url)
        session.commit()
        full = tracked_url(link)
        name, campaign, content = creator.name or creator.handle, link.utm_campaign, link.utm_content
    lang = req.lang
    return Card(t(lang, "link.title", creator=name), (
        Text(full),
        qr_image(full, t(lang, "link.qr_alt", creator=name)),
        Fields(((t(lang, "link.creator"), f"{name} ({creator.handle})"), ("utm_campaign", campaign),
                ("utm_content", content))),
        Note(t(lang, "link.created" if created else "link.existing") + " " + t(lang, "link.how")),
    ), Tone.GOOD, lang)


SPEC = Command("link", ("链接", "推广链接"), "help.link", USAGE, handle)
