"""/live start [SHOP] and /live end: a host says they go on air for a shop's own account and off it (where the
platform does not know who was on air), so the orders paid meanwhile are credited to them (rule `roster`, as a
line of the roster file would; services.live_shifts). SHOP may be left out when the team has one shop. Chinese:
/开播 [SHOP] and /下播; Indonesian: /mulaisiaran [SHOP] and /selesaisiaran. /live's other names (/直播, /siaran) take
the same start|end word first: a bare SHOP is not read as a start, and the reply names the shortcuts in the
reader's language (live.bad_args).
"""

from __future__ import annotations

from cards.i18n import t
from cards.model import Card, Fields, Note, Text, Tone
from commands.context import Request
from commands.spec import Command
from services.errors import UserError
from services.live_shifts import Ended, Started, end_shift, local_time, start_shift

USAGE = "/live start [SHOP] | /live end"
START_WORDS = frozenset({"start", "on", "开始", "开播", "mulai"})
END_WORDS = frozenset({"end", "stop", "off", "结束", "下播", "selesai"})


def handle(req: Request) -> Card:
    if not req.args:
        raise UserError("live.usage")
    word, rest = req.args[0].casefold(), req.args[1:]
    if word in START_WORDS:
        return _start(req, rest)
    if word in END_WORDS:
        return _end(req, rest)
    raise UserError("live.bad_args", problem=" ".join(req.args)[:40])


def handle_start(req: Request) -> Card:
    return _start(req, req.args)


def handle_end(req: Request) -> Card:
    return _end(req, req.args)


def _start(req: Request, args: tuple[str, ...]) -> Card:
    if len(args) > 1:
        raise UserError("live.bad_args", problem=" ".join(args)[:40])
    started = start_shift(req.services, req.member, args[0] if args else None, req.now)
    return started_card(started, req.member.timezone, _hours(req), req.lang)


def _end(req: Request, args: tuple[str, ...]) -> Card:
    if args:
        raise UserError("live.bad_args", problem=" ".join(args)[:40])
    ended = end_shift(req.services, req.member, req.now)
    return ended_card(ended, req.member.timezone, _hours(req), int(req.services.live_tail.total_seconds() // 60),
                      req.lang)


def _hours(req: Request) -> int:
    return int(req.services.max_shift.total_seconds() // 3600)


def started_card(started: Started, zone: str, hours: int, lang: str) -> Card:
    blocks: list[Text | Note] = [Text(t(lang, "live.started", shop=started.shop,
                                        start=local_time(started.started_at, zone), hours=hours))]
    if started.closed is not None:
        closed = started.closed
        blocks.append(Note(t(lang, "live.forgotten", shop=closed.shop, start=local_time(closed.started_at, zone),
                             end=local_time(closed.ended_at, zone), hours=hours)))
    blocks += [Note(t(lang, "live.took_over", member=other.name, shop=other.ended.shop,
                      end=local_time(other.ended.ended_at, zone))) for other in started.took_over]
    return Card(t(lang, "live.started_title", shop=started.shop), tuple(blocks), Tone.GOOD, lang)


def ended_card(ended: Ended, zone: str, hours: int, tail_minutes: int, lang: str) -> Card:
    fields = Fields(((t(lang, "live.shop"), ended.shop), (t(lang, "live.start"), local_time(ended.started_at, zone)),
                     (t(lang, "live.end"), local_time(ended.ended_at, zone)),
                     (t(lang, "live.orders"), str(ended.orders))))
    notes = [Note(t(lang, "live.capped", hours=hours))] if ended.capped else []
    return Card(t(lang, "live.ended_title", shop=ended.shop),
                (fields, *notes, Note(t(lang, "live.ended", tail=tail_minutes))),
                Tone.WARN if ended.capped else Tone.GOOD, lang)


SPEC = Command("live", ("直播",), "help.live", USAGE, handle, writes=True, id_aliases=("siaran",),
               shown_aliases=("开播", "下播"), id_shown_aliases=("mulaisiaran", "selesaisiaran"))
# /直播 start and /siaran mulai work too; the Chinese and Indonesian shortcuts, named in /live's row of /help
START_SPEC = Command("开播", (), "help.live_start", "/开播 [SHOP]", handle_start, writes=True, listed=False,
                     id_aliases=("mulaisiaran",))
END_SPEC = Command("下播", (), "help.live_end", "/下播", handle_end, writes=True, listed=False,
                   id_aliases=("selesaisiaran",))
