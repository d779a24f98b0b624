"""Message text or a card click -> command -> Card. Platform-neutral; adapters call it and send the card.

Order of the chain: parse -> who is it -> may they -> run -> any failure becomes a short card in the
caller's language (never a traceback) and a log line with context. A store that cannot be reached is not a
failure of the command: a message raises `StoreBusy` (the adapter answers with `busy_card` and releases its
claim on the event), a click gets the busy card.
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from bot.card_cache import AskedKey, CardCache
from bot.parse import Parsed, parse
from cards.clicks import Click
from cards.i18n import lang_of, t
from cards.model import Card, Note, Text, Tone
from commands.context import Caller, Request
from commands.registry import COMMANDS, lookup
from commands.whoami import unbound_card
from scoring.fx import MissingRate
from scoring.templates import TemplateError
from scoring.text import SHOWN_MAX, shown
from services.container import Services
from services.digests import shared_digest
from services.errors import UserError
from storage.audit import acting_as
from storage.engine import store_unreachable
from storage.identity import bound_member
from storage.identity_version import identity_version
from storage.models import Member

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    platform: str               # console | feishu | dingtalk
    user_id: str
    text: str
    is_group: bool = False
    mentioned: bool = False     # the bot was @-mentioned (groups answer only then)
    event_id: str | None = None
    mentions: tuple[str, ...] = ()  # the exact strings in `text` the platform marks as @-mentions; parse drops them


@dataclass(frozen=True)
class Who:
    """Who is asking (Dispatcher.who): the id they are bound by, their member (None when unbound) and the language
    to answer them in. Read once per message, so an adapter that needs the bound id (to address the answer) and
    the dispatcher share one read of the store."""

    user_id: str
    member: Member | None
    lang: str


@dataclass(frozen=True)
class Refused:
    """A click that may not change the card it was made on: `card` is what to tell the clicker privately."""

    card: Card


class _RefusedClick(Exception):
    """A click's command refused it (a UserError), for handle_click: `text` in `lang` goes to the clicker."""

    def __init__(self, text: str, lang: str) -> None:
        super().__init__(text)
        self.text, self.lang = text, lang


class StoreBusy(Exception):
    """The store could not be reached in time while answering: say so instead of an error with a ref."""


def _reply(title_key: str | None, text: str, lang: str, tone: Tone = Tone.WARN) -> Card:
    return Card(t(lang, title_key) if title_key else "kpibot", (Text(text),), tone, lang)


def _told(text: str, lang: str) -> Card:
    """What a refused click tells the clicker privately."""
    return Card("kpibot", (Note(text),), Tone.WARN, lang)


IDENTITY_LOOK_S = 1.0   # how often, at most, answers kept by sender look whether who is who changed in the store


