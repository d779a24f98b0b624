"""A fake Feishu (Lark) open platform that the REAL lark-oapi 1.7.5 clients talk to.

One aiohttp application on 127.0.0.1 (port 0) serves, on the same port:

* ``POST /callback/ws/endpoint`` and ``GET /ws``: the long connection of ``lark_oapi.ws.Client``
  (protobuf ``pbbp2.Frame`` messages, see ``lark_oapi/ws/client.py``);
* ``POST /open-apis/auth/v3/tenant_access_token/internal`` and the ``im/v1`` calls kpibot makes
  (send, reply, patch a card, upload an image or a file), with the checks Feishu applies.

The server runs in a daemon thread with its own event loop; every public method is called from the
test's thread. Use it as a context manager or call ``start()``/``stop()``::

    with FakeFeishu() as fake:
        client = lark.Client.builder().app_id(fake.app_id).app_secret(fake.app_secret) \\
            .domain(fake.base_url).build()

Error codes (HTTP status, body ``{"code", "msg"}``) and where they come from:

* endpoint, wrong AppID/AppSecret: HTTP 200, code ``WS_BAD_CREDENTIALS_CODE`` (10014). The real
  server's code for this case is UNVERIFIED; what matters is that ``ws/client.py`` ``_get_conn_url``
  retries (ServerException) only on a non-200 HTTP status and on codes 1 (SYSTEM_BUSY) and
  1000040343 (INTERNAL_ERROR) and raises the fatal ``ClientException`` for every other code, so
  ``Client.start()`` raises at once instead of retrying forever. 10014 is the token API's
  "app secret invalid", so both endpoints report the same mistake with the same code.
* WebSocket handshake with an unknown or reused ``device_id``: HTTP 403 with headers
  ``handshake-status: 403`` / ``handshake-msg``; ``_parse_ws_conn_exception`` turns 403 into a
  fatal ``ClientException``. A client must POST the endpoint again for every (re)connection.
* token: 10014 "app secret invalid" (wrong secret), 10003 "invalid param" (missing fields or an
  unknown app_id).
* other ``/open-apis`` calls: 99991661 missing token, 99991663 invalid token (unknown, expired or
  revoked), both HTTP 400 (lark_oapi/channel/errors.py lists 99991663 among the token-invalid codes).
* 99992402 "field validation failed": a required field or query parameter is missing or of the
  wrong type (Feishu's generic parameter-validation code).
* 230001 "Your request contains an invalid request parameter, ext=...": bad receive_id, msg_type,
  content, unknown ``message_id`` (the Feishu troubleshooting page for 230001 lists
  "invalid message_id"), PATCH of a message that is not a card the bot sent.
* 230099 "Failed to create card content, ext=...": an interactive card the checks below reject
  (channel/errors.py: "CardKit failed to create card content").
* 230025: a create, reply or patch whose request BODY (the content travels in it as an escaped JSON string)
  is over the size limit (30 KB for cards, 150 KB for text; Feishu's send-message doc limits the request body).
* 234001 / 234006 / 234011: image upload with a bad parameter / over 10 MB / not a PNG.
* file upload (``POST /open-apis/im/v1/files``, multipart ``file_type`` one of FILE_TYPES, ``file_name``,
  ``file``): 234001 a missing or bad field, 234006 over 30 MB (the im/v1/files doc's limit), 234010 an empty
  file (UNVERIFIED code; Feishu documents that an empty file is refused). ``files`` records key -> FileUpload.
  A ``file`` message's content is ``{"file_key"}`` of a file this fake issued (230001 otherwise).
* ``fail_next`` defaults to 99991400 (Feishu's frequency-limit code) with HTTP 400; with HTTP 429
  the response also carries ``x-ogw-ratelimit-limit`` / ``x-ogw-ratelimit-reset`` headers.
* anything else: HTTP 404 ``{"code": 404, "msg": "not found"}``.

Card checks (interactive messages and PATCH): the content is card JSON 2.0, ``schema == "2.0"``,
``header.title.content`` is a string, ``body.elements`` is a list of objects with a string ``tag``;
recursively, every ``img`` has an ``img_key`` this fake issued, every ``button`` has a ``behaviors``
list, and there is no ``action`` container (JSON 2.0 has none). PATCH requires
``config.update_multi == true`` on both the card already sent and the new one (Feishu's patch doc:
"before and after").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.message
import json
import re
import secrets
import threading
import time
import uuid as uuid_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import WSMsgType, web
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from tests.fakes.server import Changes, FakeServer, RecordedCall, abort_connection, wait_or_fail

BOT_OPEN_ID = "ou_bot"
BOT_UNION_ID = "on_bot"
TENANT_KEY = "tenant_test"

WS_BAD_CREDENTIALS_CODE = 10014
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 30 * 1024 * 1024
FILE_TYPES = {"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"}
MAX_CARD_BYTES = 30 * 1024   # request body of an interactive message (create, reply, patch)
MAX_TEXT_BYTES = 150 * 1024
UUID_TTL_SECONDS = 3600
RECEIVE_ID_TYPES = {"open_id": "ou_", "chat_id": "oc_", "union_id": "on_", "user_id": "", "email": ""}
MSG_TYPES = {"text", "interactive", "image", "file"}
# The `chart` component (open.larkoffice.com card-json-v2-components/content-components/chart)
CHART_PROPERTIES = {"tag", "element_id", "margin", "aspect_ratio", "color_theme", "chart_spec", "preview", "height"}
CHART_TYPES = {"line", "area", "bar", "pie", "scatter", "wordCloud"}   # the types the docs name
CHART_ASPECT_RATIOS = {"1:1", "2:1", "4:3", "16:9"}
CHART_COLOR_THEMES = {"brand", "rainbow", "complementary", "converse", "primary"}
MAX_CHARTS = 5
_JS = re.compile(r"\bfunction\s*\(|=>")   # a callback written into the spec: `function (d) {..}`, `d => ..`

_FRAME_CONTROL = 0
_FRAME_DATA = 1
_TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
_ENDPOINT_PATH = "/callback/ws/endpoint"


@dataclass
class Call(RecordedCall):
    """One recorded HTTP request (every path but the WebSocket upgrade), with the answer it got."""

    json: Any | None
    form: dict[str, Any] | None
    body_size: int = 0        # the raw request body's length in bytes, as received (what 230025 measures)
    status: int = 0
    code: int = 0
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class FileUpload:
    """A file uploaded through im/v1/files: what the receiver would download."""

    file_type: str
    file_name: str
    content: bytes


class _Reject(Exception):
    """Raised inside a handler: answer with this HTTP status and Feishu body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.status, self.code, self.msg = status, code, msg


