"""Feishu (Lark) adapter: events over the SDK's long connection, answers over the REST API.

- Ack first, work after: the SDK runs handlers on its connection loop, so a message handler only hands
  the event to a worker pool and returns; the worker answers through the reply API.
- A redelivered event gets no second answer: handled ids are recorded in the store, and every reply is
  sent with the event's message_id as Feishu's idempotency uuid, so even two concurrent deliveries
  produce one message; so a card kept for the sender's same ask this minute is replied before the event is
  recorded (no claim first: bot.platforms.common.answer_kept). The event is acked before it is claimed, so
  Feishu delivers it again only after a reconnect or a late ack: a reply whose retries ran out leaves it
  unanswered unless that happens (logged as unsent, counted in kpibot_messages_failed).
- The SDK runs handlers on its connection loop, so nothing blocks there: a card click is answered at once
  with a toast (well inside Feishu's 3 s) and the card is patched in place when the worker has built it;
  a patch from an older click never overwrites a newer one. A click is checked against the scope its button
  carries (cards.clicks): by anyone but the person the card was made for, or from another chat, it is refused
  with a toast only the clicker sees; on a group's shared digest it rebuilds that subscription's card, or tells
  a clicker who may not privately. The loop never touches the store: the language rides in the button value.
- A file a card comes with (an export) is uploaded first (im/v1/files), then sent as a "file" message right
  after the card, the same way (a reply, or to the same receiver); the card says when it was too big or refused.
- Outgoing calls keep to Feishu's limits (50/s per app, 5/s per chat) and retry rate-limit and server
  errors with exponential backoff (tenacity); the last failure is logged with context, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import lark_oapi as lark
import lark_oapi.ws.client as lark_ws_client
from lark_oapi.api.im.v1 import (
    CreateFileRequest,
    CreateFileRequestBody,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    P2ImMessageReceiveV1,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTrigger, P2CardActionTriggerResponse
from sqlalchemy.engine import Engine

from bot import metrics
from bot.config import FeishuConfig
from bot.dispatch import Dispatcher, Incoming, Refused
from bot.platforms.common import (
    AnsweredEvents,
    ClickOrder,
    ImageUploads,
    Outcome,
    Rendered,
    Retryable,
    ShuttingDown,
    Watchdog,
    WorkerPool,
    answer_kept,
    answer_once,
    idempotency_id,
    track,
    with_retries,
)
from bot.platforms.files import FEISHU_MAX_FILE_BYTES, Uploaded, extension, upload_files
from bot.ratelimit import RateLimiter
from cards.clicks import Click, read_click
from cards.i18n import LANGS, lang_of, t
from cards.model import Card, File
from cards.render_feishu import card_content, fit_feishu, native_charts

log = logging.getLogger(__name__)

PLATFORM = "feishu"
# Rate-limit codes seen in the SDK and Feishu's docs: app/tenant frequency limits and chat throttling.
RATE_LIMIT_CODES = frozenset({99991400, 99991402, 11020, 11021, 230020})
CONNECT_TIMEOUT_S = 30.0
WATCHDOG_S = 300.0   # [ops] watchdog_seconds


class FeishuAdapter:
    platform = PLATFORM

    def __init__(self, config: FeishuConfig, dispatcher: Dispatcher, engine: Engine, workers: int = 8,
                 attempts: int = 5, backoff_s: float = 0.2, watchdog_s: float = WATCHDOG_S) -> None:
        self.config, self.dispatcher, self.engine = config, dispatcher, engine
        secret = config.app_secret.get_secret_value()
        self.rest = (lark.Client.builder().app_id(config.app_id).app_secret(secret)
                     .domain(config.domain).log_level(lark.LogLevel.WARNING).build())
        handler = (lark.EventDispatcherHandler.builder("", "")
                   .register_p2_im_message_receive_v1(self._on_message)
                   .register_p2_card_action_trigger(self._on_card_action).build())
        self._handler = handler
        self.ws = self._new_ws()
        self.watchdog = Watchdog(PLATFORM, watchdog_s, self._quiet_for, self._reconnect)
        self.heard_at = time.monotonic()
        self.pool = WorkerPool(PLATFORM, workers)
        self.app_limit, self.app_minute_limit, self.chat_limit = RateLimiter(50), RateLimiter(1000, 60), RateLimiter(5)
        self.attempts, self.backoff_s = attempts, backoff_s
        self.images = ImageUploads(self._upload_image)
        self.rendered = Rendered()
        self.clicks = ClickOrder()
        self.answered = AnsweredEvents()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.bot_open_id: str | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Learn the bot's own open_id, then connect in a background thread (watched by the watchdog)."""
        self.bot_open_id = self._fetch_bot_open_id()
        self._connect()
        self.watchdog.start()

    def _new_ws(self) -> lark.ws.Client:
        """The SDK's long-connection client; every frame it receives tells the watchdog the server is there. A
        frame that reaches a client the watchdog has replaced (one stuck in the SDK's reconnect that comes back)
        is ignored, unacked (so Feishu delivers it again, on the live connection), and that client is closed:
        never two live connections."""
        ws = lark.ws.Client(self.config.app_id, self.config.app_secret.get_secret_value(),
                            event_handler=self._handler, domain=self.config.domain, log_level=lark.LogLevel.WARNING)
        handle = ws._handle_message

        async def heard(msg: bytes) -> None:
            if ws is not self.ws:
                log.warning("feishu: a frame reached a replaced connection; it is ignored and that connection closed")
                ws._auto_reconnect = False
                if ws._conn is not None:
                    with contextlib.suppress(Exception):
                        await ws._conn.close()
                return
            self.heard_at = time.monotonic()
            await handle(msg)

        ws._handle_message = heard  # type: ignore[method-assign]
        return ws

    def _quiet_for(self) -> tuple[float, float]:
        """Seconds since the server last sent a frame (a pong answers every ping), and at least how long a healthy
        connection may be quiet: twice the ping interval the server asked for."""
        return time.monotonic() - self.heard_at, 2.0 * float(getattr(self.ws, "_ping_interval", 120)) + 1.0

    def _reconnect(self) -> None:
        """Drop the deaf client (even one stuck in the SDK's reconnect, whose endpoint call has no timeout,
        upstream issue #169) and connect a new one on a new thread and loop. Not once the adapter is stopping."""
        if self.pool.closing:
            return
        old_ws, old_loop, old_thread = self.ws, self._loop, self._thread
        old_ws._auto_reconnect = False
        self.heard_at = time.monotonic()
        self._close_ws(old_ws, old_loop, old_thread, timeout=2.0)
        if self.pool.closing:   # stop() began while the old client closed: no new connection during the drain
            return
        self.ws = self._new_ws()
        try:
            self._connect()
        except ConnectionError as exc:
            log.warning("feishu: reconnecting failed: %s; the watchdog tries again", exc)

    def _connect(self) -> None:
        """Connect in a background thread. The SDK keeps one module-level loop and blocks in start(), so the
        thread gets a loop of its own and hands it to the SDK."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            lark_ws_client.loop = loop
            self._loop = loop
            ready.set()
            try:
                self.ws.start()
            except (RuntimeError, asyncio.CancelledError):  # stop() ended the loop and its tasks
                pass
            except Exception:
                log.exception("feishu long connection ended")

        self._thread = threading.Thread(target=run, name="feishu-ws", daemon=True)
        self._thread.start()
        ready.wait(5)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while self.ws._conn is None:  # the SDK's own connection object: set once the socket is open
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConnectionError(f"could not open the Feishu long connection at {self.config.domain} "
                                      "(see the log above)")
            time.sleep(0.05)
        self.heard_at = time.monotonic()

    def alive(self) -> bool:
        """False once the connection ended for good (the SDK gave up); a watchdog reconnect is not an end."""
        return self.watchdog.reconnecting or (self._thread is not None and self._thread.is_alive())

    def connected(self) -> bool:
        """The long connection is open now (readiness)."""
        return self.alive() and self.ws._conn is not None

    def _fetch_bot_open_id(self) -> str | None:
        """The bot's open_id, to tell its @-mentions from other people's in group chats."""
        request = (lark.BaseRequest.builder().http_method(lark.HttpMethod.GET).uri("/open-apis/bot/v3/info")
                   .token_types({lark.AccessTokenType.TENANT}).build())
        resp = self._call("bot-info", "read the bot's identity", lambda: self.rest.request(request))
        try:
            open_id = json.loads(resp.raw.content)["bot"]["open_id"] if resp is not None else None
        except (KeyError, TypeError, ValueError):
            open_id = None
        if not open_id:
            log.warning("feishu: the bot's open_id is unknown; in groups any @-mention will count as one to the bot")
        return open_id

    def mentions_bot(self, mentions: list[Any] | None) -> bool:
        if not mentions:
            return False
        if self.bot_open_id is None:
            return True
        return any(m.id is not None and m.id.open_id == self.bot_open_id for m in mentions)

    def stop(self, timeout: float = 10.0, deadline: float | None = None) -> None:
        """Stop taking events, close the connection and end the SDK's tasks (it has no stop of its own),
        then finish the work in hand; all by `deadline` (time.monotonic()) when given."""
        self.pool.close()
        if deadline is not None:
            timeout = min(timeout, max(deadline - time.monotonic(), 0.1))
        self.watchdog.stop(timeout)      # a reconnect in progress ends first; none starts once the pool is closing
        self._close_ws(self.ws, self._loop, self._thread, timeout)
        self.pool.drain(70.0 if deadline is None else max(deadline - time.monotonic(), 0.0))

    def _close_ws(self, ws: lark.ws.Client, loop: asyncio.AbstractEventLoop | None,
                  thread: threading.Thread | None, timeout: float) -> None:
        if loop is not None and loop.is_running():
            ws._auto_reconnect = False
            logging.getLogger("Lark").setLevel(logging.CRITICAL)  # it reports our own close as an error
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(ws), loop).result(timeout)
            except Exception:
                log.warning("feishu: the connection did not close cleanly", exc_info=True)
            if loop.is_running():
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)

    async def _shutdown(self, ws: lark.ws.Client) -> None:
        """Cancel the SDK's receive and ping tasks first (so it does not treat our close as a failure),
        close the socket, then end the task its blocking start() waits on."""
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        blocking = [t for t in tasks if t.get_coro().__name__ == "_select"]  # type: ignore[union-attr]
        workers = [t for t in tasks if t not in blocking]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if ws._conn is not None:
            await ws._conn.close()
        for task in blocking:
            task.cancel()

    # --- messages --------------------------------------------------------------------------------------

    def _on_message(self, data: P2ImMessageReceiveV1) -> None:
        # while closing, submit raises: the SDK acks with code 500 and Feishu delivers the event again later
        self.pool.submit(track, PLATFORM, data.header.event_id, self.handle_message, data)

    def handle_message(self, data: P2ImMessageReceiveV1) -> Outcome:
        """Answer once (bot.platforms.common.answer_once; a card kept for the sender's same ask this minute:
        answer_kept, which replies before it records). A message not for the bot (no @-mention in a group,
        not text, not a command) is left alone before anything touches the store, so it never gets the busy card.
        The busy card goes with an idempotency uuid of its own: the real answer's uuid (the message_id) must
        stay free for the answer to a later redelivery."""
        message = data.event.message
        message_id, in_thread = message.message_id, message.chat_type != "p2p"
        text = _text_of(message.message_type, message.content)
        incoming = None if text is None else Incoming(
            PLATFORM, "", text, is_group=in_thread, mentioned=self.mentions_bot(message.mentions),
            mentions=_mention_keys(message.mentions))
        if incoming is None or not self.dispatcher.wants(incoming):
            return Outcome.IGNORED
        sender = data.event.sender.sender_id
        kept = self.dispatcher.kept_answer(incoming, (sender.open_id, sender.union_id))
        if kept is not None:   # the reply's uuid is the message id: Feishu sends it once, so it goes before the record
            outcome = answer_kept(PLATFORM, self.engine, (data.header.event_id, message_id), lambda: self.answer_card(
                message_id, message.chat_id, kept[1], in_thread=in_thread, owner=sender.open_id or "") is not None,
                self.answered)
            if outcome is not None:
                return outcome   # a reply that did not go is answered as ever below (the same uuid: never twice)

        def busy() -> None:
            content = self.content(self.dispatcher.busy_card(), message.chat_id)
            self.reply(message_id, message.chat_id, content, in_thread=in_thread, uuid=f"busy-{message_id}")

        return answer_once(PLATFORM, self.engine, (data.header.event_id, message_id),
                           lambda done: self._answer(data, done), busy, self.answered)

    def _answer(self, data: P2ImMessageReceiveV1, done: Callable[[bool], None]) -> None:
        header, event = data.header, data.event
        message, sender = event.message, event.sender
        event_id, message_id = header.event_id, message.message_id
        open_id = sender.sender_id.open_id
        text = _text_of(message.message_type, message.content)
        is_group = message.chat_type != "p2p"
        incoming = Incoming(PLATFORM, open_id or "", text or "", is_group=is_group,
                            mentioned=self.mentions_bot(message.mentions), event_id=event_id,
                            mentions=_mention_keys(message.mentions))
        # the one read of the sender, if any (Dispatcher.answer)
        card = self.dispatcher.answer(incoming, (open_id, sender.sender_id.union_id))[1] if text is not None else None
        sent = card is None or \
            self.answer_card(message_id, message.chat_id, card, in_thread=is_group, owner=open_id) is not None
        done(sent)      # nothing to say (no card) is an answer too

    def answer_card(self, message_id: str, chat_id: str, card: Card, in_thread: bool, owner: str) -> str | None:
        """Reply `card` to the message, with the files it comes with right after it (each as a reply of its own,
        with an idempotency uuid of its own); the card's message id, None when Feishu did not take the card."""
        card, files = upload_files(card, PLATFORM, FEISHU_MAX_FILE_BYTES, lambda f: self._upload_file(f, chat_id))
        content = self.content(card, chat_id, owner=owner, chat=chat_id)
        sent = self.reply(message_id, chat_id, content, in_thread=in_thread)
        if sent is not None:
            for i, file in enumerate(files):
                self.reply(message_id, chat_id, _file_content(file), in_thread=in_thread,
                           uuid=idempotency_id(f"file-{i}", message_id), msg_type="file")
        return sent

    def reply(self, message_id: str, chat_id: str, content: str, in_thread: bool,
              uuid: str | None = None, msg_type: str = "interactive") -> str | None:
        """The reply's message id; None when Feishu did not take it. `uuid` (Feishu's idempotency key, one
        hour) defaults to the message replied to, so a second delivery's reply is the same message."""
        body = (ReplyMessageRequestBody.builder().msg_type(msg_type).content(content)
                .reply_in_thread(in_thread).uuid((uuid or message_id)[:50]).build())
        request = ReplyMessageRequest.builder().message_id(message_id).request_body(body).build()
        resp = self._call(chat_id, f"reply to {message_id}", lambda: self.rest.im.v1.message.reply(request))
        return resp.data.message_id if resp is not None and resp.data is not None else None

    def patch(self, message_id: str, chat_id: str, content: str) -> bool:
        body = PatchMessageRequestBody.builder().content(content).build()
        request = PatchMessageRequest.builder().message_id(message_id).request_body(body).build()
        return self._call(chat_id, f"patch {message_id}", lambda: self.rest.im.v1.message.patch(request)) is not None

    def content(self, card: Card, chat_id: str, owner: str | None = None, chat: str | None = None) -> str:
        """The card's message content, shortened to Feishu's size limit (fit_feishu): its charts native where
        they fit, the others uploaded as PNGs (a native chart costs no upload call). Its buttons carry its
        `owner` and the `chat` it goes to (cards.clicks); `chat_id` is where it goes, for the rate limits. The
        same card object asked again (a cached answer) is rendered once (common.Rendered), and fitted once for all
        the owners and chats whose ids fit it alike (_layout)."""
        asked = card
        kept = self.rendered.get(asked, (owner, chat))
        if kept is None:
            layout = _layout(owner, chat)
            laid = self.rendered.get(asked, layout)
            if laid is None:
                card = fit_feishu(card, owner, card.lang, chat)
                laid = card, native_charts(card, owner, card.lang, chat)
                self.rendered.put(asked, layout, laid)
            card, native = laid
        else:
            card, native, keys_then, content = kept
        keys = self.images.keys_for(card, chat_id, skip=native)
        if kept is None or keys != keys_then:
            content = self._content(asked, card, keys, native, owner, chat)
            self.rendered.put(asked, (owner, chat), (card, native, keys, content))
        return content

    def _content(self, asked: Card, card: Card, keys: dict[str, str], native: frozenset[str], owner: str | None,
                 chat: str | None) -> str:
        """card_content. Where the owner and the chat are both plain ids (_layout), they sit in the JSON as they
        are: the card is rendered once with stand-ins (_OWNER, _CHAT) and each owner and chat put in their place,
        so the same card sent to many chats is not rendered again for each."""
        if not (owner and chat and _PLAIN_ID.fullmatch(owner) and _PLAIN_ID.fullmatch(chat)):
            return card_content(card, keys, owner=owner, lang=card.lang, native=native, chat=chat)
        template_key = ("template", _layout(owner, chat), tuple(sorted(keys.items())), native)  # as fitted
        template = self.rendered.get(asked, template_key)
        if template is None:
            template = card_content(card, keys, owner=_OWNER, lang=card.lang, native=native, chat=_CHAT)
            self.rendered.put(asked, template_key, template)
        return str(template).replace(_OWNER, owner).replace(_CHAT, chat)

    def _upload_image(self, png: bytes, chat_id: str) -> str | None:
        def upload() -> Any:
            body = CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(png)).build()
            return self.rest.im.v1.image.create(CreateImageRequest.builder().request_body(body).build())

        resp = self._call(chat_id, "upload a chart", upload)
        return resp.data.image_key if resp is not None and resp.data is not None else None

    def _upload_file(self, file: File, chat_id: str) -> str | None:
        """The file_key of an uploaded file (im/v1/files), None when Feishu refused it."""
        def upload() -> Any:
            body = (CreateFileRequestBody.builder().file_type(_file_type(file.name)).file_name(file.name)
                    .file(io.BytesIO(file.content)).build())
            return self.rest.im.v1.file.create(CreateFileRequest.builder().request_body(body).build())

        resp = self._call(chat_id, f"upload the file {file.name}", upload)
        return resp.data.file_key if resp is not None and resp.data is not None else None

    # --- proactive sends (digests, alerts) -----------------------------------------------------------------

    def send_to_chat(self, chat_id: str, card: Card, key: str | None = None) -> bool:
        return self._create(chat_id, "chat_id", card, key)

    def send_to_user(self, user_id: str, card: Card, key: str | None = None) -> bool:
        return self._create(user_id, "open_id", card, key)

    def deliver_to_user(self, user_id: str, card: Card, key: str | None = None) -> str | None:
        return self._create_ref(user_id, "open_id", card, key)

    def update_for_user(self, user_id: str, ref: str, card: Card) -> bool:
        """PATCH the message `ref` (a card sent to `user_id`) with `card`, its buttons still theirs."""
        return self.patch(ref, user_id, self.content(card, user_id, owner=user_id))

    def _create(self, receive_id: str, id_type: str, card: Card, key: str | None) -> bool:
        return self._create_ref(receive_id, id_type, card, key) is not None

    def _create_ref(self, receive_id: str, id_type: str, card: Card, key: str | None) -> str | None:
        """With a `key`, the message goes with a uuid made from it: Feishu sends at most one message per uuid
        within about an hour and answers a repeat with the first message, so a takeover or a retry of a send
        Feishu already took is not doubled (past the hour it would be)."""
        card, files = upload_files(card, PLATFORM, FEISHU_MAX_FILE_BYTES,
                                   lambda f: self._upload_file(f, receive_id))
        # a card for a person is theirs to click; a chat's card is shared, within its scope (cards.clicks)
        if id_type == "open_id":
            content = self.content(card, receive_id, owner=receive_id)
        else:
            content = self.content(card, receive_id, chat=receive_id)
        ref = self._send_new(receive_id, id_type, "interactive", content, key)
        if ref is None:
            return None
        for i, file in enumerate(files):   # after the card; a keyed send's files are keyed too
            self._send_new(receive_id, id_type, "file", _file_content(file), None if key is None else f"{key}:file-{i}")
        return ref

    def _send_new(self, receive_id: str, id_type: str, msg_type: str, content: str, key: str | None) -> str | None:
        """The new message's id ("" when Feishu named none), None when it was not sent."""
        builder = CreateMessageRequestBody.builder().receive_id(receive_id).msg_type(msg_type).content(content)
        if key is not None:
            builder = builder.uuid(idempotency_id(key, receive_id))
        body = builder.build()
        request = CreateMessageRequest.builder().receive_id_type(id_type).request_body(body).build()
        resp = self._call(receive_id, f"send a {msg_type} message to {id_type} {receive_id}",
                          lambda: self.rest.im.v1.message.create(request))
        if resp is None:
            return None
        return (resp.data.message_id if resp.data is not None else None) or ""

    # --- card clicks ----------------------------------------------------------------------------------

    def _on_card_action(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        """Runs on the SDK's loop: answers at once, never blocks, never raises."""
        lang = lang_of(self.dispatcher.services.org_locale)
        try:
            event = data.event
            value = (event.action.value if event.action is not None else None) or {}
            if value.get("lang") in LANGS:
                lang = value["lang"]
            operator = event.operator.open_id if event.operator is not None else None
            message_id = event.context.open_message_id if event.context is not None else None
            chat_id = (event.context.open_chat_id if event.context is not None else None) or ""
            if not (operator and message_id):
                return _toast("error", t(lang, "click.stale"))
            click = read_click(value, operator, chat_id or None)
            if isinstance(click, str):   # refused: only the clicker sees the toast, the card stays
                return _toast("error" if click == "click.stale" else "warning", t(lang, click))
            union_id = event.operator.union_id if event.operator is not None else None
            seq = self.clicks.next(message_id)
            try:
                self.pool.submit(self._click_then_patch, operator, union_id, click, message_id, chat_id, seq, lang)
            except ShuttingDown:
                self.clicks.withdraw(message_id, seq)   # never runs: it must not drop a click already running
                raise
            return _toast("info", t(lang, "click.updating"))
        except ShuttingDown:
            return _toast("info", t(lang, "click.failed"))
        except Exception:
            log.exception("feishu: card click could not be handled")
            return _toast("error", t(lang, "click.failed"))

    def _click_then_patch(self, operator: str, union_id: str | None, click: Click, message_id: str, chat_id: str,
                          seq: int, lang: str) -> None:
        who = self.dispatcher.who(PLATFORM, operator, union_id)
        answer = self.dispatcher.click(PLATFORM, who.user_id, click, chat_id, who)
        if isinstance(answer, Refused):   # told privately; the clicked card stays as it is
            self.clicks.withdraw(message_id, seq)
            self.send_to_user(operator, answer.card)
            return
        # a card made for the clicker stays theirs; a chat's shared card stays the chat's (cards.clicks)
        card, owner = answer, (operator if click.scope is None else None)
        content = self.content(card, chat_id, owner=owner, chat=chat_id or None)
        if not self.clicks.update_if_newest(message_id, seq, lambda: self.patch(message_id, chat_id, content)):
            log.info("feishu: a newer click on %s was answered; this one is dropped", message_id)

    # --- outgoing calls ---------------------------------------------------------------------------------

    def _call(self, chat_id: str, what: str, send: Callable[[], Any]) -> Any | None:
        """Send within the rate limits, retrying rate-limit and server errors; None after the last try."""
        def attempt() -> Any:
            self.app_limit.acquire("app")
            self.app_minute_limit.acquire("app")
            self.chat_limit.acquire(chat_id)
            try:
                resp = send()
            except Exception as exc:  # unreachable host, an HTML error page, a token that could not be fetched
                metrics.api_error(PLATFORM)
                raise Retryable(f"{exc.__class__.__name__}: {exc}") from exc
            if resp.success():
                return resp
            status = resp.raw.status_code if resp.raw is not None else 0
            metrics.api_error(PLATFORM, throttled=resp.code in RATE_LIMIT_CODES or status == 429)
            if resp.code in RATE_LIMIT_CODES or status == 429 or status >= 500:
                raise Retryable(f"code={resp.code} status={status} msg={resp.msg}")
            log.error("feishu: %s refused: code=%s msg=%s log_id=%s", what, resp.code, resp.msg, resp.get_log_id())
            return None

        return with_retries(PLATFORM, what, attempt, self.attempts, self.backoff_s)


# im/v1/files file_type: Feishu knows these; any other file goes as a generic "stream"
_FILE_TYPES = {"xls": "xls", "xlsx": "xls", "csv": "stream", "pdf": "pdf", "doc": "doc", "docx": "doc",
               "ppt": "ppt", "pptx": "ppt", "mp4": "mp4", "opus": "opus"}


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]*")
# stand-ins for a card's owner and chat (FeishuAdapter._content): plain ids, new each start, never in a card's text
_OWNER, _CHAT = f"owner{uuid4().hex}", f"chat{uuid4().hex}"


