"""Notices to an organisation's admins about what only an admin can mend (a shop that keeps failing, a live
handle that matches no member, a currency without exchange rates): one short private message to each admin, in
their language, on the first connected platform they are bound on (services.messaging).

Each admin's copy is claimed in the store like a scheduled send (storage.schedule), keyed by a subject that names
what the notice is about and the admin: one that went out is never sent again, whichever replica or rerun tries;
one a platform refused is retried by the next runs (up to storage.schedule.MAX_ATTEMPTS); an admin bound on no
connected platform is told once they are. A notice sent once ever is claimed for the day ONCE. Like the other
admin notices, they are not held back in quiet hours: they are rare and say what to fix.

Several subjects new in one run (a first deploy finding 50 unknown handles) reach each admin as ONE message
(`tell_admins_each`) listing the first LISTED and counting the rest, while each subject keeps its own claim. The
counted ones are claimed as told too: the message names the command that lists them all. So an admin added
later gets at most one message per run about everything still open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cards.i18n import lang_of, t
from cards.model import Block, Card, Text, Tone
from scoring.roles import Role
from services.messaging import Messenger, bound_platforms, send_private
from storage.models import Member
from storage.schedule import claim_send, finish_send, send_key, sent_today

log = logging.getLogger(__name__)

T = TypeVar("T")
ONCE = date(2000, 1, 1)   # the claim day of a notice sent once ever (never pruned: bot/jobs/prune.py)
LISTED = 10               # the most subjects one message lists; it counts the rest


def listed_card(items: Sequence[T], lang: str, alone: Callable[[T], Card], line: Callable[[T], str], *,
                title: str, intro: str, more_key: str) -> Card:
    """One admin's message of the subjects new to them: one alone as `alone` makes it; several as `intro` and a
    line each for the first LISTED, the rest counted (`more_key` with {count})."""
    if len(items) == 1:
        return alone(items[0])
    blocks: list[Block] = [Text(intro), *(Text(line(item)) for item in items[:LISTED])]
    if len(items) > LISTED:
        blocks.append(Text(t(lang, more_key, count=len(items) - LISTED)))
    return Card(title, tuple(blocks), Tone.WARN, lang)


def admins_of(session: Session, org_id: int) -> list[Member]:
    """The organisation's active admins, by code."""
    return list(session.execute(
        select(Member).where(Member.org_id == org_id, Member.role == Role.ADMIN.value, Member.active)  # type: ignore[arg-type]
        .order_by(Member.code)).scalars())


def tell_admins(engine: Engine, messengers: Mapping[str, Messenger], admins: list[Member], kind: str,
                subject: str, day: date, card_for: Callable[[str], Card], instance: str, now: datetime,
                what: str) -> list[str]:
    """Send `card_for(lang)` to each of `admins` not yet told, claimed as (kind, subject + admin id, day); `what`
    names the notice in the log. The codes of the admins told by this call."""
    return [code for code, _ in tell_admins_each(engine, messengers, admins, kind, [subject], day,
                                                 lambda lang, _chosen: card_for(lang), instance, now, what)]


def tell_admins_each(engine: Engine, messengers: Mapping[str, Messenger], admins: list[Member], kind: str,
                     subjects: Sequence[str], day: date, card_for: Callable[[str, list[int]], Card], instance: str,
                     now: datetime, what: str) -> list[tuple[str, int]]:
    """Tell each of `admins`, in ONE message, of every one of `subjects` they were not told of: each is claimed on
    its own as (kind, subject + admin id, day), and `card_for(lang, indexes)` lists the claimed ones (indexes
    into `subjects`, in order). A message the platform refused releases its claims as failed, so the next run
    lists them again; a subject sent once is never listed again. (admin code, index) of what this call told, by
    index and then admin."""
    keys = {admin.code: [f"{subject}{admin.id}" for subject in subjects] for admin in admins}
    done = sent_today(engine, kind, {key: day for admin_keys in keys.values() for key in admin_keys})
    told: list[tuple[str, int]] = []
    unreachable = 0
    for admin in admins:
        new = [i for i, key in enumerate(keys[admin.code]) if key not in done]
        if not new:
            continue
        if not bound_platforms(engine, messengers, admin):
            unreachable += 1
            continue
        claimed = [i for i in new if claim_send(engine, kind, keys[admin.code][i], day, instance, now)]
        if not claimed:
            continue
        try:
            key = ",".join(send_key(kind, keys[admin.code][i], day) for i in claimed)
            ok = bool(send_private(engine, messengers, admin, card_for(lang_of(admin.locale), claimed), key))
        except Exception:
            log.exception("telling admin %s that %s failed", admin.code, what)
            ok = False
        error = None if ok else "the platform refused it"
        for i in claimed:
            finish_send(engine, kind, keys[admin.code][i], day, instance, now, error)
        if ok:
            told += [(admin.code, i) for i in claimed]
        else:
            log.warning("%s and admin %s could not be told; retried by the next run", what, admin.code)
    if unreachable and not done and not told:
        log.warning("%s and %d admins are bound on no connected platform", what, unreachable)
    order = {admin.code: n for n, admin in enumerate(admins)}
    return sorted(told, key=lambda pair: (pair[1], order[pair[0]]))
