"""Live sessions and videos whose handle matches no member, reported to the organisation's admins once per
(platform, handle), ever (services.admin_notices): their orders are not credited through that account's sessions
and videos (a roster shift on air may still credit them) until an admin gives a member the handle (`kpibot
members handle MEMBER HANDLE --platform P`). The refresh job looks after each run, so the sessions and videos a
sync, a file import or a `kpibot sync` wrote are all seen. The handles new to an admin in one run reach them as
ONE message listing the first ten with their command and counting the rest (`kpibot credit --unmatched` lists
them all); each handle keeps its own claim, so a refused message is listed again whole by the next run and a
handle told is never listed again.

A handle matches no member when host crediting (services.crediting) left its rows without a member (no member
holds it or has it as code, no roster shift covered them) and it still matches nobody now: one function says so
for both (storage.crediting.unmatched_handles), so `kpibot credit --unmatched` lists the same. A handle once
reported is not reported again, even if it was matched and lost its member since.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from cards.i18n import t
from cards.model import Card, Text, Tone
from scoring.text import shown
from services.admin_notices import ONCE, admins_of, listed_card, tell_admins_each
from services.container import Services
from services.messaging import Messenger
from storage.crediting import handle_platform, unmatched_handles
from storage.models import Member, Shop
from storage.schedule import UNMATCHED_HANDLE, sent_today


@dataclass
class UnknownHandle:
    org_id: int
    platform: str        # where the handle lives: the shop's platform without "_shop" (storage.crediting)
    handle: str          # as compared (scoring.crediting.handle_key)
    sessions: int = 0
    videos: int = 0
    shops: list[str] = field(default_factory=list)   # "name (code)" of the shops with its rows, by code

    @property
    def subject(self) -> str:
        """The start of each admin's claim (the admin's id follows): a handle may be longer than a subject."""
        digest = hashlib.sha256(f"{self.platform}\n{self.handle}".encode()).hexdigest()[:24]
        return f"handle:{self.org_id}:{digest}:"


def unknown_handles(conn: Connection) -> list[UnknownHandle]:
    """Every (organisation, platform, handle) of sessions and videos without a member whose handle matches nobody
    now (storage.crediting.unmatched_handles, as `kpibot credit --unmatched`), by organisation, platform and
    handle."""
    shops = {sid: (org, platform, f"{name} ({code})") for sid, org, platform, code, name in conn.execute(
        select(Shop.id, Shop.org_id, Shop.platform, Shop.code, Shop.name))}  # type: ignore[call-overload]
    found: dict[tuple[int, str, str], UnknownHandle] = {}
    for rows in unmatched_handles(conn):
        org_id, shop_platform, shop = shops[rows.shop_id]
        platform = handle_platform(shop_platform)
        entry = found.setdefault((org_id, platform, rows.handle), UnknownHandle(org_id, platform, rows.handle))
        entry.sessions += rows.sessions
        entry.videos += rows.videos
        entry.shops.append(shop)
    for entry in found.values():
        entry.shops.sort(key=lambda shop: shop.rsplit(" (", 1)[-1])   # by code
    return [found[k] for k in sorted(found)]


def rows_text(found: UnknownHandle, lang: str) -> str:
    """"2 live sessions and 1 video", only the kinds it has, in `lang`."""
    parts = [t(lang, f"handle.{noun}_one" if count == 1 else f"handle.{noun}", count=count)
             for noun, count in (("sessions", found.sessions), ("videos", found.videos)) if count]
    return t(lang, "handle.rows_both", sessions=parts[0], videos=parts[1]) if len(parts) == 2 else parts[0]


def _command(found: UnknownHandle) -> str:
    handle = shown(found.handle)
    # the command is shown ready to run when the handle is shown whole; otherwise with HANDLE to fill in
    typed = shlex.quote(handle) if handle == found.handle else "HANDLE"
    return f"kpibot members handle MEMBER {typed} --platform {found.platform}"


def notice_card(found: UnknownHandle, lang: str) -> Card:
    handle = shown(found.handle)
    text = t(lang, "handle.unmatched", handle=handle, platform=found.platform, shops=", ".join(sorted(found.shops)),
             rows=rows_text(found, lang), command=_command(found))
    return Card(t(lang, "handle.unmatched_title", handle=handle), (Text(text),), Tone.WARN, lang)


def notices_card(handles: list[UnknownHandle], lang: str) -> Card:
    """One admin's message of the handles new to them (services.admin_notices.listed_card; `kpibot credit
    --unmatched` lists them all)."""
    return listed_card(handles, lang, lambda found: notice_card(found, lang),
                       lambda found: t(lang, "handle.unmatched_item", platform=found.platform,
                                       handle=shown(found.handle), rows=rows_text(found, lang),
                                       shops=", ".join(sorted(found.shops)), command=_command(found)),
                       title=t(lang, "handle.unmatched_many_title", count=len(handles)),
                       intro=t(lang, "handle.unmatched_many"), more_key="handle.unmatched_more")


def tell_unknown_handles(services: Services, messengers: Mapping[str, Messenger], instance: str,
                         now: datetime) -> list[str]:
    """Tell each organisation's admins of every handle matching no member they were not told of, one message per
    admin and run (services.admin_notices.tell_admins_each); for each handle told, "<admin code>:<platform>:
    <handle>", by handle and then admin."""
    engine = services.engine
    with engine.connect() as conn:
        handles = unknown_handles(conn)
    admins: dict[int, list[Member]] = {}
    with Session(engine) as session:
        for org_id in sorted({found.org_id for found in handles}):
            admins[org_id] = admins_of(session, org_id)
    # one read of what went out already: most runs find only handles every admin was told of
    done = sent_today(engine, UNMATCHED_HANDLE, {f"{found.subject}{admin.id}": ONCE for found in handles
                                                 for admin in admins[found.org_id]})
    told: list[str] = []
    for org_id, org_admins in admins.items():
        pending = [found for found in handles if found.org_id == org_id
                   and not all(f"{found.subject}{admin.id}" in done for admin in org_admins)]
        if not pending:
            continue
        what = (f"{pending[0].platform} handle {shown(pending[0].handle)!r} matches no member" if len(pending) == 1
                else f"{len(pending)} handles match no member")
        for code, i in tell_admins_each(engine, messengers, org_admins, UNMATCHED_HANDLE,
                                        [found.subject for found in pending], ONCE,
                                        lambda lang, chosen, p=pending: notices_card([p[i] for i in chosen], lang),
                                        instance, now, what):
            told.append(f"{code}:{pending[i].platform}:{pending[i].handle}")
    return told
