"""DingTalk adapter: bot messages and card clicks over the Stream connection, answers over the REST API.

It keeps the guarantees of the Feishu adapter, with the parts they share in bot.platforms.common:
- Ack first, work after: a frame is acked as soon as it is handed to the worker pool; while shutting
  down the frame is refused (code 500) so DingTalk delivers it again.
- One answer per message: the worker claims the frame's messageId and the message's msgId in the store
  before it answers, so a redelivery (also to another process) is dropped. The frame is acked before it is
  claimed, so DingTalk delivers it again only after a reconnect or a late ack: a reply whose retries ran out
  leaves the message unanswered unless that happens (logged as unsent, counted in kpibot_messages_failed).
  A card kept for the sender's same ask this minute, in a one-to-one chat, goes before the record instead
  (bot.platforms.common.answer_kept): its outTrackId is made from the msgId, and DingTalk makes one card
  instance of an outTrackId however often it is sent.
- Senders are known by staffId (`members bind --dingtalk`); an unbound sender is told their id. In groups
  the bot answers only when it is @-mentioned.
- Answers: a card with a chart or buttons goes out as an interactive card (kpibot's card template,
  callbackType STREAM so its clicks come back over this connection) with the chart uploaded as media;
  anything else, and every card when no template is configured, is markdown through the message's
  sessionWebhook while it is valid, else through the robot message APIs.
- A file a card comes with (an export) is uploaded first (media/upload type=file), then sent right after the
  card as a robot message (msgKey sampleFile) to the same group or person: session webhooks take no files.
  The card says when it was too big or refused.
- A click runs the button's command as the clicker and puts the new card data in place; a newer click
  wins. A click is checked against the scope its button carries (cards.clicks): by anyone but the card's
  owner, or from another group, it leaves the card as it is and tells the clicker privately; on a group's
  shared digest it rebuilds that subscription's card, or tells a clicker who may not privately.

The SDK is the transport: its frames, handler acks and routing are used as they are, but the connection
loop is kpibot's own (`_StreamClient.run`), because the SDK's start() opens the gateway with a blocking
call on the event loop against a URL fixed at import, never stops, and sleeps 10 s before reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import dingtalk_stream
import httpx
import websockets
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, CardCallbackMessage, ChatbotMessage
from sqlalchemy.engine import Engine

from bot import metrics
from bot.config import DingTalkConfig
from bot.dispatch import Dispatcher, Incoming, Refused
from bot.platforms.common import (
    AnsweredEvents,
    ClickOrder,
    ImageUploads,
    Outcome,
    Rendered,
    ShuttingDown,
    WorkerPool,
    answer_kept,
    answer_once,
    idempotency_id,
    track,
)
from bot.platforms.dingtalk_api import CardCreated, DingTalkApi
from bot.platforms.files import DINGTALK_MAX_FILE_BYTES, Uploaded, extension, upload_files
from cards.clicks import Click, read_click
from cards.i18n import LANGS, lang_of, t
from cards.model import Buttons, Card, File, Note, Tone
from cards.render_dingtalk import fit_card_params, fit_markdown, render_card_params, render_markdown

log = logging.getLogger(__name__)

PLATFORM = "dingtalk"
BOT_TOPIC = ChatbotMessage.TOPIC                      # /v1.0/im/bot/messages/get
CARD_TOPIC = CallbackHandler.TOPIC_CARD_CALLBACK      # /v1.0/card/instances/callback
CONNECT_TIMEOUT_S = 30.0
WATCHDOG_S = 300.0                                    # [ops] watchdog_seconds
WEBHOOK_MARGIN_MS = 60_000                            # a webhook this close to expiry is not used
RECONNECT_MAX_S = 10.0
HEALTHY_S = 30.0                                      # a connection that lived this long resets the backoff
INLINE_WAIT_S = 0.5                                   # a group slot this close is waited for in the worker
# The SDK reports every ping as an "unknown topic" warning; it gets a logger of its own that only speaks up
# about errors.
sdk_log = logging.getLogger(__name__ + ".sdk")
sdk_log.setLevel(logging.ERROR)


class _Frames(CallbackHandler):
    """Hands a CALLBACK frame to the adapter; the SDK turns the (code, response) into the ack."""

    def __init__(self, on_frame: Any) -> None:
        super().__init__()
        self.on_frame = on_frame

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        return self.on_frame(message)


class _StreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK's client with a connection loop that never blocks the event loop and can be stopped."""

    def __init__(self, config: DingTalkConfig, http: httpx.Client, watchdog_s: float = WATCHDOG_S) -> None:
        credential = dingtalk_stream.Credential(config.client_id, config.client_secret.get_secret_value())
        super().__init__(credential, logger=sdk_log)
        self.config, self.http = config, http
        self.stopping = False
        self.connected = threading.Event()
        self.frames = 0
        self.refused: str | None = None     # the gateway refused the app: retrying cannot help
        self.watchdog_s = watchdog_s
        self._tasks: set[asyncio.Task[Any]] = set()

    def open_connection(self) -> dict[str, Any] | None:
        """POST the gateway for a WebSocket endpoint and a one-time ticket (runs in a thread)."""
        topics = [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]
        body = {"clientId": self.credential.client_id, "clientSecret": self.credential.client_secret,
                "subscriptions": topics, "ua": "kpibot", "localIp": ""}
        try:
            resp = self.http.post(f"{self.config.endpoint}/v1.0/gateway/connections/open", json=body)
        except httpx.HTTPError as exc:
            log.warning("dingtalk: opening the stream connection failed: %s: %s", exc.__class__.__name__, exc)
            return None
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if resp.status_code == 200 and isinstance(answer, dict) and "endpoint" in answer and "ticket" in answer:
            return answer
        code = answer.get("code") if isinstance(answer, dict) else None
        if resp.status_code in (400, 401, 403):
            self.refused = (f"the DingTalk gateway refused the connection: HTTP {resp.status_code} {code or ''}"
                            " (check [dingtalk] client_id and client_secret)")
            log.error("dingtalk: %s", self.refused)
        else:
            log.warning("dingtalk: the gateway is unavailable: HTTP %s %s; trying again", resp.status_code, code or "")
        return None

    async def run(self) -> None:
        self.pre_start()
        delay = 0.2
        while not self.stopping:
            connection = await asyncio.to_thread(self.open_connection)
            if self.refused is not None:
                return
            if connection is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            log.debug("dingtalk: opening the stream at %s (its one-time ticket is not logged)", connection["endpoint"])
            uri = f'{connection["endpoint"]}?ticket={quote_plus(str(connection["ticket"]))}'
            opened, frames = time.monotonic(), self.frames
            try:
                # the watchdog: a ping every half watchdog_seconds, and a pong missing for the other half means
                # the connection is open but deaf: websockets closes it and the loop below reconnects
                half = self.watchdog_s / 2
                async with websockets.connect(uri, open_timeout=CONNECT_TIMEOUT_S, max_size=None,
                                              ping_interval=half, ping_timeout=half) as websocket:
                    self.websocket = websocket
                    self.connected.set()
                    async for raw in websocket:
                        self._route(raw)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                if self.stopping:
                    pass
                elif "keepalive ping timeout" in str(exc):
                    log.warning("dingtalk: no pong from the server for %.0f s: the connection is deaf; reconnecting",
                                self.watchdog_s / 2)
                    metrics.reconnected(PLATFORM)
                else:
                    log.warning("dingtalk: stream connection lost: %s: %s", exc.__class__.__name__, exc)
            finally:
                self.connected.clear()
                self.websocket = None
            if self.frames > frames or time.monotonic() - opened >= HEALTHY_S:
                delay = 0.2      # it worked for a while: reconnect at once, as DingTalk asks after "disconnect"
            if not self.stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def cancel_tasks(self) -> None:
        """End the frame handlers still running (their frames were acked or will be redelivered)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _route(self, raw: str | bytes) -> None:
        self.frames += 1
        try:
            frame = json.loads(raw)
        except ValueError:
            log.error("dingtalk: a frame that is not JSON was ignored (%d bytes)", len(raw))
            return
        task = asyncio.get_running_loop().create_task(self.background_task(frame))
        self._tasks.add(task)          # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)


class DingTalkAdapter:
    platform = PLATFORM

    def __init__(self, config: DingTalkConfig, dispatcher: Dispatcher, engine: Engine, workers: int = 8,
                 attempts: int = 5, backoff_s: float = 0.2, watchdog_s: float = WATCHDOG_S) -> None:
        self.config, self.dispatcher, self.engine = config, dispatcher, engine
        self.api = DingTalkApi(config, attempts=attempts, backoff_s=backoff_s)
        self.stream = _StreamClient(config, self.api.http, watchdog_s)
        self.stream.register_callback_handler(BOT_TOPIC, _Frames(self._on_message))
        self.stream.register_callback_handler(CARD_TOPIC, _Frames(self._on_card_click))
        self.pool = WorkerPool(PLATFORM, workers)
        self.images = ImageUploads(lambda png, _chat: self.api.upload_image(png))
        self.rendered = Rendered()
        self.clicks = ClickOrder()
        self.answered = AnsweredEvents()   # events this process is answering or answered (answer_kept)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in a background thread with its own event loop; returns once the stream is open."""
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._task = loop.create_task(self.stream.run())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
            loop.run_until_complete(self.stream.cancel_tasks())
            loop.close()

        self._thread = threading.Thread(target=run, name="dingtalk-stream", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not self.stream.connected.wait(0.05):
            if self.stream.refused is not None:
                raise ConnectionError(self.stream.refused)
            if not self.alive() or time.monotonic() > deadline:
                raise ConnectionError(f"could not open the DingTalk stream connection at {self.config.endpoint} "
                                      "(see the log above)")

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def connected(self) -> bool:
        """The stream connection is open now (readiness)."""
        return self.alive() and self.stream.connected.is_set()

    def stop(self, timeout: float = 10.0, deadline: float | None = None) -> None:
        """Refuse new frames, close the connection, then finish the work in hand; all by `deadline`
        (time.monotonic()) when given."""
        self.pool.close()
        if deadline is not None:
            timeout = min(timeout, max(deadline - time.monotonic(), 0.1))
        self.stream.stopping = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
        self.pool.drain(70.0 if deadline is None else max(deadline - time.monotonic(), 0.0))
        self.api.close()

    # --- messages --------------------------------------------------------------------------------------

    def _on_message(self, frame: CallbackMessage) -> tuple[int, Any]:
        """Runs on the connection loop: hand over and ack."""
        try:
            self.pool.submit(track, PLATFORM, frame.headers.message_id, self.handle_message, frame.headers.message_id,
                             frame.data)
        except ShuttingDown:
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "shutting down; deliver again"
        return AckMessage.STATUS_OK, "OK"

    def handle_message(self, frame_id: str | None, data: dict[str, Any]) -> Outcome:
        """Answer once (bot.platforms.common.answer_once; a card kept for the sender's same ask this minute, in a
        one-to-one chat: answer_kept, which replies before it records, as on Feishu). A message not for the bot
        (no @-mention in a group, not text, not a command) is left alone before anything touches the store, so it
        never gets the busy card. The busy card needs no store (not even the sender's bound id: it goes back
        through the message's session webhook, else to the sender's staffId)."""
        msg = ChatbotMessage.from_dict(data)
        text = _text_of(msg)
        incoming = None if text is None else Incoming(PLATFORM, "", text, is_group=msg.conversation_type == "2",
                                                      mentioned=_mentioned(msg))
        if incoming is None or not self.dispatcher.wants(incoming):
            return Outcome.IGNORED
        ids = (frame_id, msg.message_id)
        kept = None if msg.conversation_type == "2" else \
            self.dispatcher.kept_answer(incoming, (msg.sender_staff_id, msg.sender_id))
        if kept is not None and self._keyed_card(kept[1]):
            # the card's outTrackId is made from the message id, and DingTalk makes one card instance of it however
            # often it is sent (createAndDeliver): the reply can go before the record. Not in a group, where an
            # answer waits for the group's turn. A card that did not go is answered as ever below
            owner, card = kept
            outcome = answer_kept(PLATFORM, self.engine, ids, lambda: self._send_card(
                card, _answer_track_id(msg), group=None, user=owner, owner=owner, chat=None, keyed=True),
                self.answered)
            if outcome is not None:
                return outcome

        def busy() -> None:
            self.answer(msg, self.dispatcher.busy_card(), owner=str(msg.sender_staff_id or msg.sender_id or ""))

        return answer_once(PLATFORM, self.engine, ids, lambda done: self._answer(msg, done), busy, self.answered)

    def _answer(self, msg: ChatbotMessage, done: Callable[[bool], None]) -> None:
        is_group = msg.conversation_type == "2"
        mentioned = _mentioned(msg)
        text = _text_of(msg)
        # No mentions to strip: DingTalk removes the linked @name of the robot (and of anyone else mentioned)
        # from text.content itself and names the people only by id in atUsers, so an "@" left in the text is
        # one the sender typed (a creator's handle, a URL) and must reach the command as it is.
        incoming = Incoming(PLATFORM, str(msg.sender_staff_id or msg.sender_id or ""), text or "",
                            is_group=is_group, mentioned=mentioned, event_id=msg.message_id, mentions=())
        # the one read of the sender, if any (Dispatcher.answer): staffId for people of the organisation, the
        # dingtalk id for anyone without one
        user_id, card = self.dispatcher.answer(incoming, (msg.sender_staff_id, msg.sender_id)) \
            if text is not None else (incoming.user_id, None)
        if card is None:
            done(True)      # nothing to say is an answer too
            return
        self.answer(msg, card, owner=user_id, done=done)

    def answer(self, msg: ChatbotMessage, card: Card, owner: str,
               done: Callable[[bool], None] | None = None) -> None:
        """Answer where the message came from. Group answers take their turn in the group's 20 a minute.
        `done` hears whether DingTalk took the answer (later, when the answer waits for the group's turn)."""
        group = msg.conversation_id if msg.conversation_type == "2" else None
        out_track_id = _answer_track_id(msg)
        card, files = self._upload_files(card)
        person = str(msg.sender_staff_id or owner)

        def send() -> bool:
            if self._wants_card(card) and self._send_card(card, out_track_id, group=group,
                                                          user=None if group else owner, owner=owner, chat=group,
                                                          keyed=True):
                return True
            title, text = self._markdown(card, msg.conversation_id or owner)
            expires = int(msg.session_webhook_expired_time or 0)
            if msg.session_webhook and expires > time.time() * 1000 + WEBHOOK_MARGIN_MS and \
                    self.api.reply_by_session(msg.session_webhook, {"msgtype": "markdown",
                                                                    "markdown": {"title": title, "text": text}}):
                return True
            return self._send_markdown(title, text, group=group, user=None if group else owner)

        def send_and_tell() -> None:
            try:
                sent = send()
            except BaseException:   # the claim and this process's note of the event go: a redelivery is answered
                if done is not None:
                    done(False)
                raise
            if done is not None:
                done(sent)          # before the files: the answer went, whatever becomes of them
            if sent:
                self._send_files(files, group=group, user=None if group else person, wait=False)

        self._in_turn(group, send_and_tell, wait=False)

    # --- proactive sends (digests, alerts, approvals) ------------------------------------------------------

    def send_to_chat(self, chat_id: str, card: Card, key: str | None = None) -> bool:
        return self._push(card, group=chat_id, user=None, key=key)

    def send_to_user(self, user_id: str, card: Card, key: str | None = None) -> bool:
        return self._push(card, group=None, user=user_id, key=key)

    def deliver_to_user(self, user_id: str, card: Card, key: str | None = None) -> str | None:
        return self._push_ref(card, group=None, user=user_id, key=key)

    def update_for_user(self, user_id: str, ref: str, card: Card) -> bool:
        """Update the card instance `ref` (its outTrackId) with `card`, its buttons still `user_id`'s."""
        return self.api.update_card(ref, self._card_params(card, user_id, owner=user_id, chat=None))

    def _push(self, card: Card, group: str | None, user: str | None, key: str | None = None) -> bool:
        return self._push_ref(card, group, user, key) is not None

    def _push_ref(self, card: Card, group: str | None, user: str | None, key: str | None = None) -> str | None:
        """Called from a job's thread: waits for the group's turn and says whether the card went out. With a
        `key`, an interactive card's outTrackId is made from it, so the same claim sent again (a takeover after
        a crash) finds its card instance already there (created and delivered in one call: createAndDeliver) and
        counts as sent instead of delivering a second copy.
        Markdown robot messages (no card template, or a card that could not be created) have no idempotency
        key on DingTalk: those may still arrive twice after a takeover."""
        out_track_id = "kpibot-" + (idempotency_id(key, group or user or "") if key is not None else uuid.uuid4().hex)
        card, files = self._upload_files(card)

        def send() -> str | None:
            # a card for a person is theirs to click; a group's card is shared, within its scope (cards.clicks)
            if self._wants_card(card) and self._send_card(card, out_track_id, group=group, user=user, owner=user,
                                                          chat=group, keyed=key is not None):
                return out_track_id
            title, text = self._markdown(card, group or user or "")
            return "" if self._send_markdown(title, text, group=group, user=user) else None

        ref: str | None = self._in_turn(group, send, wait=True)
        if ref is not None:
            self._send_files(files, group=group, user=user, wait=True)
        return ref

    def _upload_files(self, card: Card) -> tuple[Card, list[Uploaded]]:
        return upload_files(card, PLATFORM, DINGTALK_MAX_FILE_BYTES,
                            lambda f: self.api.upload_file(f.name, f.content, f.mime))

    def _send_files(self, files: list[Uploaded], group: str | None, user: str | None, wait: bool) -> None:
        """Each file as a robot file message after its card, in the group's turn (a group message like any other;
        an answer's worker does not wait for it: `wait` as for _in_turn). A file that is not taken is logged; the
        card went out already."""
        for file in files:
            param = {"mediaId": file.key, "fileName": file.file.name,
                     "fileType": extension(file.file.name) or "file"}
            if group is not None:
                self._in_turn(group, lambda p=param: self.api.send_to_group(group, "sampleFile", p), wait=wait)
            else:
                self.api.send_to_users([str(user)], "sampleFile", param)

    def _in_turn(self, group: str | None, send: Any, wait: bool) -> Any:
        """Run `send` in the group's next free slot (20 messages a minute per group). A worker does not sit
        out a long wait: the send is scheduled for its slot and the worker moves on."""
        delay = self.api.group_limit.reserve(group) if group is not None else 0.0
        if delay > INLINE_WAIT_S and not wait:
            log.info("dingtalk: group %s has used its messages for the minute; answering in %.0f s", group, delay)
            self.pool.submit_later(delay, send)
            return None
        if delay > 0:
            time.sleep(delay)
        return send()

    def _markdown(self, card: Card, chat: str) -> tuple[str, str]:
        card = fit_markdown(card)
        return render_markdown(card, self.images.keys_for(card, chat))

    def _send_markdown(self, title: str, text: str, group: str | None, user: str | None) -> bool:
        param = {"title": title, "text": text}
        if group is not None:
            return self.api.send_to_group(group, "sampleMarkdown", param)
        return self.api.send_to_users([str(user)], "sampleMarkdown", param)

    def _wants_card(self, card: Card) -> bool:
        interactive = any(isinstance(b, Buttons) for b in card.blocks) or bool(card.images())
        return interactive and self.config.card_template_id is not None

    def _keyed_card(self, card: Card) -> bool:
        """Whether `card` goes as an interactive card alone, so that a keyed send of it is made once however often
        it is sent: not markdown (no template, nothing interactive), no file messages after it."""
        return self._wants_card(card) and not any(isinstance(b, File) for b in card.blocks)

    def _send_card(self, card: Card, out_track_id: str, group: str | None, user: str | None,
                   owner: str | None, chat: str | None, keyed: bool = False) -> bool:
        """An interactive card; False (and the caller falls back to markdown) when it could not be sent. A card
        whose outTrackId is made from a key (`keyed`: an answer's, from its message; a keyed proactive send's, from
        its claim) is created and delivered in one call (createAndDeliver): one round trip, and a card instance
        that already exists was delivered by an earlier try of the same message or claim: it counts as sent and is
        not delivered again. (Created, then delivered in a second call, a card could exist undelivered after a
        failed delivery or a crash between the two, and the retry would count it as sent.)"""
        params = self._card_params(card, group or user or "", owner, chat)
        if keyed:
            created = self.api.create_and_deliver_card(out_track_id, params, group, user)
            if created is CardCreated.EXISTS:
                log.info("dingtalk: card %s already exists: delivered before a takeover or a lost answer; not "
                         "sent again", out_track_id)
            return created is not CardCreated.FAILED
        created = self.api.create_card(out_track_id, params)
        return created is CardCreated.NEW and self.api.deliver_card(out_track_id, group, user)

    def _card_params(self, card: Card, chat_id: str, owner: str | None, chat: str | None) -> dict[str, str]:
        """The card's params, fitted (fit_card_params), its charts uploaded for `chat_id`. The same card object
        asked again (a cached answer) is rendered once (common.Rendered)."""
        kept = self.rendered.get(card, (owner, chat))
        fitted = fit_card_params(card) if kept is None else kept[0]
        keys = self.images.keys_for(fitted, chat_id)
        if kept is not None and kept[1] == keys:
            return dict(kept[2])
        params = render_card_params(fitted, keys, owner=owner, lang=fitted.lang, chat=chat)
        self.rendered.put(card, (owner, chat), (fitted, keys, dict(params)))
        return params

    # --- card clicks ----------------------------------------------------------------------------------

    def _on_card_click(self, frame: CallbackMessage) -> tuple[int, Any]:
        """Runs on the connection loop, so clicks are numbered in the order they arrive; never blocks (no
        store, no network), never raises. The card is updated by a worker. A redelivered click is simply
        run again: the card ends the same."""
        lang = lang_of(self.dispatcher.services.org_locale)
        try:
            click = CardCallbackMessage.from_dict(frame.data)
            params = (click.content.get("cardPrivateData") or {}).get("params") or {}
            if not isinstance(params, dict):
                raise TypeError("params is not an object")
            if params.get("lang") in LANGS:
                lang = params["lang"]
            user, out_track_id = click.user_id, click.card_instance_id
            # the space the click came from: a group's openConversationId (IM_GROUP), else a person's chat
            chat = frame.data.get("spaceId") if frame.data.get("spaceType") == "IM_GROUP" else None
            if not user or not out_track_id:
                log.warning("dingtalk: a card click without a user or a card was ignored")
            elif isinstance(checked := read_click(params, user, chat), str):
                log.info("dingtalk: a click by %s on %s refused: %s", user, out_track_id, checked)
                self.pool.submit(self._tell, user, lang, checked)
            else:
                seq = self.clicks.next(out_track_id)
                try:
                    self.pool.submit(self.handle_click, user, checked, chat, out_track_id, seq, lang)
                except ShuttingDown:
                    self.clicks.withdraw(out_track_id, seq)   # never runs: it must not drop one already running
                    raise
        except ShuttingDown:
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "shutting down; deliver again"
        except (ValueError, AttributeError, TypeError):
            log.warning("dingtalk: a card click that could not be read was ignored")
        return AckMessage.STATUS_OK, {}

    def handle_click(self, user: str, click: Click, chat: str | None, out_track_id: str, seq: int,
                     lang: str) -> None:
        who = self.dispatcher.who(PLATFORM, user)
        answer = self.dispatcher.click(PLATFORM, who.user_id, click, chat or "", who)
        if isinstance(answer, Refused):   # told privately; the clicked card stays as it is
            self.clicks.withdraw(out_track_id, seq)
            self.send_to_user(user, answer.card)
            return
        # a card made for the clicker stays theirs; a group's shared card stays the group's (cards.clicks)
        card, owner = answer, (user if click.scope is None else None)
        params = self._card_params(card, chat or user, owner=owner, chat=chat)
        if not self.clicks.update_if_newest(out_track_id, seq, lambda: self.api.update_card(out_track_id, params)):
            log.info("dingtalk: a newer click on %s was answered; this one is dropped", out_track_id)

    def _tell(self, staff_id: str, lang: str, key: str) -> None:
        self.send_to_user(staff_id, Card("kpibot", (Note(t(lang, key)),), Tone.WARN, lang))


def _answer_track_id(msg: ChatbotMessage) -> str:
    """The outTrackId of the card answering `msg`, made from its message id: one card instance per message."""
    return "kpibot-" + hashlib.sha256(str(msg.message_id).encode()).hexdigest()[:40]


def _mentioned(msg: ChatbotMessage) -> bool:
    return bool(msg.is_in_at_list) or any(u.dingtalk_id == msg.chatbot_user_id for u in msg.at_users or [])


def _text_of(msg: ChatbotMessage) -> str | None:
    """The text of a text or rich-text message; None for anything else (pictures, files)."""
    if msg.message_type == "text" and msg.text is not None:
        return str(msg.text.content or "")
    if msg.message_type == "richText" and msg.rich_text_content is not None:
        return " ".join(str(part.get("text", "")) for part in msg.rich_text_content.rich_text_list
                        if isinstance(part, dict) and "text" in part)
    return None
