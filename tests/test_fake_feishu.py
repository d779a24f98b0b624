"""Proves tests/fakes/feishu.py against the REAL lark-oapi clients (long connection and REST)."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import lark_oapi as lark
import lark_oapi.ws.client as lark_ws_client
import pytest
from lark_oapi.api.im.v1 import (
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.exception import ObtainAccessTokenException
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse
from lark_oapi.ws.exception import ClientException

from tests.fakes.feishu import WS_BAD_CREDENTIALS_CODE, FakeFeishu


def _png() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


class SdkWsClient:
    """Runs ``lark.ws.Client.start()`` in a daemon thread with its own loop, and can stop it.

    The SDK keeps ONE module-global loop (``lark_oapi.ws.client.loop``) that it looks up at call time, so
    only one such client may live in a process at a time: stop() cancels every task of the client's loop
    and closes it before the next test starts another.
    """

    def __init__(self, fake: FakeFeishu, handler: Any, app_secret: str | None = None) -> None:
        self.fake, self.handler = fake, handler
        self.app_secret = app_secret or fake.app_secret
        self.error: BaseException | None = None
        self.client: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lark-ws", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        previous, lark_ws_client.loop = lark_ws_client.loop, loop
        self.loop = loop
        self.client = lark.ws.Client(self.fake.app_id, self.app_secret, event_handler=self.handler,
                                     domain=self.fake.base_url, log_level=lark.LogLevel.WARNING)
        self._ready.set()
        try:
            self.client.start()
        except BaseException as exc:  # start() blocks forever; it returns only by an error or our stop()
            self.error = exc
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
            lark_ws_client.loop = previous   # never leave a closed loop in the SDK's global

    def start(self) -> SdkWsClient:
        self.thread.start()
        assert self._ready.wait(5)
        return self

    def stop(self) -> None:
        loop, client = self.loop, self.client
        if loop is not None and self.thread.is_alive():
            async def shutdown() -> None:
                # cancel the SDK's tasks before closing the socket, so no task dies with an unretrieved error
                client._auto_reconnect = False
                me = asyncio.current_task()
                select = [t for t in asyncio.all_tasks() if t.get_coro().__name__ == "_select"]
                others = [t for t in asyncio.all_tasks() if t is not me and t not in select]
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)
                if client._conn is not None:
                    await asyncio.wait_for(client._conn.close(), 2)
                for task in select:
                    task.cancel()   # ends start()
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
            except Exception:
                loop.call_soon_threadsafe(loop.stop)
        self.thread.join(5)
        assert not self.thread.is_alive(), "the SDK's ws thread did not stop"


@pytest.fixture
def fake() -> Iterator[FakeFeishu]:
    with FakeFeishu() as server:
        yield server


class Handlers:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.clicks: list[Any] = []

    def on_message(self, data: Any) -> None:
        if json.loads(data.event.message.content)["text"] == "boom":
            raise RuntimeError("handler failed")
        self.messages.append(data)

    def on_click(self, data: Any) -> P2CardActionTriggerResponse:
        self.clicks.append(data)
        return P2CardActionTriggerResponse({"toast": {"type": "info", "content": "ok"}})

    def dispatcher(self) -> Any:
        return (lark.EventDispatcherHandler.builder("", "")
                .register_p2_im_message_receive_v1(self.on_message)
                .register_p2_card_action_trigger(self.on_click)
                .build())


@pytest.fixture
def ws(fake: FakeFeishu) -> Iterator[tuple[FakeFeishu, Handlers]]:
    handlers = Handlers()
    client = SdkWsClient(fake, handlers.dispatcher()).start()
    try:
        fake.wait_connected(5)
        yield fake, handlers
    finally:
        client.stop()


# ---------------------------------------------------------------------------- long connection
def test_sdk_connects_and_receives_a_message_event(ws: tuple[FakeFeishu, Handlers]) -> None:
    fake, handlers = ws
    assert fake.connections == 1 and fake.endpoint_calls == 1
    event = fake.message_event("ou_alice", "/mykpi", chat_type="group", chat_id="oc_team", mentions_bot=True)
    ack = fake.push_event(event, timeout=5)
    assert ack["code"] == 200 and ack["data"] is None and isinstance(ack["biz_rt"], int)
    [got] = handlers.messages
    assert got.header.event_id == event["header"]["event_id"]
    assert got.event.sender.sender_id.open_id == "ou_alice"
    assert got.event.message.chat_type == "group" and got.event.message.chat_id == "oc_team"
    assert json.loads(got.event.message.content) == {"text": "@_user_1 /mykpi"}
    assert got.event.message.mentions[0].id.open_id == "ou_bot"
    # a handler that raises is acked with 500
    assert fake.push_event(fake.message_event("ou_alice", "boom"), timeout=5)["code"] == 500
    fake.wait_for(lambda: fake.pings >= 1, 5, "the SDK's first ping")   # the SDK pings at once on connect
    assert fake.protocol_errors == []


def test_card_action_handler_result_comes_back_in_the_ack(ws: tuple[FakeFeishu, Handlers]) -> None:
    fake, handlers = ws
    event = fake.card_action_event("ou_bob", {"action": "approve", "id": 7}, open_message_id="om_card1")
    ack = fake.push_event(event, timeout=5)
    assert ack["code"] == 200
    assert ack["data"] == {"toast": {"type": "info", "content": "ok"}}
    [click] = handlers.clicks
    assert click.event.operator.open_id == "ou_bob"
    assert click.event.action.value == {"action": "approve", "id": 7}
    assert click.event.context.open_message_id == "om_card1"
    assert fake.protocol_errors == []


def test_sdk_reconnects_after_the_connection_drops(ws: tuple[FakeFeishu, Handlers]) -> None:
    fake, handlers = ws
    fake.push_event(fake.message_event("ou_alice", "first"), timeout=5)
    fake.drop_connection()
    fake.wait_for(lambda: fake.connections == 2 and fake.connected, 5, "the SDK to reconnect")
    assert fake.endpoint_calls == 2          # a reconnect re-POSTs the endpoint for a fresh device_id
    assert fake.push_event(fake.message_event("ou_alice", "second"), timeout=5)["code"] == 200
    assert [json.loads(m.event.message.content)["text"] for m in handlers.messages] == ["first", "second"]


def test_wrong_secret_is_fatal_for_the_sdk(fake: FakeFeishu) -> None:
    client = SdkWsClient(fake, Handlers().dispatcher(), app_secret="wrong").start()
    client.thread.join(5)
    assert not client.thread.is_alive(), "start() should raise instead of retrying"
    assert isinstance(client.error, ClientException) and client.error.code == WS_BAD_CREDENTIALS_CODE
    assert fake.connections == 0


# ---------------------------------------------------------------------------- REST
def _card(img_key: str | None = None, update_multi: bool = True, title: str = "KPI") -> str:
    elements: list[dict] = [{"tag": "markdown", "content": "**GMV** 120%"}]
    if img_key is not None:
        elements.append({"tag": "img", "img_key": img_key, "alt": {"tag": "plain_text", "content": "chart"}})
    elements.append({"tag": "button", "text": {"tag": "plain_text", "content": "OK"}, "type": "primary",
                     "behaviors": [{"type": "callback", "value": {"action": "ok"}}]})
    return json.dumps({"schema": "2.0", "config": {"update_multi": update_multi},
                       "header": {"title": {"tag": "plain_text", "content": title}, "template": "blue"},
                       "body": {"elements": elements}}, ensure_ascii=False)


def _send(client: Any, receive_id: str, msg_type: str, content: str, id_type: str = "chat_id",
          uuid: str | None = None) -> Any:
    body = CreateMessageRequestBody.builder().receive_id(receive_id).msg_type(msg_type).content(content)
    if uuid is not None:
        body = body.uuid(uuid)
    req = CreateMessageRequest.builder().receive_id_type(id_type).request_body(body.build()).build()
    return client.im.v1.message.create(req)


def _reply(client: Any, message_id: str, content: str) -> Any:
    body = ReplyMessageRequestBody.builder().msg_type("text").content(content).build()
    return client.im.v1.message.reply(ReplyMessageRequest.builder().message_id(message_id).request_body(body).build())


def test_rest_calls_through_the_real_sdk(fake: FakeFeishu) -> None:
    client = lark.Client.builder().app_id(fake.app_id).app_secret(fake.app_secret).domain(fake.base_url) \
        .log_level(lark.LogLevel.WARNING).build()

    # image upload: multipart, the "image" part without a filename
    png = _png()
    body = CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(png)).build()
    resp = client.im.v1.image.create(CreateImageRequest.builder().request_body(body).build())
    assert resp.success(), (resp.code, resp.msg)
    key = resp.data.image_key
    assert key.startswith("img_v3_") and fake.images[key] == png
    upload = fake.calls[-1]
    assert upload.form is not None and upload.form["image_type"] == "message"
    assert upload.form["image"]["filename"] is None and upload.form["image"]["size"] == len(png)
    assert fake.calls[0].path == "/open-apis/auth/v3/tenant_access_token/internal"   # token fetched first

    # an interactive card that references the uploaded image
    resp = _send(client, "oc_team", "interactive", _card(key))
    assert resp.success(), (resp.code, resp.msg)
    card_id = resp.data.message_id
    [sent] = fake.messages
    assert sent["message_id"] == card_id and sent["kind"] == "create" and sent["chat_id"] == "oc_team"
    assert sent["content"]["body"]["elements"][1]["img_key"] == key

    # an unknown img_key is refused and recorded with its code
    resp = _send(client, "oc_team", "interactive", _card("img_v3_unknown"))
    assert not resp.success() and resp.code == 230099
    assert fake.calls[-1].code == 230099 and fake.calls[-1].status == 400 and len(fake.messages) == 1

    # reply: unknown message id refused, known one accepted
    resp = _reply(client, "om_nope", json.dumps({"text": "hi"}))
    assert not resp.success() and resp.code == 230001
    resp = _reply(client, card_id, json.dumps({"text": "hi"}))
    assert resp.success() and fake.messages[-1]["reply_to"] == card_id and resp.data.chat_id == "oc_team"

    # PATCH the card
    patch = PatchMessageRequest.builder().message_id(card_id) \
        .request_body(PatchMessageRequestBody.builder().content(_card(key, title="KPI v2")).build()).build()
    assert client.im.v1.message.patch(patch).success()
    assert fake.patches[-1]["content"]["header"]["title"]["content"] == "KPI v2"
    patch = PatchMessageRequest.builder().message_id(card_id) \
        .request_body(PatchMessageRequestBody.builder().content(_card(key, update_multi=False)).build()).build()
    assert client.im.v1.message.patch(patch).code == 230001

    # idempotency: the same uuid returns the first message and stores nothing new
    first = _send(client, "ou_alice", "text", json.dumps({"text": "once"}), id_type="open_id", uuid="u-1")
    again = _send(client, "ou_alice", "text", json.dumps({"text": "once"}), id_type="open_id", uuid="u-1")
    assert first.success() and again.data.message_id == first.data.message_id
    assert sum(m["uuid"] == "u-1" for m in fake.messages) == 1

    # fault injection
    count = len(fake.messages)
    fake.fail_next(1, 99991400, 429)
    resp = _send(client, "oc_team", "text", json.dumps({"text": "x"}))
    assert resp.code == 99991400 and resp.raw.status_code == 429 and len(fake.messages) == count
    assert _send(client, "oc_team", "text", json.dumps({"text": "x"})).success()


def test_rest_auth_and_unknown_paths(fake: FakeFeishu) -> None:
    url = fake.base_url + "/open-apis/im/v1/messages?receive_id_type=chat_id"
    body = {"receive_id": "oc_team", "msg_type": "text", "content": json.dumps({"text": "x"})}
    r = httpx.post(url, json=body, headers={"Authorization": "Bearer t-bogus"})
    assert r.status_code == 400 and r.json()["code"] == 99991663
    assert httpx.post(url, json=body).json()["code"] == 99991661
    assert fake.calls[-1].code == 99991661 and fake.messages == []

    r = httpx.post(fake.base_url + "/open-apis/auth/v3/tenant_access_token/internal",
                   json={"app_id": fake.app_id, "app_secret": fake.app_secret})
    token = r.json()["tenant_access_token"]
    assert r.json()["code"] == 0 and r.json()["expire"] == fake.token_ttl and token in fake.tokens
    r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.json()["code"] == 0
    r = httpx.get(fake.base_url + "/open-apis/nope", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and r.json() == {"code": 404, "msg": "not found"}

    bad = lark.Client.builder().app_id(fake.app_id).app_secret("wrong").domain(fake.base_url) \
        .log_level(lark.LogLevel.WARNING).build()
    with pytest.raises(ObtainAccessTokenException) as info:   # the SDK raises when it cannot get a token
        _send(bad, "oc_team", "text", json.dumps({"text": "x"}))
    assert info.value.code == 10014


def _chart_card(*charts: dict) -> str:
    return json.dumps({"schema": "2.0", "header": {"title": {"tag": "plain_text", "content": "KPI"}},
                       "body": {"elements": list(charts)}}, ensure_ascii=False)


def _line(**extra: Any) -> dict:
    spec = {"type": "line", "data": [{"id": "a", "values": [{"day": "1", "value": 3}]}], "xField": "day",
            "yField": "value"}
    return {"tag": "chart", "chart_spec": {**spec, **extra}, "aspect_ratio": "4:3", "preview": True}


def test_chart_elements_are_checked_as_the_server_would(fake: FakeFeishu) -> None:
    client = lark.Client.builder().app_id(fake.app_id).app_secret(fake.app_secret).domain(fake.base_url) \
        .log_level(lark.LogLevel.WARNING).build()
    resp = _send(client, "oc_team", "interactive", _chart_card(_line(), {**_line(), "height": "300px"}))
    assert resp.success(), (resp.code, resp.msg)
    assert [e["tag"] for e in fake.messages[-1]["content"]["body"]["elements"]] == ["chart", "chart"]

    formatter = _line(label={"visible": True, "formatMethod": "function (text) { return text + '%'; }"})
    arrow = _line(axes=[{"orient": "left", "label": {"formatMethod": "(v) => v + 'K'"}}])
    rejected = {
        "a JS formatter": _chart_card(formatter),
        "an arrow function": _chart_card(arrow),
        "an unknown type": _chart_card(_line(type="gauge3d")),
        "no data": _chart_card(_line(data=[])),
        "a spec that is not an object": _chart_card({"tag": "chart", "chart_spec": "{}"}),
        "an unknown property": _chart_card({**_line(), "width": "300px"}),
        "a bad aspect ratio": _chart_card({**_line(), "aspect_ratio": "3:2"}),
        "a height over 999px": _chart_card({**_line(), "height": "1000px"}),
        "six charts": _chart_card(*[_line()] * 6),
        # what Feishu's docs say fails to load on phones
        "a bar texture": _chart_card(_line(type="bar", bar={"style": {"texture": "rect"}})),
        "a conical gradient": _chart_card(_line(line={"style": {"stroke": {"gradient": "conical", "stops": []}}})),
        "an SVG bar background": _chart_card(_line(type="bar", background="<svg viewBox='0 0 1 1'></svg>")),
        "repeated extension images": _chart_card(_line(extensionMark=[
            {"type": "image", "style": {"image": "https://x/y.png", "repeatX": "repeat"}}])),
        "a grid word cloud": _chart_card(_line(type="wordCloud", wordCloudConfig={"layoutMode": "grid"})),
    }
    sent = len(fake.messages)
    for what, content in rejected.items():
        resp = _send(client, "oc_team", "interactive", content)
        assert (resp.code, fake.calls[-1].status) == (230099, 400), what
    assert len(fake.messages) == sent
    # a member named "Functional" is not JavaScript
    resp = _send(client, "oc_team", "interactive", _chart_card(_line(title={"text": "Functional team"})))
    assert resp.success(), (resp.code, resp.msg)