@dataclass
class _Rule:
    remaining: int
    path_contains: str
    code: int = 0
    http_status: int = 0
    seconds: float = 0.0


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    device_id: str
    deaf: bool = False     # open but silent: no pong, no frame, no WebSocket pong (go_deaf)


def _rid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _parse_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str | None], bytes]]:
    """Parse multipart/form-data strictly; returns [(part params {name, filename, content_type}, bytes)]."""
    msg = email.message.Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if msg.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise ValueError("not multipart/form-data with a boundary")
    delim = b"\r\n--" + boundary.encode("latin-1")
    pieces = (b"\r\n" + body).split(delim)
    if pieces[0] != b"" or len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise ValueError("malformed multipart body")
    parts = []
    for piece in pieces[1:-1]:
        if not piece.startswith(b"\r\n") or b"\r\n\r\n" not in piece:
            raise ValueError("malformed multipart part")
        raw_headers, data = piece[2:].split(b"\r\n\r\n", 1)
        headers = email.message.Message()
        for line in raw_headers.decode("utf-8").split("\r\n"):
            if line:
                key, _, value = line.partition(":")
                headers[key.strip()] = value.strip()
        name = headers.get_param("name", header="content-disposition")
        if headers.get_content_disposition() != "form-data" or not name:
            raise ValueError("multipart part without Content-Disposition: form-data; name=...")
        filename = headers.get_param("filename", header="content-disposition")
        parts.append(({
            "name": str(name),
            "filename": str(filename) if filename is not None else None,
            "content_type": headers.get("content-type"),
        }, data))
    return parts


def mobile_safe(spec: Any, where: str, bad: Callable[[str], Exception]) -> None:
    """The features Feishu's chart docs say fail to load on phones, refused here: bar textures, conical
    gradients, a grid word-cloud layout, repeated extension-mark images, SVG bar backgrounds."""
    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if "texture" in value:
                raise bad(f"{path}.texture: bar textures do not load on mobile")
            if value.get("gradient") == "conical":
                raise bad(f"{path}: conical gradients do not load on mobile")
            if value.get("type") == "wordCloud" and isinstance(value.get("wordCloudConfig"), dict) \
                    and value["wordCloudConfig"].get("layoutMode") == "grid":
                raise bad(f"{path}: a grid word-cloud layout does not load on mobile")
            for key, item in value.items():
                if key == "extensionMark" and isinstance(item, list) and any(
                        isinstance(m, dict) and m.get("type") == "image" and "repeat" in str(m.get("style", {}))
                        for m in item):
                    raise bad(f"{path}.extensionMark: repeated images do not load on mobile")
                if key == "background" and isinstance(item, str) and item.lstrip().startswith("<svg"):
                    raise bad(f"{path}.background: SVG backgrounds do not load on mobile")
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(spec, where)