def _layout(owner: str | None, chat: str | None) -> tuple[Any, ...]:
    """What fitting a card (fit_feishu, native_charts) depends on of its owner and chat. Both only weigh the
    request body, where an id made of letters, digits and _.- is written as it is (no escaping at either JSON
    level): such ids count by their length alone, so a card fitted for one chat is fitted for every chat whose id
    is as long. Any other id counts as itself."""
    owner, chat = owner or "", chat or ""   # an empty id is left out of the buttons, as a missing one
    if _PLAIN_ID.fullmatch(owner) and _PLAIN_ID.fullmatch(chat):
        return "layout", len(owner), len(chat)
    return "layout-of", owner, chat


def _file_type(name: str) -> str:
    return _FILE_TYPES.get(extension(name), "stream")


def _file_content(file: Uploaded) -> str:
    return json.dumps({"file_key": file.key})


def _toast(kind: str, text: str) -> P2CardActionTriggerResponse:
    return P2CardActionTriggerResponse({"toast": {"type": kind, "content": text}})


def _mention_keys(mentions: list[Any] | None) -> tuple[str, ...]:
    """The placeholders ("@_user_1") Feishu puts in a text message's content for each @-mention."""
    return tuple(m.key for m in mentions or [] if isinstance(m.key, str) and m.key)


def _text_of(message_type: str, content: str) -> str | None:
    """The text of a text or rich-text (post) message; None for anything else (stickers, images)."""
    try:
        body = json.loads(content)
    except (TypeError, ValueError):
        return None
    if message_type == "text":
        return str(body.get("text", ""))
    if message_type == "post":
        post = body.get("content") or next(iter(body.values()), {}).get("content", [])
        return " ".join(str(el.get("text", "")) for line in post for el in line if isinstance(el, dict))
    return None
