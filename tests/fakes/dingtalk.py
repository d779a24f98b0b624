"""A fake DingTalk open platform that the REAL ``dingtalk-stream`` 0.24.3 client and plain httpx talk to.

One aiohttp application on 127.0.0.1 (port 0) serves everything on ``base_url``; the server runs in a
daemon thread with its own event loop and every public method is called from the test's thread.

Usage::

    with FakeDingTalk() as fake:
        monkeypatch.setattr(DingTalkStreamClient, "OPEN_CONNECTION_API",
                            fake.base_url + "/v1.0/gateway/connections/open")
        ...start the SDK client (stream.py reads that CLASS attribute at call time)...
        fake.wait_connected()
        data = fake.bot_message("staff_1", "/mykpi", conversation_type="2")
        ack = fake.push_message(data)      # blocks until the client acks
        json.loads(ack["data"])            # {"response": <what the handler returned>}
        httpx.post(data["sessionWebhook"], json={"msgtype": "text", "text": {"content": "hi"}})
        fake.delivered[-1]                 # Delivered(via="session", space="group", target="cid_group_1", ...)

REST calls go to ``fake.base_url`` with a token from ``POST /v1.0/oauth2/accessToken``. The SDK's own REST
helpers read the module constant ``DINGTALK_OPENAPI_ENDPOINT`` that ``dingtalk_stream.stream`` and
``dingtalk_stream.card_replier`` each imported: patch both to ``fake.base_url`` to use them.

Inspection: ``calls`` (every HTTP request and its answer), ``delivered`` (every message that reached a chat),
``cards`` (outTrackId -> CardInstance with params/history/spaces), ``media`` (media_id -> bytes), ``throttled``
(requests refused with the throttle answer), ``protocol_errors`` (bad acks), ``acks`` (frame messageId -> acks),
``connections``, ``subscriptions``, ``tickets_used``, ``rejected_handshakes``, ``tokens``.

Endpoints
---------
Stream mode (``dingtalk_stream/stream.py``, ``frames.py``, ``handlers.py``):

* ``POST /v1.0/gateway/connections/open`` ``{clientId, clientSecret, subscriptions: [{type, topic}], ua, localIp}``
  -> 200 ``{"endpoint": "ws://127.0.0.1:<port>/connect", "ticket": <single use>}``.
* ``GET /connect?ticket=T`` (WebSocket). JSON text frames ``{specVersion, type: SYSTEM|EVENT|CALLBACK,
  headers: {appId, connectionId, contentType, messageId, time, topic}, data: "<JSON string>"}``; the client
  answers every frame with an ack ``{code, headers: {contentType, messageId}, message, data: "<JSON string>"}``
  (CALLBACK acks: data = ``{"response": <handler value>}``; SYSTEM acks echo the frame's data).
  SYSTEM ``ping`` carries ``{"opaque": ...}``; after SYSTEM ``disconnect`` the client acks, closes and opens a
  new connection (gateway again, new ticket). The fake also closes the old socket itself
  ``DISCONNECT_GRACE_S`` after the ack (UNVERIFIED: the grace period).
  Only CALLBACKs for topics the client subscribed to are pushed: pushing another topic raises
  AssertionError in the test (the platform never delivers it).

OpenAPI (``x-acs-dingtalk-access-token`` header on every call but the gateway and the token):

* ``POST /v1.0/oauth2/accessToken`` ``{appKey, appSecret}`` -> ``{"accessToken", "expireIn"}``.
* ``POST /v1.0/card/instances`` (create), ``PUT /v1.0/card/instances`` (update),
  ``POST /v1.0/card/instances/deliver``, ``POST /v1.0/card/instances/createAndDeliver``
  (``dingtalk_stream/card_replier.py``).
* ``POST /v1.0/robot/groupMessages/send``, ``POST /v1.0/robot/oToMessages/batchSend``; msgKey ``sampleText``
  {content}, ``sampleMarkdown`` {title, text}, ``sampleImageMsg`` {photoURL}, ``sampleLink`` {text, title,
  picUrl, messageUrl}, ``sampleActionCard`` {title, text, singleTitle, singleURL}, ``sampleFile`` {mediaId,
  fileName, fileType} (mediaId: a type=file upload of this fake; fileName: that upload's file name; fileType:
  that name's extension, lower case, or "file" for a name without one: UNVERIFIED) (required fields: UNVERIFIED
  beyond the first three; sampleFile's from third-party connector docs naming the three fields).

oapi-style (HTTP 200 with ``{"errcode", "errmsg"}``):

* ``POST /robot/sendBySession?session=S`` (the ``sessionWebhook`` of a bot message, no token):
  ``{"msgtype": "text", "text": {"content"}}`` or ``{"msgtype": "markdown", "markdown": {"title", "text"}}``,
  optional ``"at": {"atUserIds": [...], "atMobiles": [...], "isAtAll": bool}`` -> ``{"errcode": 0, "errmsg": "ok"}``.
* ``POST /media/upload?access_token=T`` multipart ``media`` (file) + ``type`` (``image`` or ``file``) ->
  ``{"errcode": 0, "errmsg": "ok", "media_id": "@lA...", "type": "image", "created_at": <ms>}``.
  ``media`` holds the bytes by media_id, ``media_files`` the file name of each type=file upload.

Errors
------
"Verified" codes were seen in real answers quoted publicly: a probe log of api.dingtalk.com (token
``invalidClientIdOrSecret``, ``InvalidAuthentication``, ``AuthenticationFailed.MissingParameter``, oapi
``40035``), zfanswer/dify-on-dingtalk#28 (gateway ``authFailed``), aliyun/alibabacloud-php-sdk#36
(``Missingbody``), agentscope-ai/QwenPaw#2221 (session webhook ``300001``), satorijs/satori#240 (oapi ``40014``
with HTTP 200), DingTalk's groupMessages/send reference (msgParam at most 15,000 bytes) and its
call-frequency-limit page (``90002``). Everything marked UNVERIFIED is this fake's best guess.

* gateway, wrong clientId/clientSecret: HTTP 401 ``{"code": "authFailed", "message": "鉴权失败"}``;
  missing fields / malformed subscriptions: HTTP 400 ``MissingParameter`` / ``InvalidParameter`` (UNVERIFIED).
* WebSocket with an unknown or already used ticket: handshake refused with HTTP 401 (UNVERIFIED status).
* token, wrong appKey/appSecret: HTTP 400 ``invalidClientIdOrSecret`` "无效的clientId或者clientSecret";
  missing fields: HTTP 400 ``MissingParameter`` (UNVERIFIED).
* any /v1.0 call without a JSON body: HTTP 400 ``Missingbody`` "body is mandatory for this action."
* /v1.0 call without the token header: HTTP 400 ``AuthenticationFailed.MissingParameter``
  "缺少参数：x-acs-dingtalk-access-token"; unknown or expired token: HTTP 400 ``InvalidAuthentication``
  "不合法的access_token". (The real platform answers 400, not 401, for both.)
* card and robot body validation (missing/ill-typed fields, non-string cardParamMap values, duplicate or
  unknown outTrackId, bad openSpaceId, robotCode != robot_code, unknown msgKey, unparsable msgParam,
  userIds empty or over 20, a space type the card was not created for): HTTP 400 ``InvalidParameter``
  (UNVERIFIED code; the message says what is wrong).
* robot msgParam over ``MAX_MSG_PARAM_BYTES`` (15,000 bytes, the limit DingTalk documents for
  groupMessages/send): HTTP 400 ``InvalidParameter.Length`` (UNVERIFIED code).
* group limit (``group_limit`` messages per conversation per sliding ``group_window_s``, counting session-webhook
  replies in groups, groupMessages/send and IM_GROUP card deliveries) and ``throttle_next``: session webhook
  HTTP 200 errcode 130101 "send too fast, exceed 20 times per minute" (documented for custom-webhook robots,
  UNVERIFIED for session webhooks); OpenAPI HTTP 403 ``Forbidden.AccessDenied.QpsLimitForApi`` (UNVERIFIED);
  media upload errcode 90002 (DingTalk's rate-limit errcode; message UNVERIFIED).
* session webhook: unknown or expired session errcode 300001 "session 不存在"; body over
  ``MAX_WEBHOOK_BYTES`` (20,000) errcode 460101 (UNVERIFIED); bad body errcode 40035 (DingTalk's "缺少参数"
  code; UNVERIFIED for this endpoint).
* media upload: missing/unknown/expired token errcode 40014 "不合法的access_token"; missing ``type`` or
  ``media`` or a type other than image or file errcode 40035 (UNVERIFIED here); an image that is not PNG/JPEG
  errcode 40005 (UNVERIFIED); empty or over 20 MB errcode 40006 (UNVERIFIED).
* ``fail_next``: /v1.0 paths HTTP ``http_status`` ``{"code": code, "message"}``; oapi-style paths HTTP
  ``http_status`` ``{"errcode": -1, "errmsg": "<code>: 系统繁忙"}`` (-1 = DingTalk's "system busy").
* unknown path: HTTP 404 ``{"code": "NotFound", "message"}``.

Fault rules (``fail_next``, ``throttle_next``, ``delay_next``) match every path containing ``path_contains``;
the gateway and token calls are matched only when ``path_contains`` is non-empty (so a bare ``fail_next(1)``
never breaks the SDK's reconnect). Delay applies first, then fail, then throttle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import (
    Changes,
    FakeServer,
    RecordedCall,
    abort_connection,
    cancel_other_tasks,
    wait_or_fail,
)

BOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
PING_TOPIC = "ping"
DISCONNECT_TOPIC = "disconnect"

GATEWAY_PATH = "/v1.0/gateway/connections/open"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
WS_PATH = "/connect"
SESSION_PATH = "/robot/sendBySession"
MEDIA_PATH = "/media/upload"

TOKEN_HEADER = "x-acs-dingtalk-access-token"
MAX_WEBHOOK_BYTES = 20_000
MAX_MSG_PARAM_BYTES = 15_000
MAX_MEDIA_BYTES = 20 * 1024 * 1024
MAX_OTO_USERS = 20
DISCONNECT_GRACE_S = 10.0
TOO_LARGE = "request body too large"
MSG_KEYS: dict[str, tuple[str, ...]] = {
    "sampleText": ("content",),
    "sampleMarkdown": ("title", "text"),
    "sampleImageMsg": ("photoURL",),
    "sampleLink": ("text", "title", "picUrl", "messageUrl"),
    "sampleActionCard": ("title", "text", "singleTitle", "singleURL"),
    "sampleFile": ("mediaId", "fileName", "fileType"),
}
SESSION_MSGTYPES: dict[str, tuple[str, ...]] = {"text": ("content",), "markdown": ("title", "text")}
SPACE_PREFIX = "dtv1.card//"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

THROTTLE_WEBHOOK = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
THROTTLE_MEDIA = {"errcode": 90002, "errmsg": "api调用频率超过限制"}
THROTTLE_API_CODE = "Forbidden.AccessDenied.QpsLimitForApi"


@dataclass
class Call(RecordedCall):
    """One HTTP request (every path but the WebSocket upgrade) and the answer it got."""

    json: Any | None
    form: dict[str, Any] | None
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @property
    def code(self) -> str | int | None:
        """``answer["code"]`` (OpenAPI) or ``answer["errcode"]`` (oapi), None on a success without either."""
        return self.answer.get("code", self.answer.get("errcode"))


@dataclass
class Delivered:
    """A message that reached a chat."""

    via: str                      # "session" | "group_send" | "oto_send" | "card"
    space: str                    # "group" | "user"
    target: str                   # conversationId (group) or staffId (user)
    msg_key: str                  # msgtype (session), msgKey (robot APIs), cardTemplateId (card)
    content: dict[str, Any]       # body[msgtype], parsed msgParam, or the cardParamMap at delivery
    out_track_id: str | None = None
    at: Any | None = None         # session "at", or imGroupOpenDeliverModel.atUserIds
    time: float = field(default_factory=time.time)


@dataclass
class CardInstance:
    """A card created through ``POST /v1.0/card/instances`` (or createAndDeliver)."""

    out_track_id: str
    template_id: str
    callback_type: str | None                  # "STREAM" | "HTTP" | None (not given)
    params: dict[str, str]                     # current cardParamMap
    history: list[dict[str, str]]              # the full param map after create and after every update
    spaces: list[str] = field(default_factory=list)   # openSpaceIds delivered to, in order
    space_models: set[str] = field(default_factory=set)  # "IM_GROUP"/"IM_ROBOT" open space models given at create


class _Reject(Exception):
    """Raised in a route: answer with this HTTP status and body."""

    def __init__(self, status: int, body: dict[str, Any], throttled: bool = False) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.throttled = status, body, throttled


@dataclass
class _Rule:
    remaining: int
    path_contains: str
    kind: str                  # "fail" | "throttle" | "delay"
    http_status: int = 0
    code: str = ""
    seconds: float = 0.0


@dataclass
class _Conn:
    connection_id: str
    ws: web.WebSocketResponse
    request: web.Request
    ticket: str
    subscriptions: list[dict[str, Any]]
    deaf: bool = False     # open but silent: no WebSocket pong, no ack read (go_deaf)


@dataclass
class _Session:
    space: str
    target: str
    conversation_id: str
    expires_at: float


def _api_error(status: int, code: str, message: str) -> _Reject:
    return _Reject(status, {"requestid": str(uuid.uuid4()).upper(), "code": code, "message": message})


def _invalid(message: str) -> _Reject:
    return _api_error(400, "InvalidParameter", message)


def _oapi_error(errcode: int, errmsg: str) -> _Reject:
    return _Reject(200, {"errcode": errcode, "errmsg": errmsg})


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_oapi(path: str) -> bool:
    return not path.startswith("/v1.0/")


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


class FakeDingTalk(FakeServer):
    """Fake DingTalk (Stream gateway, OpenAPI, session webhooks, media upload); see the module docstring."""

    def __init__(self, client_id: str = "ding_test", client_secret: str = "secret_test", corp_id: str = "corp_test",
                 token_ttl: int = 7200, group_limit: int = 20, group_window_s: float = 60.0,
                 ack_timeout_s: float = 5.0) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.corp_id = corp_id
        self.token_ttl = token_ttl
        self.group_limit = group_limit
        self.group_window_s = group_window_s
        self.ack_timeout_s = ack_timeout_s
        self.robot_code = client_id
        self.chatbot_user_id = "$:LWCP_v1:$bot"
        self.app_id = "app_" + secrets.token_hex(6)     # headers.appId of pushed frames (not the clientId)
        # inspection (written on the server thread under self._lock, read from the test thread)
        self.calls: list[Call] = []
        self.delivered: list[Delivered] = []
        self.cards: dict[str, CardInstance] = {}
        self.media: dict[str, bytes] = {}
        self.media_files: dict[str, str] = {}          # media_id -> file name, for type=file uploads
        self.throttled: list[Call] = []
        self.protocol_errors: list[str] = []
        self.acks: dict[str, list[dict]] = {}
        self.connections = 0
        self.subscriptions: list[dict] = []
        self.tickets_used: list[str] = []              # ticket of every accepted WebSocket, in order
        self.rejected_handshakes = 0
        self.tokens: dict[str, float] = {}             # accessToken -> expiry (epoch s)
        # internal state
        self._lock = threading.Lock()
        self._cond = Changes(self._lock)
        self._tickets: dict[str, list[dict]] = {}      # issued, unused ticket -> subscriptions
        self._sessions: dict[str, _Session] = {}
        self._frames: dict[str, dict] = {}              # messageId -> last frame sent with it
        self._sent: dict[str, int] = {}                 # messageId -> frames sent with it
        self._group_sends: dict[str, deque[float]] = {}
        self._rules: list[_Rule] = []
        self._conn: _Conn | None = None
        self._all_conns: list[_Conn] = []

    # ------------------------------------------------------------------ lifecycle
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_MEDIA_BYTES + 4 * 1024 * 1024)
        app.router.add_get(WS_PATH, self._ws_handler)
        app.router.add_route("*", "/{tail:.*}", self._http_handler)
        return app

    async def _astop(self) -> None:
        """On ``stop()``: close every WebSocket (code 1001) and the server."""
        for conn in list(self._all_conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), 2)
        await super()._astop()
        await cancel_other_tasks()

    # ------------------------------------------------------------------ waiting
    def connected(self) -> bool:
        """True while a Stream client is connected."""
        conn = self._conn
        return conn is not None and not conn.ws.closed

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until a Stream client is connected."""
        self.wait_for(self.connected, timeout, "a Stream client to connect")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``predicate`` is true, woken by every call the fake answers (tests.fakes.server.wait_until);
        AssertionError naming it on timeout."""
        wait_or_fail(self._cond, predicate, timeout, what, lambda: (
            f"connections={self.connections}, connected={self.connected()}, last calls="
            f"{[f'{c.method} {c.path} -> {c.status} {c.code}' for c in self.calls[-5:]]}, "
            f"protocol_errors={self.protocol_errors[-3:]}"))

    # ------------------------------------------------------------------ payloads
    def bot_message(self, staff_id: str, text: str, *, conversation_type: str = "1", conversation_id: str | None = None,
                    at_bot: bool = True, msg_id: str | None = None, sender_nick: str = "", webhook_ttl_s: float = 5400,
                    sender_id: str | None = None) -> dict:
        """The data of a BOT_TOPIC callback (a text message to the bot), shaped as DingTalk sends it.

        ``conversation_type`` "1" = single chat, "2" = group. The ``sessionWebhook`` is registered here and
        expires ``webhook_ttl_s`` from now; replies to it land in that conversation.
        ``text`` is ``text.content`` verbatim. DingTalk has already removed the linked @name of the robot (and
        of anyone else @-mentioned) from it, leaving the space around it (" /mykpi" for "@kpibot /mykpi"); the
        mention shows only in ``atUsers`` (ids, no names) and ``isInAtList``.
        """
        if conversation_type not in ("1", "2"):
            raise ValueError(f"conversation_type must be '1' (single) or '2' (group), not {conversation_type!r}")
        group = conversation_type == "2"
        cid = conversation_id or ("cid_group_1" if group else f"cid_single_{staff_id}")
        session = secrets.token_hex(16)
        expires = time.time() + webhook_ttl_s
        with self._lock:
            self._sessions[session] = _Session("group" if group else "user", cid if group else staff_id, cid, expires)
        data: dict[str, Any] = {"conversationId": cid}
        if group:
            data["atUsers"] = [{"dingtalkId": self.chatbot_user_id}] if at_bot else []
        data.update({
            "chatbotCorpId": self.corp_id,
            "chatbotUserId": self.chatbot_user_id,
            "msgId": msg_id or "msg" + secrets.token_urlsafe(16),
            "senderNick": sender_nick,
            "isAdmin": False,
            "senderStaffId": staff_id,
            "sessionWebhookExpiredTime": int(expires * 1000),
            "createAt": _now_ms(),
            "senderCorpId": self.corp_id,
            "conversationType": conversation_type,
            "senderId": sender_id or "$:LWCP_v1:$" + staff_id,
        })
        if group:
            data["conversationTitle"] = f"group {cid}"
            data["isInAtList"] = at_bot
        data.update({
            "sessionWebhook": f"{self.base_url}{SESSION_PATH}?session={session}",
            "text": {"content": text},
            "robotCode": self.robot_code,
            "msgtype": "text",
        })
        return data

    # ------------------------------------------------------------------ Stream: pushing
    def push_callback(self, topic: str, data: dict, message_id: str | None = None) -> dict:
        """Push a CALLBACK frame and block until its ack; returns the ack as parsed JSON (``data`` is still the
        JSON string the client sent). TimeoutError after ``ack_timeout_s``."""
        mid, before = self._send("CALLBACK", topic, data, message_id)
        return self._wait_ack(mid, before, f"CALLBACK {topic}")

    def push_message(self, data: dict, message_id: str | None = None) -> dict:
        """``push_callback(BOT_TOPIC, data, message_id)``."""
        return self.push_callback(BOT_TOPIC, data, message_id)

    def push_message_nowait(self, data: dict, message_id: str | None = None) -> str:
        """Push a BOT_TOPIC frame without waiting; returns its messageId (the ack lands in ``acks``)."""
        return self._send("CALLBACK", BOT_TOPIC, data, message_id)[0]

    def redeliver(self, message_id: str) -> dict:
        """Send the frame with this messageId again (same messageId, topic and data; the connectionId and time of
        the current connection) and block until the new ack."""
        with self._lock:
            frame = self._frames.get(message_id)
        if frame is None:
            raise AssertionError(f"no frame with messageId {message_id!r} was pushed")
        mid, before = self._send(frame["type"], frame["headers"]["topic"], None, message_id, raw_data=frame["data"])
        return self._wait_ack(mid, before, f"redelivered {frame['type']} {frame['headers']['topic']}")

    def card_click(self, out_track_id: str, user_id: str, params: dict, action_id: str = "action") -> dict:
        """Push a CARD_TOPIC callback for a click on a delivered STREAM card; returns the ack.

        AssertionError when the card is unknown, was not created with callbackType STREAM or was never delivered:
        DingTalk delivers no such click. spaceType/spaceId come from the card's first delivery.
        """
        with self._lock:
            card = self.cards.get(out_track_id)
            spaces = list(card.spaces) if card is not None else []
        if card is None:
            raise AssertionError(f"card_click: no card with outTrackId {out_track_id!r} was created")
        if card.callback_type != "STREAM":
            raise AssertionError(f"card_click: card {out_track_id!r} has callbackType {card.callback_type!r}; "
                                 "DingTalk sends clicks over Stream only for callbackType STREAM")
        if not spaces:
            raise AssertionError(f"card_click: card {out_track_id!r} was never delivered")
        space_type, _, space_id = spaces[0].removeprefix(SPACE_PREFIX).partition(".")
        data = {
            "extension": "{}",
            "corpId": self.corp_id,
            "type": "actionCallback",
            "userId": user_id,
            "content": json.dumps({"cardPrivateData": {"actionIds": [action_id], "params": params}},
                                  ensure_ascii=False),
            "outTrackId": out_track_id,
            "spaceType": space_type,
            "spaceId": space_id,
            "userIdType": 1,
        }
        return self.push_callback(CARD_TOPIC, data)

    def ping(self) -> dict:
        """Push a SYSTEM ping and return its ack; AssertionError (and a protocol error) unless the ack's data
        echoes ``{"opaque": ...}``."""
        opaque = str(uuid.uuid4())
        mid, before = self._send("SYSTEM", PING_TOPIC, {"opaque": opaque}, None)
        ack = self._wait_ack(mid, before, "SYSTEM ping")
        echoed: Any = None
        with contextlib.suppress(TypeError, ValueError):
            echoed = json.loads(ack.get("data"))
        if echoed != {"opaque": opaque}:
            self._protocol_error(f"ack {mid}: ping ack data {ack.get('data')!r} does not echo the opaque")
            raise AssertionError(f"ping ack does not echo {{'opaque': {opaque!r}}}: {ack!r}")
        return ack

    def send_disconnect(self) -> None:
        """Push SYSTEM ``disconnect`` and wait for its ack. The client should close and reconnect; the fake closes
        the old socket itself ``DISCONNECT_GRACE_S`` later if the client has not."""
        conn = self._current_conn()
        mid, before = self._send("SYSTEM", DISCONNECT_TOPIC, {"reason": "fake server asks the client to reconnect"},
                                 None)
        self._wait_ack(mid, before, "SYSTEM disconnect")

        async def close_later() -> None:
            await asyncio.sleep(DISCONNECT_GRACE_S)
            await conn.ws.close(code=1000, message=b"disconnect")

        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.create_task, close_later())

    def go_deaf(self) -> None:
        """The current Stream connection stays open but the server falls silent on it: no pong to the client's
        WebSocket pings, no ack read, nothing sent. A new connection is heard."""
        self._current_conn().deaf = True

    def drop_connection(self) -> None:
        """Abort the current WebSocket's TCP connection (no close frame)."""
        conn = self._current_conn()
        with self._cond:
            if self._conn is conn:
                self._conn = None
            self._cond.notify_all()
        self._submit(abort_connection(conn.request, conn.ws))

    def _current_conn(self) -> _Conn:
        conn = self._conn
        if conn is None or conn.ws.closed:
            raise AssertionError("no Stream client is connected (call wait_connected() first)")
        return conn

    def _send(self, frame_type: str, topic: str, data: dict | None, message_id: str | None,
              raw_data: str | None = None) -> tuple[str, int]:
        conn = self._current_conn()
        if frame_type == "CALLBACK" and not any(
                s.get("type") == "CALLBACK" and s.get("topic") == topic for s in conn.subscriptions):
            raise AssertionError(f"the client did not subscribe to CALLBACK {topic!r} (subscriptions: "
                                 f"{conn.subscriptions}); DingTalk would never deliver it")
        mid = message_id or str(uuid.uuid4())
        frame = {
            "specVersion": "1.0",
            "type": frame_type,
            "headers": {"appId": self.app_id, "connectionId": conn.connection_id, "contentType": "application/json",
                        "messageId": mid, "time": str(_now_ms()), "topic": topic},
            "data": raw_data if raw_data is not None else json.dumps(data, ensure_ascii=False),
        }
        with self._lock:
            self._frames[mid] = frame
            self._sent[mid] = self._sent.get(mid, 0) + 1
            before = len(self.acks.get(mid, []))
        self._submit(conn.ws.send_str(json.dumps(frame, ensure_ascii=False)))
        return mid, before

    def _wait_ack(self, mid: str, before: int, what: str) -> dict:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.acks.get(mid, [])) > before, self.ack_timeout_s):
                raise TimeoutError(f"no ack for {what} frame {mid} within {self.ack_timeout_s:.1f}s; "
                                   f"connected={self.connected()}, protocol_errors={self.protocol_errors[-3:]}")
            return self.acks[mid][before]

    # ------------------------------------------------------------------ Stream: server side
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            subscriptions = self._tickets.pop(ticket, None)
            if subscriptions is None:
                self.rejected_handshakes += 1
        if subscriptions is None:
            return web.json_response({"code": "InvalidTicket", "message": "unknown or already used ticket"},
                                     status=401)
        ws = web.WebSocketResponse(autoping=False, max_msg_size=16 * 1024 * 1024)   # pings answered below
        await ws.prepare(request)
        conn = _Conn(str(uuid.uuid4()), ws, request, ticket, subscriptions)
        with self._cond:
            self.connections += 1
            self.tickets_used.append(ticket)
            self._conn = conn
            self._all_conns.append(conn)
            self._cond.notify_all()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if not conn.deaf:
                        await ws.pong(msg.data)
                elif conn.deaf:
                    continue
                elif msg.type == WSMsgType.TEXT:
                    self._on_ack(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._protocol_error(f"binary message on the Stream connection: {msg.data[:80]!r}")
        finally:
            with self._cond:
                if self._conn is conn:
                    self._conn = None
                self._cond.notify_all()
        return ws

    def _protocol_error(self, text: str) -> None:
        with self._cond:
            self.protocol_errors.append(text)
            self._cond.notify_all()

    def _on_ack(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            self._protocol_error(f"message is not JSON: {text[:120]!r}")
            return
        if not isinstance(ack, dict):
            self._protocol_error(f"ack is not a JSON object: {text[:120]!r}")
            return
        headers = ack.get("headers")
        mid = headers.get("messageId") if isinstance(headers, dict) else None
        if not isinstance(headers, dict) or not isinstance(mid, str):
            self._protocol_error(f"ack without headers.messageId: {text[:120]!r}")
            return
        problems: list[str] = []
        code = ack.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            problems.append(f"code missing or not an integer: {code!r}")
        if headers.get("contentType") != "application/json":
            problems.append(f"headers.contentType is {headers.get('contentType')!r}, not 'application/json'")
        data: Any = None
        if not isinstance(ack.get("data"), str):
            problems.append(f"data is not a JSON string: {ack.get('data')!r}")
        else:
            try:
                data = json.loads(ack["data"])
            except ValueError:
                problems.append(f"data is not valid JSON: {ack['data'][:80]!r}")
        with self._cond:
            frame = self._frames.get(mid)
            if frame is None:
                self.protocol_errors.append(f"ack for unknown messageId {mid!r}")
                self._cond.notify_all()
                return
            received = self.acks.setdefault(mid, [])
            if len(received) >= self._sent.get(mid, 0):
                problems.append("more acks than frames sent with this messageId")
            if frame["type"] == "CALLBACK" and isinstance(ack.get("data"), str) and (
                    not isinstance(data, dict) or "response" not in data):
                problems.append(f"CALLBACK ack data is not {{\"response\": ...}}: {ack['data'][:80]!r}")
            received.append(ack)
            self.protocol_errors.extend(f"ack {mid}: {p}" for p in problems)
            self._cond.notify_all()

    # ------------------------------------------------------------------ faults
    def fail_next(self, n: int, path_contains: str = "", http_status: int = 500,
                  code: str = "ServiceUnavailable") -> None:
        """The next ``n`` matching requests get ``http_status`` with ``{"code": code, "message"}`` (oapi paths:
        ``{"errcode": -1, "errmsg"}``) and are not applied."""
        with self._lock:
            self._rules.append(_Rule(n, path_contains, "fail", http_status=http_status, code=code))

    def throttle_next(self, n: int, path_contains: str = "") -> None:
        """The next ``n`` matching requests get the platform's throttle answer and land in ``throttled``."""
        with self._lock:
            self._rules.append(_Rule(n, path_contains, "throttle"))

    def delay_next(self, n: int, seconds: float, path_contains: str = "") -> None:
        """Delay the answer to the next ``n`` matching requests by ``seconds``."""
        with self._lock:
            self._rules.append(_Rule(n, path_contains, "delay", seconds=seconds))

    def injected_pending(self) -> int:
        """How many injected faults and delays have not met their request yet."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def expire_tokens(self) -> None:
        """Every access token issued so far becomes invalid."""
        with self._lock:
            self.tokens.clear()

    def _take(self, kind: str, path: str) -> _Rule | None:
        exempt = path in (GATEWAY_PATH, TOKEN_PATH)
        for rule in self._rules:
            if rule.kind != kind or rule.remaining <= 0 or rule.path_contains not in path:
                continue
            if exempt and not rule.path_contains:
                continue
            rule.remaining -= 1
            return rule
        return None

    @staticmethod
    def _throttle_answer(path: str) -> _Reject:
        if path == SESSION_PATH:
            return _Reject(200, dict(THROTTLE_WEBHOOK), throttled=True)
        if path == MEDIA_PATH:
            return _Reject(200, dict(THROTTLE_MEDIA), throttled=True)
        rej = _api_error(403, THROTTLE_API_CODE, "调用频率超过限制 (API QPS limit exceeded)")
        rej.throttled = True
        return rej

    def _admit_group(self, cid: str) -> bool:
        """Count one message to group ``cid`` unless it already had group_limit in the sliding window."""
        now = time.monotonic()
        with self._lock:
            sent = self._group_sends.setdefault(cid, deque())
            while sent and now - sent[0] >= self.group_window_s:
                sent.popleft()
            if len(sent) >= self.group_limit:
                return False
            sent.append(now)
            return True

    # ------------------------------------------------------------------ HTTP
    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        call = Call(method=request.method, path=path, query=dict(request.query), headers=dict(request.headers),
                    json=None, form=None)
        body_error = ""
        raw = b""
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                form, body_error = None, TOO_LARGE
            except Exception as exc:   # malformed multipart
                form, body_error = None, f"multipart body not readable: {exc.__class__.__name__}"
            if form is not None:
                call.form = {}
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        content = value.file.read()
                        files[name] = content
                        call.form[name] = {"filename": value.filename, "content_type": value.content_type,
                                           "size": len(content)}
                    else:
                        call.form[name] = value
        else:
            raw = await request.read()
            if raw:
                try:
                    call.json = json.loads(raw)
                except ValueError as exc:
                    body_error = f"body is not JSON: {exc}"
        try:
            with self._lock:
                delay = self._take("delay", path)
                fail = self._take("fail", path)
                throttle = self._take("throttle", path) if fail is None else None
            if delay is not None:
                await asyncio.sleep(delay.seconds)
            if fail is not None:
                if _is_oapi(path):
                    raise _Reject(fail.http_status, {"errcode": -1, "errmsg": f"{fail.code}: 系统繁忙"})
                raise _api_error(fail.http_status, fail.code, "injected failure")
            if throttle is not None:
                raise self._throttle_answer(path)
            status, answer = self._route(request, call, raw, files, body_error)
            throttled = False
        except _Reject as rej:
            status, answer, throttled = rej.status, rej.body, rej.throttled
        call.status, call.answer = status, answer
        with self._cond:
            self.calls.append(call)
            if throttled:
                self.throttled.append(call)
            self._cond.notify_all()
        return web.json_response(answer, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    def _route(self, request: web.Request, call: Call, raw: bytes, files: dict[str, bytes],
               body_error: str) -> tuple[int, dict]:
        method, path = request.method, request.path
        if (method, path) == ("POST", SESSION_PATH):
            return self._session_reply(request.query.get("session", ""), raw, call.json, body_error)
        if (method, path) == ("POST", MEDIA_PATH):
            return self._media_upload(request.query.get("access_token", ""), call.form, files, body_error)
        routes: dict[tuple[str, str], Callable[[dict], tuple[int, dict]]] = {
            ("POST", "/v1.0/card/instances"): self._card_create,
            ("PUT", "/v1.0/card/instances"): self._card_update,
            ("POST", "/v1.0/card/instances/deliver"): self._card_deliver,
            ("POST", "/v1.0/card/instances/createAndDeliver"): self._card_create_and_deliver,
            ("POST", "/v1.0/robot/groupMessages/send"): self._group_send,
            ("POST", "/v1.0/robot/oToMessages/batchSend"): self._oto_send,
        }
        handler = routes.get((method, path))
        if path in (GATEWAY_PATH, TOKEN_PATH) and method == "POST":
            body = self._json_body(call.json, body_error)
            return self._gateway(body) if path == GATEWAY_PATH else self._token(body)
        if handler is None:
            return 404, {"code": "NotFound", "message": f"no such API: {method} {path}"}
        self._check_token(request)
        return handler(self._json_body(call.json, body_error))

    @staticmethod
    def _json_body(body: Any, body_error: str) -> dict:
        if body_error or not isinstance(body, dict):
            raise _api_error(400, "Missingbody", "body is mandatory for this action.")
        return body

    # --- auth
    def _gateway(self, body: dict) -> tuple[int, dict]:
        if not _nonempty_str(body.get("clientId")) or not _nonempty_str(body.get("clientSecret")):
            raise _api_error(400, "MissingParameter", "clientId and clientSecret are required")
        if body["clientId"] != self.client_id or body["clientSecret"] != self.client_secret:
            raise _api_error(401, "authFailed", "鉴权失败")
        subs = body.get("subscriptions")
        if not isinstance(subs, list) or not all(
                isinstance(s, dict) and s.get("type") in ("EVENT", "CALLBACK", "SYSTEM")
                and _nonempty_str(s.get("topic")) for s in subs):
            raise _invalid("subscriptions must be a list of {type: EVENT|CALLBACK|SYSTEM, topic: str}")
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets[ticket] = [dict(s) for s in subs]
            self.subscriptions = [dict(s) for s in subs]
        return 200, {"endpoint": f"ws://127.0.0.1:{self.port}{WS_PATH}", "ticket": ticket}

    def _token(self, body: dict) -> tuple[int, dict]:
        if not _nonempty_str(body.get("appKey")) or not _nonempty_str(body.get("appSecret")):
            raise _api_error(400, "MissingParameter", "appKey and appSecret are required")
        if body["appKey"] != self.client_id or body["appSecret"] != self.client_secret:
            raise _api_error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = secrets.token_hex(16)
        with self._lock:
            self.tokens[token] = time.time() + self.token_ttl
        return 200, {"accessToken": token, "expireIn": self.token_ttl}

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self.tokens.get(token)
        return expiry is not None and time.time() < expiry

    def _check_token(self, request: web.Request) -> None:
        token = request.headers.get(TOKEN_HEADER, "")
        if not token:
            raise _api_error(400, "AuthenticationFailed.MissingParameter", f"缺少参数：{TOKEN_HEADER}")
        if not self._token_valid(token):
            raise _api_error(400, "InvalidAuthentication", "不合法的access_token")

    # --- cards
    def _new_card(self, body: dict) -> CardInstance:
        template_id, out_track_id = body.get("cardTemplateId"), body.get("outTrackId")
        if not _nonempty_str(template_id):
            raise _invalid("cardTemplateId is required")
        if not _nonempty_str(out_track_id):
            raise _invalid("outTrackId is required")
        card_data = body.get("cardData")
        if not isinstance(card_data, dict) or not _str_map(card_data.get("cardParamMap")):
            raise _invalid("cardData.cardParamMap must be an object whose values are all strings")
        callback_type = body.get("callbackType")
        if callback_type is not None and callback_type not in ("STREAM", "HTTP"):
            raise _invalid(f"callbackType must be STREAM or HTTP, not {callback_type!r}")
        models = set()
        for key, space in (("imGroupOpenSpaceModel", "IM_GROUP"), ("imRobotOpenSpaceModel", "IM_ROBOT")):
            if key in body:
                if not isinstance(body[key], dict):
                    raise _invalid(f"{key} must be an object")
                models.add(space)
        with self._lock:
            if out_track_id in self.cards:
                raise _invalid(f"outTrackId {out_track_id!r} already exists")
        params = dict(card_data["cardParamMap"])
        return CardInstance(out_track_id, template_id, callback_type, params, [dict(params)], space_models=models)

    def _card_create(self, body: dict) -> tuple[int, dict]:
        card = self._new_card(body)
        with self._lock:
            self.cards[card.out_track_id] = card
        return 200, {"success": True, "result": card.out_track_id}

    def _parse_spaces(self, body: dict, card: CardInstance) -> list[tuple[str, str]]:
        open_space_id = body.get("openSpaceId")
        if not _nonempty_str(open_space_id) or not open_space_id.startswith(SPACE_PREFIX):
            raise _invalid(f"openSpaceId must look like {SPACE_PREFIX}IM_GROUP.<cid> or "
                           f"{SPACE_PREFIX}IM_ROBOT.<userId>")
        spaces: list[tuple[str, str]] = []
        for part in open_space_id.removeprefix(SPACE_PREFIX).split(";"):
            space_type, _, space_id = part.partition(".")
            if space_type not in ("IM_GROUP", "IM_ROBOT") or not space_id:
                raise _invalid(f"unsupported open space {part!r} (this fake knows IM_GROUP and IM_ROBOT)")
            if space_type not in card.space_models:
                model = "imGroupOpenSpaceModel" if space_type == "IM_GROUP" else "imRobotOpenSpaceModel"
                raise _invalid(f"card {card.out_track_id!r} was created without {model}; "
                               f"cannot deliver to {space_type}")
            spaces.append((space_type, space_id))
        if any(t == "IM_GROUP" for t, _ in spaces):
            model = body.get("imGroupOpenDeliverModel")
            if not isinstance(model, dict) or model.get("robotCode") != self.robot_code:
                raise _invalid(f"imGroupOpenDeliverModel.robotCode must be {self.robot_code!r} for IM_GROUP")
        if any(t == "IM_ROBOT" for t, _ in spaces):
            model = body.get("imRobotOpenDeliverModel")
            if not isinstance(model, dict) or model.get("spaceType") != "IM_ROBOT":
                raise _invalid("imRobotOpenDeliverModel {spaceType: IM_ROBOT} is required for IM_ROBOT")
        if body.get("userIdType", 1) not in (1, 2):
            raise _invalid("userIdType must be 1 (userId) or 2 (unionId)")
        return spaces

    def _deliver(self, body: dict, card: CardInstance, spaces: list[tuple[str, str]]) -> list[dict]:
        for space_type, space_id in spaces:
            if space_type == "IM_GROUP" and not self._admit_group(space_id):
                raise self._throttle_answer("/v1.0/card/instances/deliver")
        at = (body.get("imGroupOpenDeliverModel") or {}).get("atUserIds")
        results = []
        with self._lock:
            for space_type, space_id in spaces:
                card.spaces.append(f"{SPACE_PREFIX}{space_type}.{space_id}")
                group = space_type == "IM_GROUP"
                self.delivered.append(Delivered("card", "group" if group else "user", space_id, card.template_id,
                                                dict(card.params), card.out_track_id, at if group else None))
                results.append({"spaceType": space_type, "spaceId": space_id, "success": True,
                                "carrierId": secrets.token_hex(8)})
        return results

    def _known_card(self, body: dict) -> CardInstance:
        out_track_id = body.get("outTrackId")
        if not _nonempty_str(out_track_id):
            raise _invalid("outTrackId is required")
        with self._lock:
            card = self.cards.get(out_track_id)
        if card is None:
            raise _invalid(f"card instance {out_track_id!r} does not exist")
        return card

    def _card_deliver(self, body: dict) -> tuple[int, dict]:
        card = self._known_card(body)
        return 200, {"success": True, "result": self._deliver(body, card, self._parse_spaces(body, card))}

    def _card_create_and_deliver(self, body: dict) -> tuple[int, dict]:
        card = self._new_card(body)
        spaces = self._parse_spaces(body, card)
        with self._lock:
            self.cards[card.out_track_id] = card
        try:
            results = self._deliver(body, card, spaces)
        except _Reject:
            with self._lock:
                self.cards.pop(card.out_track_id, None)
            raise
        return 200, {"success": True, "result": {"outTrackId": card.out_track_id, "deliverResults": results}}

    def _card_update(self, body: dict) -> tuple[int, dict]:
        card = self._known_card(body)
        card_data = body.get("cardData")
        if not isinstance(card_data, dict) or not _str_map(card_data.get("cardParamMap")):
            raise _invalid("cardData.cardParamMap must be an object whose values are all strings")
        options = body.get("cardUpdateOptions", {})
        if not isinstance(options, dict) or not all(
                isinstance(options.get(k, False), bool) for k in ("updateCardDataByKey", "updatePrivateDataByKey")):
            raise _invalid("cardUpdateOptions.updateCardDataByKey/updatePrivateDataByKey must be booleans")
        new = dict(card_data["cardParamMap"])
        with self._lock:
            card.params = {**card.params, **new} if options.get("updateCardDataByKey", False) else new
            card.history.append(dict(card.params))
        return 200, {"success": True, "result": True}

    # --- robot messages
    def _msg_param(self, body: dict) -> tuple[str, dict]:
        if body.get("robotCode") != self.robot_code:
            raise _invalid(f"robotCode must be {self.robot_code!r}, got {body.get('robotCode')!r}")
        msg_key, msg_param = body.get("msgKey"), body.get("msgParam")
        if msg_key not in MSG_KEYS:
            raise _invalid(f"msgKey {msg_key!r} is not supported (this fake knows {sorted(MSG_KEYS)})")
        if not isinstance(msg_param, str):
            raise _invalid("msgParam must be a JSON string")
        if len(msg_param.encode("utf-8")) > MAX_MSG_PARAM_BYTES:
            raise _api_error(400, "InvalidParameter.Length", f"msgParam exceeds {MAX_MSG_PARAM_BYTES} bytes")
        try:
            param = json.loads(msg_param)
        except ValueError:
            raise _invalid("msgParam is not valid JSON") from None
        if not isinstance(param, dict):
            raise _invalid("msgParam must be a JSON object")
        missing = [k for k in MSG_KEYS[msg_key] if not _nonempty_str(param.get(k))]
        if missing:
            raise _invalid(f"msgParam of {msg_key} needs non-empty string(s) {missing}")
        if msg_key == "sampleFile":
            self._check_file_message(param)
        return msg_key, param

    def _check_file_message(self, param: dict) -> None:
        """A sampleFile's mediaId is a type=file upload, its fileName that upload's file name and its fileType
        that name's extension, lower case, without the dot; a name without one ("README", ".env", "a.") takes
        fileType "file" and nothing else (UNVERIFIED: all of it; DingTalk is not known to check the name and
        type against the upload, the fake does so that a message naming another file, or no type the receiver
        could open it by, is caught)."""
        with self._lock:
            name = self.media_files.get(param["mediaId"])
        if name is None:
            raise _invalid(f"mediaId {param['mediaId']!r} is not a file uploaded with type=file")
        if param["fileName"] != name:
            raise _invalid(f"fileName {param['fileName']!r} is not the name of the uploaded file ({name!r})")
        stem, dot, ext = name.rpartition(".")
        expected = ext.lower() if dot and stem and ext else "file"
        if param["fileType"] != expected:
            raise _invalid(f"fileType {param['fileType']!r} is not the uploaded file's type ({expected!r})")

    def _group_send(self, body: dict) -> tuple[int, dict]:
        msg_key, param = self._msg_param(body)
        cid = body.get("openConversationId")
        if not _nonempty_str(cid):
            raise _invalid("openConversationId is required")
        if not self._admit_group(cid):
            raise self._throttle_answer("/v1.0/robot/groupMessages/send")
        with self._lock:
            self.delivered.append(Delivered("group_send", "group", cid, msg_key, param))
        return 200, {"processQueryKey": secrets.token_urlsafe(24)}

    def _oto_send(self, body: dict) -> tuple[int, dict]:
        msg_key, param = self._msg_param(body)
        users = body.get("userIds")
        if not isinstance(users, list) or not users or not all(_nonempty_str(u) for u in users):
            raise _invalid("userIds must be a non-empty list of staffIds")
        if len(users) > MAX_OTO_USERS:
            raise _invalid(f"userIds has {len(users)} entries; at most {MAX_OTO_USERS}")
        with self._lock:
            for user in users:
                self.delivered.append(Delivered("oto_send", "user", user, msg_key, dict(param)))
        return 200, {"processQueryKey": secrets.token_urlsafe(24), "invalidStaffIdList": [],
                     "flowControlledStaffIdList": []}

    # --- session webhook
    def _session_reply(self, session_key: str, raw: bytes, body: Any, body_error: str) -> tuple[int, dict]:
        with self._lock:
            session = self._sessions.get(session_key)
        if session is None or time.time() >= session.expires_at:
            raise _oapi_error(300001, "session 不存在")
        if len(raw) > MAX_WEBHOOK_BYTES:
            raise _oapi_error(460101, f"message too long, exceed {MAX_WEBHOOK_BYTES} bytes")
        if body_error or not isinstance(body, dict):
            raise _oapi_error(40035, "缺少参数 json")
        msgtype = body.get("msgtype")
        if msgtype not in SESSION_MSGTYPES:
            raise _oapi_error(40035, f"缺少参数 msgtype (this fake supports {sorted(SESSION_MSGTYPES)})")
        content = body.get(msgtype)
        if not isinstance(content, dict) or not all(_nonempty_str(content.get(k)) for k in SESSION_MSGTYPES[msgtype]):
            raise _oapi_error(40035, f"缺少参数 {msgtype}.{'/'.join(SESSION_MSGTYPES[msgtype])}")
        at = body.get("at")
        if at is not None and not (
                isinstance(at, dict)
                and all(isinstance(at.get(k, []), list) and all(isinstance(x, str) for x in at.get(k, []))
                        for k in ("atUserIds", "atMobiles"))
                and isinstance(at.get("isAtAll", False), bool)):
            raise _oapi_error(40035, "at must be {atUserIds: [str], atMobiles: [str], isAtAll: bool}")
        if session.space == "group" and not self._admit_group(session.conversation_id):
            raise self._throttle_answer(SESSION_PATH)
        with self._lock:
            self.delivered.append(Delivered("session", session.space, session.target, msgtype, dict(content), None, at))
        return 200, {"errcode": 0, "errmsg": "ok"}

    # --- media
    def _media_upload(self, token: str, form: dict[str, Any] | None, files: dict[str, bytes],
                      body_error: str) -> tuple[int, dict]:
        if not token or not self._token_valid(token):
            raise _oapi_error(40014, "不合法的access_token")
        if body_error == TOO_LARGE:
            raise _oapi_error(40006, "不合法的文件大小")
        if body_error or form is None:
            raise _oapi_error(40035, f"缺少参数 media (multipart/form-data expected) {body_error}".strip())
        media_type = form.get("type")
        if media_type not in ("image", "file"):
            raise _oapi_error(40035, f"缺少参数 type (this fake supports type=image and file, got {media_type!r})")
        if "media" not in files:
            raise _oapi_error(40035, "缺少参数 media")
        data = files["media"]
        if not data or len(data) > MAX_MEDIA_BYTES:
            raise _oapi_error(40006, "不合法的文件大小")
        if media_type == "image" and not (data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SIGNATURE)):
            raise _oapi_error(40005, "不合法的文件类型")
        media_id = "@lA" + secrets.token_urlsafe(24)
        with self._lock:
            self.media[media_id] = data
            if media_type == "file":
                self.media_files[media_id] = str(form["media"]["filename"] or "")
        return 200, {"errcode": 0, "errmsg": "ok", "media_id": media_id, "type": media_type,
                     "created_at": _now_ms()}