def _check_chart(node: dict, where: str, bad: Callable[[str], Exception]) -> None:
    """A native chart as the real server checks it: known properties only (JSON 2.0 rejects unknown ones),
    a VChart spec object of a supported type with data, and no JavaScript anywhere in it."""
    unknown = sorted(set(node) - CHART_PROPERTIES)
    if unknown:
        raise bad(f"{where}: unknown chart properties {unknown}")
    spec = node.get("chart_spec")
    if not isinstance(spec, dict):
        raise bad(f"{where}.chart_spec must be an object")
    if spec.get("type") not in CHART_TYPES:
        raise bad(f"{where}.chart_spec.type {spec.get('type')!r} is not a supported chart type")
    if not spec.get("data"):
        raise bad(f"{where}.chart_spec has no data")
    if "aspect_ratio" in node and node["aspect_ratio"] not in CHART_ASPECT_RATIOS:
        raise bad(f"{where}.aspect_ratio {node['aspect_ratio']!r} is not one of {sorted(CHART_ASPECT_RATIOS)}")
    if "color_theme" in node and node["color_theme"] not in CHART_COLOR_THEMES:
        raise bad(f"{where}.color_theme {node['color_theme']!r} is not supported")
    if "preview" in node and not isinstance(node["preview"], bool):
        raise bad(f"{where}.preview must be a boolean")
    if "height" in node:
        height = node["height"]
        match = re.fullmatch(r"([0-9]+)px", height) if isinstance(height, str) else None
        if height != "auto" and not (match and 1 <= int(match.group(1)) <= 999):
            raise bad(f"{where}.height {height!r} must be 'auto' or 1-999px")

    def no_js(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                no_js(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                no_js(item, f"{path}[{i}]")
        elif isinstance(value, str) and _JS.search(value):
            raise bad(f"{path}: the chart component does not support JavaScript ({value[:40]!r})")

    no_js(spec, f"{where}.chart_spec")
    mobile_safe(spec, f"{where}.chart_spec", bad)


class FakeFeishu(FakeServer):
    """Fake Feishu open platform on 127.0.0.1:<random port>; see the module docstring for the checks."""

    def __init__(self, app_id: str = "cli_test", app_secret: str = "secret_test", token_ttl: int = 7200,
                 *, ping_interval: int = 5, reconnect_interval: int = 1, reconnect_nonce: int = 0,
                 check_cards: bool = True) -> None:
        """``ping_interval``/``reconnect_interval``/``reconnect_nonce`` go to the SDK as ClientConfig
        (seconds; the SDK sleeps ``random() * reconnect_nonce`` before its first reconnect attempt and
        ``reconnect_interval`` between failed attempts). Without ``check_cards`` (benchmarks) an interactive
        message's card is taken without the card checks (half a millisecond a card, time the fake would add to
        every card answer but not to a text one); ``check_sent_cards()`` applies them afterwards."""
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_ttl = token_ttl
        self.client_config = {"ReconnectCount": -1, "ReconnectInterval": reconnect_interval,
                              "ReconnectNonce": reconnect_nonce, "PingInterval": ping_interval}
        self.service_id = 1
        self.check_cards = check_cards
        # what was received (read from the test thread; written under self._lock)
        self.calls: list[Call] = []
        self.messages: list[dict] = []
        self.patches: list[dict] = []
        self.images: dict[str, bytes] = {}
        self.files: dict[str, FileUpload] = {}       # file_key -> the uploaded file
        self.acks: dict[str, dict] = {}
        self.ack_latency: dict[str, float] = {}
        self.tokens: dict[str, float] = {}          # issued tenant_access_token -> expiry (epoch s)
        self.connections = 0                         # WebSocket connections accepted so far
        self.endpoint_calls = 0                      # successful POSTs of /callback/ws/endpoint
        self.pings = 0                               # ping control frames received
        self.protocol_errors: list[str] = []         # wire-protocol violations seen on the long connection
        # internal state
        self._lock = threading.Lock()
        self._cond = Changes(self._lock)
        self._store: dict[str, dict] = {}            # message_id -> stored message (sent or pushed)
        self._uuids: dict[str, tuple[float, dict]] = {}
        self._p2p_chats: dict[str, str] = {}         # open_id -> p2p chat_id
        self._devices: set[str] = set()              # device_ids issued and not yet used
        self._pending: dict[str, tuple[float, str]] = {}  # pushed message_id -> (sent at, trace_id)
        self._fail_rules: list[_Rule] = []
        self._delay_rules: list[_Rule] = []
        self._hold_rules: list[_Rule] = []
        self._released = False
        self._conn: _Conn | None = None
        self._all_conns: list[_Conn] = []
        self._seq = 0
        self._quiet_clients = True
        self._refusing = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Bind 127.0.0.1:0 and serve from a daemon thread; returns self.

        Also forgets the tenant token the SDK cached for this app_id: ``TokenManager.cache`` is
        process-global and keyed by app_id only, so a token issued by an earlier fake would otherwise be
        sent here and (correctly) rejected with 99991663.
        """
        if self._thread is None:
            self._forget_sdk_token()
        return super().start()

    def stop(self, quiet_clients: bool = True) -> None:
        """Close the long connection(s) and the server, and end the thread.

        With ``quiet_clients`` the connected SDK first gets a pong carrying ``ReconnectCount: 0`` so it
        gives up instead of retrying a dead port every ReconnectInterval for the rest of the process.
        """
        self._quiet_clients = quiet_clients
        super().stop()

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_FILE_BYTES + 1024 * 1024)
        app.router.add_get("/ws", self._ws_handler)
        app.router.add_route("*", "/{tail:.*}", self._http_handler)
        return app

    async def _astop(self) -> None:
        quiet_clients = self._quiet_clients
        for conn in list(self._all_conns):
            if conn.ws.closed:
                continue
            if quiet_clients:
                with contextlib.suppress(Exception):
                    await conn.ws.send_bytes(self._control_frame("pong", {**self.client_config, "ReconnectCount": 0}))
        if quiet_clients and self._all_conns:
            await asyncio.sleep(0.2)   # let the SDK apply the config before it sees the close
        for conn in list(self._all_conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")
        await super()._astop()

    def _forget_sdk_token(self) -> None:
        try:
            from lark_oapi.core.token.manager import TokenManager
        except ImportError:  # pragma: no cover
            return
        cache = getattr(TokenManager.cache, "cache", None)
        if isinstance(cache, dict):
            for key in (f"self_tenant_token:{self.app_id}", f"self_app_token:{self.app_id}"):
                cache.pop(key, None)

    # ------------------------------------------------------------------ waiting
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``predicate`` is true, woken by every call the fake answers (tests.fakes.server.wait_until);
        AssertionError naming it on timeout."""
        wait_or_fail(self._cond, predicate, timeout, what, lambda: (
            f"connections={self.connections}, connected={self.connected}, last calls="
            f"{[f'{c.method} {c.path} -> {c.status}/{c.code}' for c in self.calls[-5:]]}, "
            f"protocol_errors={self.protocol_errors[-3:]}"))

    @property
    def connected(self) -> bool:
        """True while a long-connection client is connected."""
        conn = self._conn
        return conn is not None and not conn.ws.closed

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until a long-connection client is connected."""
        self.wait_for(lambda: self.connected, timeout, "a long-connection client to connect")

    # ------------------------------------------------------------------ long connection: pushing
    def push_event(self, event: dict, timeout: float = 10.0) -> dict:
        """Push a schema-2.0 event as a pbbp2 data frame and wait for the client's ack.

        Returns ``{"code": 200 | 500, "data": <handler result decoded from base64 JSON, or None>,
        "biz_rt": <ms the handler took, from the ack header; None on a 500 ack, which the SDK sends
        without it>}``. Raises AssertionError when no ack arrives within ``timeout``.
        """
        message_id = self.push_event_nowait(event)
        with self._cond:
            ok = self._cond.wait_for(lambda: message_id in self.acks, timeout)
            if not ok:
                raise AssertionError(
                    f"no ack for event frame {message_id} ({event.get('header', {}).get('event_type')}) within "
                    f"{timeout:.1f}s; connected={self.connected}, protocol_errors={self.protocol_errors[-3:]}")
            return self.acks[message_id]

    def push_event_nowait(self, event: dict) -> str:
        """Push an event frame without waiting; returns its frame message_id (ack lands in ``acks``)."""
        conn = self._conn
        if conn is None or conn.ws.closed:
            raise AssertionError("no long-connection client is connected (call wait_connected() first)")
        self._register_event(event)
        message_id = _rid("")[:20]
        trace_id = str(uuid_mod.uuid4())
        payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        with self._lock:
            self._seq += 1
            seq_id = self._seq
            self._pending[message_id] = (time.monotonic(), trace_id)
        frame = Frame()
        frame.SeqID = seq_id
        frame.LogID = secrets.randbits(63)
        frame.service = self.service_id
        frame.method = _FRAME_DATA
        for key, value in (("type", "event"), ("message_id", message_id), ("sum", "1"), ("seq", "0"),
                           ("trace_id", trace_id)):
            header = frame.headers.add()
            header.key, header.value = key, value
        frame.payload = payload
        self._submit(conn.ws.send_bytes(frame.SerializeToString()))
        return message_id

    def drop_connection(self) -> None:
        """Abort the current WebSocket without a close frame; the SDK reconnects by POSTing the endpoint."""
        conn = self._conn
        if conn is None:
            raise AssertionError("no long connection to drop")
        self._conn = None
        self._submit(abort_connection(conn.request, conn.ws))

    def go_deaf(self) -> None:
        """The current long connection stays open but the server falls silent on it: no pong to the SDK's pings
        (neither its ping frames nor WebSocket pings), no ack read, nothing sent. A new connection is heard."""
        conn = self._conn
        if conn is None:
            raise AssertionError("no long connection to make deaf")
        conn.deaf = True

    def refuse_connections(self) -> None:
        """From now on the ws endpoint answers HTTP 503 (the SDK retries for ever) and the current connection is
        dropped: the long connection is down for good."""
        with self._lock:
            self._refusing = True
        if self._conn is not None:
            self.drop_connection()

    def _register_event(self, event: dict) -> None:
        header = event.get("header") or {}
        body = event.get("event") or {}
        if header.get("event_type") != "im.message.receive_v1":
            return
        msg = body.get("message") or {}
        sender = ((body.get("sender") or {}).get("sender_id") or {}).get("open_id")
        with self._lock:
            if msg.get("message_id"):
                self._store[msg["message_id"]] = {
                    "message_id": msg["message_id"], "chat_id": msg.get("chat_id"), "msg_type": msg.get("message_type"),
                    "from_bot": False, "root_id": msg.get("root_id") or None, "content": msg.get("content")}
            if msg.get("chat_type") == "p2p" and sender and msg.get("chat_id"):
                self._p2p_chats[sender] = msg["chat_id"]

    def _control_frame(self, type_: str, payload: dict | None = None) -> bytes:
        frame = Frame()
        frame.SeqID = 0
        frame.LogID = 0
        frame.service = self.service_id
        frame.method = _FRAME_CONTROL
        header = frame.headers.add()
        header.key, header.value = "type", type_
        if payload is not None:
            frame.payload = json.dumps(payload).encode("utf-8")
        return frame.SerializeToString()

    # ------------------------------------------------------------------ long connection: server side
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        device_id = request.query.get("device_id", "")
        service_id = request.query.get("service_id", "")
        with self._lock:
            known = device_id in self._devices
            self._devices.discard(device_id)
        if not known or service_id != str(self.service_id):
            return web.Response(status=403, text="forbidden", headers={
                "handshake-status": "403", "handshake-msg": "invalid or reused device_id/service_id"})
        ws = web.WebSocketResponse(autoping=False, max_msg_size=16 * 1024 * 1024)   # pings answered below
        await ws.prepare(request)
        conn = _Conn(ws, request, device_id)
        with self._cond:
            self.connections += 1
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
                elif msg.type == WSMsgType.BINARY:
                    await self._on_frame(conn, msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self._protocol_error(f"text message on the long connection: {msg.data[:80]!r}")
        finally:
            with self._lock:
                if self._conn is conn:   # Feishu goes on delivering to another open connection of the app
                    self._conn = next((c for c in reversed(self._all_conns) if c is not conn and not c.ws.closed),
                                      None)
        return ws

    def _protocol_error(self, text: str) -> None:
        with self._cond:
            self.protocol_errors.append(text)
            self._cond.notify_all()

    async def _on_frame(self, conn: _Conn, data: bytes) -> None:
        frame = Frame()
        try:
            frame.ParseFromString(data)
        except Exception as exc:
            self._protocol_error(f"undecodable frame: {exc}")
            return
        if not frame.IsInitialized():
            self._protocol_error(f"frame missing required fields: {frame.FindInitializationErrors()}")
            return
        headers = {h.key: h.value for h in frame.headers}
        if frame.service != self.service_id:
            self._protocol_error(f"frame for service {frame.service}, expected {self.service_id}")
        if frame.method == _FRAME_CONTROL:
            if headers.get("type") != "ping":
                self._protocol_error(f"unexpected control frame type {headers.get('type')!r}")
                return
            with self._lock:
                self.pings += 1
            await conn.ws.send_bytes(self._control_frame("pong", self.client_config))
        elif frame.method == _FRAME_DATA:
            self._on_ack(headers, frame.payload)
        else:
            self._protocol_error(f"unknown frame method {frame.method}")

    def _on_ack(self, headers: dict[str, str], payload: bytes) -> None:
        message_id = headers.get("message_id", "")
        with self._lock:
            pending = self._pending.pop(message_id, None)
        if pending is None:
            self._protocol_error(f"data frame for unknown message_id {message_id!r}")
            return
        sent_at, trace_id = pending
        problems = [f"header {key} missing" for key in ("type", "sum", "seq", "trace_id") if key not in headers]
        if headers.get("trace_id", trace_id) != trace_id:
            problems.append("trace_id differs from the pushed frame")
        ack: dict[str, Any] = {"code": None, "data": None, "biz_rt": None}
        try:
            body = json.loads(payload.decode("utf-8"))
            ack["code"] = body["code"]
            if body.get("data") is not None:
                ack["data"] = json.loads(base64.b64decode(body["data"], validate=True).decode("utf-8"))
        except Exception as exc:
            problems.append(f"ack payload not {{code, data: base64(JSON)}}: {exc!r} in {payload[:120]!r}")
        if ack["code"] not in (200, 500):
            problems.append(f"ack code {ack['code']!r}")
        # The SDK adds biz_rt only after the handler returned (ws/client.py _handle_data_frame): a 500 ack
        # (the handler raised) has none.
        if "biz_rt" in headers:
            try:
                ack["biz_rt"] = int(headers["biz_rt"])
            except ValueError:
                problems.append(f"biz_rt not an integer: {headers['biz_rt']!r}")
        elif ack["code"] == 200:
            problems.append("header biz_rt missing on a 200 ack")
        with self._cond:
            self.protocol_errors.extend(f"ack {message_id}: {p}" for p in problems)
            self.acks[message_id] = ack
            self.ack_latency[message_id] = time.monotonic() - sent_at
            self._cond.notify_all()

    # ------------------------------------------------------------------ REST fault injection
    def fail_next(self, n: int, code: int = 99991400, http_status: int = 400, path_contains: str = "") -> None:
        """The next ``n`` calls whose path contains ``path_contains`` (token and ws-endpoint calls excluded)
        are answered ``{"code": code, "msg": "... rate limited"}`` with ``http_status`` and not applied."""
        with self._lock:
            self._fail_rules.append(_Rule(n, path_contains, code=code, http_status=http_status))

    def delay_next(self, n: int, seconds: float, path_contains: str = "") -> None:
        """Delay the answer to the next ``n`` matching calls (token and ws-endpoint calls excluded)."""
        with self._lock:
            self._delay_rules.append(_Rule(n, path_contains, seconds=seconds))

    def pending_delays(self) -> int:
        """How many of the calls `delay_next` was told to delay have not arrived yet."""
        with self._lock:
            return sum(rule.remaining for rule in self._delay_rules)

    def hold_next(self, n: int, seconds: float, receive_id_prefix: str) -> None:
        """The next `n` message creates to a receive_id starting with `receive_id_prefix` take effect (the
        message is sent and kept) but their answer comes only after `seconds` or `release_held()`: a process
        killed meanwhile never learns that Feishu has its message (kill -9 mid-send)."""
        with self._lock:
            self._hold_rules.append(_Rule(n, receive_id_prefix, seconds=seconds))
            self._released = False

    def release_held(self) -> None:
        """Answer every held call now."""
        self._released = True

    def _take_hold(self, call: Call) -> _Rule | None:
        receive_id = call.json.get("receive_id") if isinstance(call.json, dict) else None
        if call.path != "/open-apis/im/v1/messages" or not isinstance(receive_id, str):
            return None
        with self._lock:
            for rule in self._hold_rules:
                if rule.remaining > 0 and receive_id.startswith(rule.path_contains):
                    rule.remaining -= 1
                    return rule
        return None

    def forget_uuids(self) -> None:
        """As if the hour Feishu keeps idempotency uuids for had passed: a test that empties the store's
        send claims between cases (so the same claim key is sent again) starts a new hour with this."""
        with self._lock:
            self._uuids.clear()

    def revoke_tokens(self) -> None:
        """Forget every issued tenant_access_token (the next call with one gets 99991663)."""
        with self._lock:
            self.tokens.clear()

    @staticmethod
    def _take(rules: list[_Rule], path: str) -> _Rule | None:
        for rule in rules:
            if rule.remaining > 0 and rule.path_contains in path:
                rule.remaining -= 1
                return rule
        return None

    # ------------------------------------------------------------------ HTTP
    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        call = Call(method=request.method, path=request.path, query=dict(request.query),
                    headers=dict(request.headers), json=None, form=None, body_size=len(raw))
        ctype = request.headers.get("Content-Type", "")
        parts: list[tuple[dict[str, str | None], bytes]] | None = None
        body_error = ""
        if ctype.startswith("multipart/"):
            try:
                parts = _parse_multipart(raw, ctype)
                call.form = {p["name"]: self._form_value(p, d) for p, d in parts}
            except ValueError as exc:
                body_error = str(exc)
        elif raw:
            try:
                call.json = json.loads(raw)
            except ValueError as exc:
                body_error = f"body is not JSON: {exc}"
        headers: dict[str, str] = {}
        try:
            excluded = request.path in (_TOKEN_PATH, _ENDPOINT_PATH)
            if not excluded:
                with self._lock:
                    delay = self._take(self._delay_rules, request.path)
                    fail = self._take(self._fail_rules, request.path)
                if delay is not None:
                    await asyncio.sleep(delay.seconds)
                if fail is not None:
                    if fail.http_status == 429:
                        headers = {"x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": "1"}
                    raise _Reject(fail.http_status, fail.code, "request trigger frequency limit, rate limited")
            held = None if excluded else self._take_hold(call)
            status, body = await self._route(request, call, parts, body_error, len(raw))
            if held is not None:
                end = time.monotonic() + held.seconds
                while time.monotonic() < end and not self._released:
                    await asyncio.sleep(0.05)
        except _Reject as rej:
            status, body = rej.status, {"code": rej.code, "msg": rej.msg}
        call.status, call.code = status, int(body.get("code", 0))
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    def _form_value(part: dict[str, str | None], data: bytes) -> Any:
        if part["filename"] is None and len(data) < 1024:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"filename": part["filename"], "content_type": part["content_type"], "size": len(data)}

    async def _route(self, request: web.Request, call: Call, parts: list | None,
                     body_error: str, size: int) -> tuple[int, dict]:
        method, path = request.method, request.path
        if path == _ENDPOINT_PATH and method == "POST":
            return self._endpoint(call.json, body_error)
        if path == _TOKEN_PATH and method == "POST":
            return self._token(call.json, body_error)
        route = None
        if path == "/open-apis/im/v1/messages" and method == "POST":
            route = "create"
        elif path == "/open-apis/im/v1/images" and method == "POST":
            route = "image"
        elif path == "/open-apis/im/v1/files" and method == "POST":
            route = "file"
        elif (m := re.fullmatch(r"/open-apis/im/v1/messages/([^/]+)/reply", path)) and method == "POST":
            route = "reply"
        elif (m := re.fullmatch(r"/open-apis/im/v1/messages/([^/]+)", path)) and method == "PATCH":
            route = "patch"
        elif path == "/open-apis/bot/v3/info" and method == "GET":
            route = "bot_info"
        if route is None:
            return 404, {"code": 404, "msg": "not found"}
        self._check_token(request)
        if route == "bot_info":  # the bot's own identity: tells its @-mentions from other people's
            return 200, {"code": 0, "msg": "ok", "bot": {"activate_status": 2, "app_name": "kpibot",
                                                           "avatar_url": "", "ip_white_list": [],
                                                           "open_id": BOT_OPEN_ID}}
        if route == "image":
            return self._image(request, parts, body_error)
        if route == "file":
            return self._file(parts, body_error)
        if body_error:
            raise _Reject(400, 99992402, f"field validation failed: {body_error}")
        body = call.json
        if not isinstance(body, dict):
            raise _Reject(400, 99992402, "field validation failed: request body must be a JSON object")
        msg_type = "interactive" if route == "patch" else body.get("msg_type")
        limit = MAX_CARD_BYTES if msg_type == "interactive" else MAX_TEXT_BYTES
        if size > limit:        # the whole request body, not the content alone
            raise _Reject(400, 230025, f"The length of the message content reaches its limit ({limit} bytes).")
        if route == "create":
            return self._create(dict(request.query), body)
        assert m is not None
        if route == "reply":
            return self._reply(m.group(1), body)
        return self._patch(m.group(1), body)

    # --- auth
    def _endpoint(self, body: Any, body_error: str) -> tuple[int, dict]:
        if self._refusing:
            raise _Reject(503, 1, "service unavailable")
        if body_error or not isinstance(body, dict) or not body.get("AppID"):
            raise _Reject(200, WS_BAD_CREDENTIALS_CODE, "AppID and AppSecret are required")
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            raise _Reject(200, WS_BAD_CREDENTIALS_CODE, "app secret invalid")
        device_id = str(uuid_mod.uuid4())
        with self._lock:
            self._devices.add(device_id)
            self.endpoint_calls += 1
        url = f"ws://127.0.0.1:{self.port}/ws?device_id={device_id}&service_id={self.service_id}"
        return 200, {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": dict(self.client_config)}}

    def _token(self, body: Any, body_error: str) -> tuple[int, dict]:
        if body_error or not isinstance(body, dict) or not body.get("app_id") or not body.get("app_secret"):
            raise _Reject(400, 10003, "invalid param")
        if body["app_id"] != self.app_id:
            raise _Reject(400, 10003, "invalid param: app_id not found")
        if body["app_secret"] != self.app_secret:
            raise _Reject(400, 10014, "app secret invalid")
        token = "t-" + secrets.token_hex(20)
        with self._lock:
            self.tokens[token] = time.time() + self.token_ttl
        return 200, {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_ttl}

    def _check_token(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise _Reject(400, 99991661, "Missing access token for authorization. "
                                         "Please make a request with token attached.")
        with self._lock:
            expiry = self.tokens.get(auth[7:].strip())
        if expiry is None or expiry < time.time():
            raise _Reject(400, 99991663, "Invalid access token for authorization. "
                                         "Please make a request with token attached.")

    # --- messages
    def _content(self, msg_type: Any, content: Any) -> Any:
        if msg_type not in MSG_TYPES:
            raise _Reject(400, 230001, f"Your request contains an invalid request parameter, ext=invalid msg_type "
                                       f"{msg_type!r} (this fake accepts {sorted(MSG_TYPES)}).")
        if not isinstance(content, str):
            raise _Reject(400, 99992402, "field validation failed: content must be a JSON string")
        try:
            parsed = json.loads(content)
        except ValueError:
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                       "ext=content is not valid JSON.") from None
        if not isinstance(parsed, dict):
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                       "ext=content must be a JSON object.")
        if msg_type == "text":
            if not isinstance(parsed.get("text"), str) or not parsed["text"]:
                raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                           "ext=text content needs a non-empty \"text\".")
        elif msg_type == "image":
            if parsed.get("image_key") not in self.images:
                raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                           f"ext=invalid image_key {parsed.get('image_key')!r}.")
        elif msg_type == "file":
            if parsed.get("file_key") not in self.files:
                raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                           f"ext=invalid file_key {parsed.get('file_key')!r}.")
        elif self.check_cards:
            self._check_card(parsed)
        return parsed

    def check_sent_cards(self) -> None:
        """The card checks, on every distinct card sent or patched so far (for a fake made without
        ``check_cards``): AssertionError naming the first card Feishu would have refused."""
        with self._lock:
            cards = [m["content"] for m in self.messages if m["msg_type"] == "interactive"]
            cards += [p["content"] for p in self.patches]
        seen: set[str] = set()
        for card in cards:
            text = json.dumps(card, sort_keys=True)
            if text in seen:
                continue
            seen.add(text)
            try:
                self._check_card(card)
            except _Reject as rej:
                raise AssertionError(f"Feishu would have refused a card sent: {rej}") from None

    def _check_card(self, card: dict) -> None:
        def bad(reason: str) -> _Reject:
            return _Reject(400, 230099, f"Failed to create card content, ext={reason}")

        if card.get("schema") != "2.0":
            raise bad('card JSON must have "schema": "2.0"')
        if "config" in card and not isinstance(card["config"], dict):
            raise bad("config must be an object")
        title = ((card.get("header") or {}).get("title") or {}) if isinstance(card.get("header"), dict) else {}
        if not isinstance(title, dict) or not isinstance(title.get("content"), str):
            raise bad("header.title.content must be a string")
        body = card.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("elements"), list):
            raise bad("body.elements must be a list")
        for element in body["elements"]:
            if not isinstance(element, dict) or not isinstance(element.get("tag"), str):
                raise bad("every body element must be an object with a string tag")

        def walk(node: Any, where: str) -> None:
            if isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, f"{where}[{i}]")
                return
            if not isinstance(node, dict):
                return
            tag = node.get("tag")
            if tag == "img" and node.get("img_key") not in self.images:
                raise bad(f"{where}: img_key {node.get('img_key')!r} was not uploaded (unknown image key)")
            if tag == "button" and not isinstance(node.get("behaviors"), list):
                raise bad(f"{where}: button without a behaviors list")
            if tag == "action":
                raise bad(f"{where}: JSON 2.0 cards have no 'action' container")
            if tag == "chart":
                charts.append(where)
                _check_chart(node, where, bad)
            for key, value in node.items():
                walk(value, f"{where}.{key}")

        charts: list[str] = []
        walk(card, "card")
        if len(charts) > MAX_CHARTS:
            raise bad(f"{len(charts)} chart components, at most {MAX_CHARTS} in one card")

    def _check_uuid(self, body: dict) -> str | None:
        uid = body.get("uuid")
        if uid is None:
            return None
        if not isinstance(uid, str) or not 0 < len(uid) <= 50:
            raise _Reject(400, 99992402, "field validation failed: uuid must be a string of at most 50 characters")
        return uid

    def _seen_uuid(self, uid: str | None) -> dict | None:
        if uid is None:
            return None
        with self._lock:
            hit = self._uuids.get(uid)
        if hit is not None and time.time() - hit[0] < UUID_TTL_SECONDS:
            return hit[1]
        return None

    def _store_sent(self, record: dict, uid: str | None, root_id: str | None, parent_id: str | None) -> dict:
        now = _now_ms()
        data = {
            "message_id": record["message_id"], "root_id": root_id, "parent_id": parent_id,
            "msg_type": record["msg_type"], "create_time": now, "update_time": now, "deleted": False,
            "updated": False, "chat_id": record["chat_id"],
            "sender": {"id": self.app_id, "id_type": "app_id", "sender_type": "app", "tenant_key": TENANT_KEY},
            "body": {"content": json.dumps(record["content"], ensure_ascii=False)},
        }
        data = {k: v for k, v in data.items() if v is not None}
        with self._lock:
            self.messages.append(record)
            self._store[record["message_id"]] = {
                "message_id": record["message_id"], "chat_id": record["chat_id"], "msg_type": record["msg_type"],
                "from_bot": True, "root_id": root_id, "content": record["content"]}
            if uid is not None:
                self._uuids[uid] = (time.time(), data)
        return {"code": 0, "msg": "success", "data": data}

    def _create(self, query: dict[str, str], body: dict) -> tuple[int, dict]:
        id_type = query.get("receive_id_type")
        if id_type is None:
            raise _Reject(400, 99992402, "field validation failed: receive_id_type is required")
        if id_type not in RECEIVE_ID_TYPES:
            raise _Reject(400, 99992402, f"field validation failed: receive_id_type {id_type!r} is not one of "
                                         f"{sorted(RECEIVE_ID_TYPES)}")
        receive_id = body.get("receive_id")
        if not isinstance(receive_id, str) or not receive_id:
            raise _Reject(400, 99992402, "field validation failed: receive_id is required")
        prefix = RECEIVE_ID_TYPES[id_type]
        if not receive_id.startswith(prefix) or (id_type == "email" and "@" not in receive_id):
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, ext=invalid receive_id.")
        if not isinstance(body.get("msg_type"), str):
            raise _Reject(400, 99992402, "field validation failed: msg_type is required")
        uid = self._check_uuid(body)
        content = self._content(body["msg_type"], body.get("content"))
        if (first := self._seen_uuid(uid)) is not None:
            return 200, {"code": 0, "msg": "success", "data": first}
        if id_type == "chat_id":
            chat_id = receive_id
        else:
            with self._lock:
                chat_id = self._p2p_chats.setdefault(receive_id, "oc_p2p_" + secrets.token_hex(12))
        record = {"message_id": _rid("om_"), "kind": "create", "receive_id": receive_id, "reply_to": None,
                  "receive_id_type": id_type, "msg_type": body["msg_type"], "content": content, "uuid": uid,
                  "chat_id": chat_id, "reply_in_thread": False}
        return 200, self._store_sent(record, uid, None, None)

    def _reply(self, message_id: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            parent = self._store.get(message_id)
        if parent is None:
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, ext=invalid message_id.")
        if not isinstance(body.get("msg_type"), str):
            raise _Reject(400, 99992402, "field validation failed: msg_type is required")
        in_thread = body.get("reply_in_thread", False)
        if not isinstance(in_thread, bool):
            raise _Reject(400, 99992402, "field validation failed: reply_in_thread must be a boolean")
        uid = self._check_uuid(body)
        content = self._content(body["msg_type"], body.get("content"))
        if (first := self._seen_uuid(uid)) is not None:
            return 200, {"code": 0, "msg": "success", "data": first}
        record = {"message_id": _rid("om_"), "kind": "reply", "receive_id": None, "reply_to": message_id,
                  "receive_id_type": None, "msg_type": body["msg_type"], "content": content, "uuid": uid,
                  "chat_id": parent["chat_id"], "reply_in_thread": in_thread}
        return 200, self._store_sent(record, uid, parent.get("root_id") or message_id, message_id)

    def _patch(self, message_id: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            original = self._store.get(message_id)
        if original is None:
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, ext=invalid message_id.")
        if not original["from_bot"] or original["msg_type"] != "interactive":
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                       "ext=only interactive cards sent by this app can be updated.")
        if not isinstance(body.get("content"), str):
            raise _Reject(400, 99992402, "field validation failed: content is required")
        content = self._content("interactive", body["content"])
        if (original["content"].get("config") or {}).get("update_multi") is not True:
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, ext=the card was sent "
                                       "without config.update_multi=true and cannot be updated for everyone.")
        if (content.get("config") or {}).get("update_multi") is not True:
            raise _Reject(400, 230001, "Your request contains an invalid request parameter, "
                                       "ext=the new card needs config.update_multi=true.")
        with self._lock:
            original["content"] = content
            self.patches.append({"message_id": message_id, "content": content})
        return 200, {"code": 0, "msg": "success", "data": {}}

    def _image(self, request: web.Request, parts: list | None, body_error: str) -> tuple[int, dict]:
        if parts is None:
            raise _Reject(400, 234001, f"Invalid request param: multipart/form-data expected. {body_error}".strip())
        fields = {p["name"]: (p, d) for p, d in parts}
        image_type = fields.get("image_type")
        if image_type is None or image_type[1] != b"message":
            raise _Reject(400, 234001, "Invalid request param: image_type must be \"message\".")
        if "image" not in fields:
            raise _Reject(400, 234001, "Invalid request param: the \"image\" file part is missing.")
        data = fields["image"][1]
        if not data:
            raise _Reject(400, 234001, "Invalid request param: empty image.")
        if len(data) > MAX_IMAGE_BYTES:
            raise _Reject(400, 234006, "The image size exceeds the limit (10 MB).")
        if not data.startswith(PNG_SIGNATURE):
            raise _Reject(400, 234011, "Can't recognize image format (this fake accepts PNG only).")
        key = "img_v3_" + secrets.token_hex(12)
        with self._lock:
            self.images[key] = data
        return 200, {"code": 0, "msg": "success", "data": {"image_key": key}}

    def _file(self, parts: list | None, body_error: str) -> tuple[int, dict]:
        if parts is None:
            raise _Reject(400, 234001, f"Invalid request param: multipart/form-data expected. {body_error}".strip())
        fields = {p["name"]: (p, d) for p, d in parts}
        file_type = fields["file_type"][1].decode("utf-8", "replace") if "file_type" in fields else None
        if file_type not in FILE_TYPES:
            raise _Reject(400, 234001, f"Invalid request param: file_type must be one of {sorted(FILE_TYPES)}, "
                                       f"got {file_type!r}.")
        file_name = fields["file_name"][1].decode("utf-8", "replace") if "file_name" in fields else ""
        if not file_name:
            raise _Reject(400, 234001, "Invalid request param: file_name is required.")
        if "file" not in fields:
            raise _Reject(400, 234001, "Invalid request param: the \"file\" part is missing.")
        data = fields["file"][1]
        if not data:
            raise _Reject(400, 234010, "File's size can't be 0.")
        if len(data) > MAX_FILE_BYTES:
            raise _Reject(400, 234006, "The file size exceeds the limit (30 MB).")
        key = "file_v3_" + secrets.token_hex(12)
        with self._lock:
            self.files[key] = FileUpload(file_type, file_name, data)
        return 200, {"code": 0, "msg": "success", "data": {"file_key": key}}

    # ------------------------------------------------------------------ payload helpers
    def message_event(self, open_id: str, text: str, chat_type: str = "p2p", chat_id: str = "oc_chat1",
                      mentions_bot: bool = False, event_id: str | None = None,
                      message_id: str | None = None, mentions_other: str | None = None) -> dict:
        """An ``im.message.receive_v1`` schema-2.0 event, shaped as Feishu sends it. `mentions_other` is the
        open_id of a person (not the bot) @-mentioned instead."""
        now = _now_ms()
        mentions = []
        if mentions_bot:
            mentions = [{"key": "@_user_1", "id": {"open_id": BOT_OPEN_ID, "union_id": BOT_UNION_ID, "user_id": ""},
                         "name": "kpibot", "tenant_key": TENANT_KEY}]
        elif mentions_other:
            mentions = [{"key": "@_user_1", "id": {"open_id": mentions_other, "union_id": "", "user_id": ""},
                         "name": "someone", "tenant_key": TENANT_KEY}]
        mentioned = mentions_bot or bool(mentions_other)
        return {
            "schema": "2.0",
            "header": {"event_id": event_id or secrets.token_hex(16), "event_type": "im.message.receive_v1",
                       "create_time": now, "token": "", "app_id": self.app_id, "tenant_key": TENANT_KEY},
            "event": {
                "sender": {"sender_id": {"open_id": open_id, "union_id": "on_" + open_id.removeprefix("ou_"),
                                         "user_id": None},
                           "sender_type": "user", "tenant_key": TENANT_KEY},
                "message": {"message_id": message_id or _rid("om_"), "root_id": "", "parent_id": "",
                            "create_time": now, "update_time": now, "chat_id": chat_id, "chat_type": chat_type,
                            "message_type": "text",
                            "content": json.dumps({"text": f"@_user_1 {text}" if mentioned else text},
                                                  ensure_ascii=False),
                            "mentions": mentions},
            },
        }

    def card_action_event(self, open_id: str, value: dict, open_message_id: str, chat_id: str = "oc_chat1",
                          event_id: str | None = None) -> dict:
        """A ``card.action.trigger`` schema-2.0 event (a button click on a card), shaped as Feishu sends it."""
        return {
            "schema": "2.0",
            "header": {"event_id": event_id or secrets.token_hex(16), "event_type": "card.action.trigger",
                       "create_time": _now_ms(), "token": "", "app_id": self.app_id, "tenant_key": TENANT_KEY},
            "event": {
                "operator": {"tenant_key": TENANT_KEY, "open_id": open_id,
                             "union_id": "on_" + open_id.removeprefix("ou_"), "user_id": None},
                "token": "c-" + secrets.token_hex(16),
                "action": {"value": value, "tag": "button"},
                "host": "im_message",
                "context": {"open_message_id": open_message_id, "open_chat_id": chat_id},
            },
        }
