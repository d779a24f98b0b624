"""/link CREATOR PRODUCT-URL: the creator's tracked link to a product, with a QR code.

The link is the product URL with UTM parameters that name the creator (utm_campaign) and the product
(utm_content); orders whose customer came through it are credited to the creator (scoring.attribution,
rule 3). The same creator and URL always give the same link (services.creators.tracked_link).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cards.i18n import t
from cards.model import Card, Fields, Note, Text, Tone
from cards.qr import qr_image
from commands.context import Request
from commands.spec import Command
from services.creators import tracked_link
from services.errors import UserError

USAGE = "/link CREATOR PRODUCT-URL"


def handle(req: Request) -> Card:
    if len(req.args) != 2:
        raise UserError("error.bad_args", problem=" ".join(req.args) or "—", usage=USAGE)
    who, url = req.args
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 1500:
        raise UserError("link.bad_url", url=url[:200])
    link = tracked_link(req.services, who, url)
    lang, name = req.lang, link.creator
    return Card(t(lang, "link.title", creator=name), (
        Text(link.url),
        qr_image(link.url, t(lang, "link.qr_alt", creator=name)),
        Fields(((t(lang, "link.creator"), f"{name} ({link.handle})"), ("utm_campaign", link.campaign),
                ("utm_content", link.content))),
        Note(t(lang, "link.created" if link.created else "link.existing") + " " + t(lang, "link.how")),
    ), Tone.GOOD, lang)


SPEC = Command("link", ("链接", "推广链接"), "help.link", USAGE, handle, id_aliases=("tautan",))