class Dispatcher:
    def __init__(self, services: Services, clock: Callable[[], datetime] | None = None,
                 cache: CardCache | None = None, identity_look_s: float = IDENTITY_LOOK_S,
                 ticks: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cache = cache if cache is not None else CardCache()
        self.identity_look_s = identity_look_s
        self.ticks = ticks   # seconds, for the looks' ages
        self._identity: tuple[float, int] | None = None   # (monotonic time of the last look, the counter then)
        self._identity_lock = threading.Lock()
        self._looking = False    # a thread is reading the counter

    @staticmethod
    def wants(msg: Incoming) -> bool:
        """Whether the message is for the bot at all (an @-mention in a group, text that parses), without the
        store: adapters ask before they claim, so group chatter is never answered "busy" in a store outage.
        `msg.user_id` is not looked at (the platform's raw id will do)."""
        if msg.is_group and not msg.mentioned:
            return False
        return parse(msg.text, msg.mentions) is not None

    def handle_message(self, msg: Incoming, who: Who | None = None) -> Card | None:
        """The card to answer with, or None when the bot should stay silent. `who` is the sender when the adapter
        has read it already (Dispatcher.who, for msg.user_id)."""
        if msg.is_group and not msg.mentioned:   # as wants(), parsing once
            return None
        parsed = parse(msg.text, msg.mentions)
        if parsed is None:
            return None
        return self.run(msg.platform, msg.user_id, parsed.name, parsed.args, had_slash=parsed.had_slash, who=who)

    def answer(self, msg: Incoming, ids: tuple[str | None, ...]) -> tuple[str, Card | None]:
        """An adapter's message from the sender with these platform `ids` (Dispatcher.who; `msg.user_id` is
        replaced by the one they are bound by): that id and handle_message's card. A cacheable command the same
        sender asked this minute is answered with the card kept for them (CardCache.keep_asked) without reading who
        they are, unless who is who changed in the store since (`_identities_unchanged`, looked at no more than
        every `identity_look_s` seconds); any other message reads the sender once."""
        parsed, key, kept = self._asked(msg, ids)
        if parsed is None:   # not for the bot (adapters ask `wants` first): nothing to read
            return msg.user_id, None
        if kept is not None:
            return kept
        generation = self.cache.generation
        who = self.who(msg.platform, *ids)
        card = self.run(msg.platform, who.user_id, parsed.name, parsed.args, had_slash=parsed.had_slash, who=who)
        if key is not None and who.member is not None and who.member.id is not None and \
                self.cache.holds(self.cache.key(key[2], key[3], who.member.id, who.lang, self.clock()), card):
            # only a card the cache holds (never an error's), and only if no drop came since the sender was read
            self.cache.keep_asked(key, who.user_id, card, generation)
        return who.user_id, card

    def kept_answer(self, msg: Incoming, ids: tuple[str | None, ...]) -> tuple[str, Card] | None:
        """What `answer` would answer from the cards kept by sender, without reading the store but the counter of
        who is who (at most every `identity_look_s` seconds): (the id the sender is bound by, the card), or None
        when the message is not a cacheable command that sender asked this minute, or the counter cannot be read
        now (the caller then answers as ever: busy, when the store is away)."""
        try:
            return self._asked(msg, ids)[2]
        except Exception as exc:
            if store_unreachable(exc):
                return None
            raise

    def _asked(self, msg: Incoming, ids: tuple[str | None, ...]) -> tuple[Parsed | None, AskedKey | None,
                                                                         tuple[str, Card] | None]:
        """The message parsed (None: not for the bot), the key a cacheable command's card is kept by for its
        sender (CardCache.keep_asked; None for other commands), and the card kept under it, if who is who did not
        change since."""
        parsed = None if msg.is_group and not msg.mentioned else parse(msg.text, msg.mentions)
        command = lookup(parsed.name) if parsed is not None else None
        if parsed is None or command is None or not command.cacheable:
            return parsed, None, None
        key = self.cache.asked_key(msg.platform, tuple(i for i in ids if i), command.name,
                                   tuple(a.lower() for a in parsed.args), self.clock())
        return parsed, key, self.cache.kept_asked(key) if self._identities_unchanged() else None

    def _identities_unchanged(self) -> bool:
        """Whether the answers kept by sender may be used: the store's counter of changes to members and their
        platform ids (storage.identity_version) is as it was at the last look. When it moved, they are dropped (and
        the answer reads the sender); the store is read at most every `identity_look_s` seconds, by one thread at a
        time: the others meanwhile read their sender. A look that is due while the last one is under twice that old
        is made in the background and the kept answers are used meanwhile, so that a steady stream of asks never
        waits for the store (on PostgreSQL the look was the tail of the kept answers' latency): a change made
        elsewhere is seen within two `identity_look_s`."""
        now = self.ticks()
        with self._identity_lock:
            age = None if self._identity is None else now - self._identity[0]
            if age is not None and age < self.identity_look_s:
                return True
            recent = age is not None and age < 2 * self.identity_look_s
            if self._looking:
                return recent
            self._looking = True
        if recent:
            try:
                threading.Thread(target=self._look_aside, args=(now,), name="identity-look", daemon=True).start()
                return True
            except RuntimeError:   # no thread to be had: this ask looks itself
                pass
        return self._look(now)

    def _look(self, now: float) -> bool:
        """Read the counter (the look started at `now`): whether it is as at the last look; the kept answers are
        dropped when it is not."""
        try:
            version = identity_version(self.services.engine)
        except BaseException:
            with self._identity_lock:
                self._looking = False
            raise
        with self._identity_lock:
            self._looking = False
            unchanged = self._identity is not None and self._identity[1] == version
            if not unchanged:
                self.cache.forget_asked()
            self._identity = (now, version)
            return unchanged

    def _look_aside(self, now: float) -> None:
        try:
            self._look(now)
        except Exception:   # the ask that looks next, once this look is too old, meets the store's error itself
            log.debug("the background look at who is who failed", exc_info=True)

    def handle_action(self, platform: str, user_id: str, command: str, args: tuple[str, ...],
                      who: Who | None = None) -> Card:
        """A card button click carries (command, args) back here; it passes the same checks as typing."""
        try:
            return self.run(platform, user_id, command, args, had_slash=True, who=who)
        except StoreBusy:
            return self.busy_card()

    def handle_click(self, platform: str, user_id: str, command: str, args: tuple[str, ...],
                     who: Who | None = None) -> Card | Refused:
        """A click on a card made for the clicker (cards.clicks owner scope): as handle_action, but a command that
        refuses in place (Command.refuses_in_place: an appeal decided already, or not the clicker's to decide)
        answers Refused, so the clicked card stays as it is and the refusal is told privately."""
        spec = lookup(command)
        if spec is None or not spec.refuses_in_place:
            return self.handle_action(platform, user_id, command, args, who)
        try:
            return self.run(platform, user_id, command, args, had_slash=True, refuse=True, who=who)
        except _RefusedClick as refused:
            return Refused(_told(refused.text, refused.lang))
        except StoreBusy:
            return Refused(self.busy_card())

    def click(self, platform: str, user_id: str, click: Click, chat: str, who: Who | None = None) -> Card | Refused:
        """A click that passed cards.clicks.read_click: on a card made for the clicker (handle_click) or on a
        card a chat shares (handle_shared_click, `chat` being where it came from). `who` as handle_message's."""
        if click.scope is None:
            return self.handle_click(platform, user_id, click.command, click.args, who)
        return self.handle_shared_click(platform, user_id, chat, click.scope, who)

    def busy_card(self) -> Card:
        """"kpibot is busy, try again in a minute", built from memory (the organisation's locale the Services
        hold): for when the store cannot be reached."""
        lang = lang_of(self.services.org_locale)
        return _reply(None, t(lang, "error.busy"), lang, Tone.WARN)

    def who(self, platform: str, *ids: str | None) -> Who:
        """The person behind a platform's ids, in one session: the first id a member is bound by (Feishu: open_id,
        then union_id; storage.identity.bound_member), else the first id, so the unbound reply shows the id to bind;
        their member and language (the organisation's when unbound)."""
        candidates = [i for i in ids if i]
        if not candidates:
            raise ValueError("no id given")
        with Session(self.services.engine) as session:
            bound = bound_member(session, platform, candidates)
        if bound is not None:
            return Who(bound[0], bound[1], lang_of(bound[1].locale))
        return Who(candidates[0], None, lang_of(self.services.org_locale))

    def _caller(self, platform: str, user_id: str, who: Who | None) -> tuple[Member | None, str]:
        """The bound member, if any, and the language to answer them in: `who`'s when the adapter read it."""
        if who is None or who.user_id != user_id:
            who = self.who(platform, user_id)
        return who.member, who.lang

    def handle_shared_click(self, platform: str, user_id: str, chat: str, scope: str,
                            who: Who | None = None) -> Card | Refused:
        """A click on a card a chat shares (cards.clicks): the card rebuilt within its scope, whoever clicked
        (kept for the rest of the minute, keyed by the scope and never by the clicker), or Refused with the
        card to tell the clicker privately, in their language (the organisation's when they are unbound); the
        shared card stays as it is."""
        lang = lang_of(self.services.org_locale)
        try:
            member, lang = self._caller(platform, user_id, who)
            now = self.clock()

            def keep(card_lang: str, build: Callable[[], Card]) -> Card:
                return self.cache.through(self.cache.key(f"shared:{platform}:{chat}:{scope}", (), 0, card_lang, now),
                                          build)

            card = shared_digest(self.services, platform, chat, scope, member, now, keep)
            return card if isinstance(card, Card) else Refused(_told(t(lang, card), lang))
        except Exception as exc:
            if store_unreachable(exc):
                log.warning("store unreachable platform=%s user=%s shared click scope=%s: %s", platform, user_id,
                            scope, exc.__class__.__name__)
                return Refused(self.busy_card())
            log.exception("shared card click failed platform=%s user=%s scope=%s", platform, user_id, scope)
            return Refused(_told(t(lang, "click.failed"), lang))

    def run(self, platform: str, user_id: str, name: str, args: tuple[str, ...], had_slash: bool,
            refuse: bool = False, who: Who | None = None) -> Card:
        """The command's card; with `refuse` (handle_click) a UserError raises _RefusedClick instead. `who` is
        the caller when the adapter read it already (Dispatcher.who)."""
        lang = lang_of(self.services.org_locale)
        try:
            member, lang = self._caller(platform, user_id, who)
            command = lookup(name)
            if command is None:
                return self._unknown(name, had_slash, lang)
            if command.needs_member and member is None:
                return unbound_card(platform, user_id, lang)
            if member is not None and not command.permits(member.role, member.finance):
                return _reply(None, t(lang, "error.forbidden", command=f"/{command.name}",
                                      role=t(lang, f"role.{command.min_role}"),
                                      your_role=t(lang, f"role.{member.role}")), lang)
            now = self.clock()
            request = Request(command.name, args, Caller(platform, user_id, member), lang, now, self.services)
            # what the command changes is audited as done by this person (storage.audit)
            with acting_as(member.code if member is not None else f"{platform}:{user_id}", self.clock):
                if not command.cacheable or member is None or member.id is None:
                    card = command.handler(request)
                    if command.writes:
                        self.cache.clear()   # a /mykpi later this minute must show the new target
                    return card
                return self.cache.through(self.cache.key(command.name, tuple(a.lower() for a in args), member.id,
                                                         lang, now), lambda: command.handler(request))
        except UserError as exc:
            said = t(lang, exc.key, **{k: v if k in OFFERED else _echo(v) for k, v in exc.values.items()})
            if refuse:
                raise _RefusedClick(said, lang) from None
            return _reply(None, said, lang)
        except MissingRate as exc:
            log.error("missing FX rate platform=%s user=%s command=%s: %s", platform, user_id, name, exc)
            return _reply(None, t(lang, "error.fx", problem=_echo(str(exc), PROBLEM_ECHO_MAX)), lang)
        except TemplateError as exc:
            log.error("invalid KPI template platform=%s user=%s command=%s: %s", platform, user_id, name, exc)
            return _reply(None, t(lang, "error.template", problem=_echo(str(exc), PROBLEM_ECHO_MAX)), lang)
        except Exception as exc:
            if store_unreachable(exc):
                log.warning("store unreachable platform=%s user=%s command=%s: %s", platform, user_id, name,
                            exc.__class__.__name__)
                raise StoreBusy(str(exc)) from exc
            ref = uuid.uuid4().hex[:8]
            log.exception("command failed ref=%s platform=%s user=%s command=%s args=%s",
                          ref, platform, user_id, name, args)
            return _reply(None, t(lang, "error.internal", ref=ref), lang, Tone.BAD)

    @staticmethod
    def _unknown(name: str, had_slash: bool, lang: str) -> Card:
        if not had_slash:
            return _reply(None, t(lang, "error.not_a_command"), lang, Tone.INFO)
        close = _closest(name)
        suggestion = t(lang, "error.did_you_mean", command=f"/{close}") if close else ""
        return _reply(None, t(lang, "error.unknown_command", command=_echo(f"/{name}"),
                              suggestion=suggestion), lang)


ECHO_MAX = SHOWN_MAX   # 40 characters of what someone typed that a reply repeats (a command name, an argument)
PROBLEM_ECHO_MAX = 300  # ... when it is a stored setup's problem (a template's, a currency's) that may quote it
# A UserError's values under these names are the bot's own offer, not what was typed (a command's usage, the
# teams, creators, metrics, shops, roles, countries or members to choose from): shown whole.
OFFERED = frozenset({"usage", "teams", "creators", "metrics", "shops", "roles", "countries", "missing"})


def _echo(value: object, limit: int = ECHO_MAX) -> object:
    """A value for a reply: text without control characters and at most `limit` characters, so a reply never
    repeats long input (2,000 characters of arguments came back whole) or controls (an ESC came back)."""
    return shown(value, limit) if isinstance(value, str) else value


def _closest(name: str) -> str | None:
    """The name or alias closest to a mistyped `name`, as written and in the script typed (/peringkt ->
    /peringkat, not /rank), or None. Two-character Chinese names differ by a whole half when one character is
    wrong, below difflib's cutoff, so for them one character added, dropped or changed is close (/排命 -> /排名);
    among equally close names the first listed wins (the alias /help shows)."""
    written = {n.lower(): n for c in COMMANDS for n in c.names() if n.isascii() == name.isascii()}
    close = difflib.get_close_matches(name, list(written), n=1, cutoff=0.6)
    if close:
        return written[close[0]]
    if not name.isascii():
        return next((shown for low, shown in written.items() if _one_edit_apart(name, low)), None)
    return None


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether one character added, dropped or changed turns `a` into `b`."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    short, long_ = sorted((a, b), key=len)
    i = next((k for k, (x, y) in enumerate(zip(short, long_, strict=False)) if x != y), len(short))
    if len(short) == len(long_):
        return short[i + 1:] == long_[i + 1:]
    return short[i:] == long_[i + 1:]
