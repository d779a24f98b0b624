"""Proves tests/fakes/dingtalk.py against the REAL dingtalk-stream client (Stream mode) and httpx (REST)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dingtalk_stream.card_replier as sdk_card_replier
import dingtalk_stream.stream as sdk_stream
import httpx
import pytest
from dingtalk_stream import (
    AckMessage,
    CallbackHandler,
    CallbackMessage,
    CardCallbackMessage,
    CardReplier,
    ChatbotMessage,
    Credential,
    DingTalkStreamClient,
)
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.fakes.dingtalk import BOT_TOPIC, CARD_TOPIC, Delivered, FakeDingTalk

TOKEN_HEADER = "x-acs-dingtalk-access-token"


def _png() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


class Recorder(CallbackHandler):
    """Records every callback and answers ``(200, response)``."""

    def __init__(self, response: Any) -> None:
        super().__init__()
        self.response = response
        self.got: list[CallbackMessage] = []

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        self.got.append(message)
        return AckMessage.STATUS_OK, self.response


class SdkStream:
    """Runs ``DingTalkStreamClient.start()`` in a daemon thread with its own event loop, and can stop it.

    start() swallows CancelledError once (it logs and sleeps 10 s, then loops), so stop() cancels every task
    of the loop again and again until all are done, then stops the loop.
    """

    def __init__(self, fake: FakeDingTalk) -> None:
        logger = logging.getLogger("tests.dingtalk_stream")
        logger.setLevel(logging.WARNING)
        self.client = DingTalkStreamClient(Credential(fake.client_id, fake.client_secret), logger=logger)
        self.bot = Recorder({"handled": "bot"})
        self.card = Recorder({"cardData": {"cardParamMap": {"status": "approved"}}})
        self.client.register_callback_handler(BOT_TOPIC, self.bot)
        self.client.register_callback_handler(CARD_TOPIC, self.card)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="dingtalk-stream", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._main())
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.client.start()

    def start(self) -> SdkStream:
        self.thread.start()
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            me = asyncio.current_task()
            tasks: list[asyncio.Task] = []
            for _ in range(50):
                tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
                if not tasks:
                    return
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks, timeout=0.2)
            raise AssertionError(f"SDK tasks survive cancellation: {tasks}")

        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(15)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        assert not self.thread.is_alive(), "the SDK's thread did not stop"


@pytest.fixture
def fake() -> Iterator[FakeDingTalk]:
    with FakeDingTalk() as server:
        yield server


@pytest.fixture
def stream(fake: FakeDingTalk, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeDingTalk, SdkStream]]:
    # stream.py reads the CLASS attribute at call time; card_replier.py and get_access_token() use the module
    # constant DINGTALK_OPENAPI_ENDPOINT that each module imported.
    monkeypatch.setattr(DingTalkStreamClient, "OPEN_CONNECTION_API", fake.base_url + "/v1.0/gateway/connections/open")
    monkeypatch.setattr(sdk_stream, "DINGTALK_OPENAPI_ENDPOINT", fake.base_url)
    monkeypatch.setattr(sdk_card_replier, "DINGTALK_OPENAPI_ENDPOINT", fake.base_url)
    sdk = SdkStream(fake).start()
    try:
        fake.wait_connected(5)
        yield fake, sdk
    finally:
        sdk.stop()


def _token(fake: FakeDingTalk) -> str:
    r = httpx.post(fake.base_url + "/v1.0/oauth2/accessToken",
                   json={"appKey": fake.client_id, "appSecret": fake.client_secret})
    assert r.status_code == 200, r.text
    return r.json()["accessToken"]


def _api(fake: FakeDingTalk, method: str, path: str, body: dict, token: str | None) -> httpx.Response:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    return httpx.request(method, fake.base_url + path, json=body, headers=headers)


def _group_send(fake: FakeDingTalk, token: str | None, cid: str, content: str = "hi") -> httpx.Response:
    return _api(fake, "POST", "/v1.0/robot/groupMessages/send",
                {"msgParam": json.dumps({"content": content}), "msgKey": "sampleText", "openConversationId": cid,
                 "robotCode": fake.robot_code}, token)


def _reply(webhook: str, content: str = "ok") -> dict:
    r = httpx.post(webhook, json={"msgtype": "text", "text": {"content": content}})
    assert r.status_code == 200
    return r.json()


def _raw_client(fake: FakeDingTalk, topics: list[str]) -> tuple[ClientConnection, str]:
    r = httpx.post(fake.base_url + "/v1.0/gateway/connections/open", json={
        "clientId": fake.client_id, "clientSecret": fake.client_secret, "ua": "test", "localIp": "",
        "subscriptions": [{"type": "CALLBACK", "topic": t} for t in topics]})
    assert r.status_code == 200, r.text
    ticket = r.json()["ticket"]
    return connect(f"{r.json()['endpoint']}?ticket={ticket}"), ticket


def _without_time(items: list[Delivered]) -> list[tuple]:
    return [(d.via, d.space, d.target, d.msg_key, d.content, d.out_track_id, d.at) for d in items]


# ---------------------------------------------------------------------------- Stream mode, real SDK
def test_sdk_connects_and_its_subscriptions_are_recorded(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, _ = stream
    assert fake.connections == 1 and fake.connected()
    assert fake.subscriptions == [{"type": "CALLBACK", "topic": BOT_TOPIC}, {"type": "CALLBACK", "topic": CARD_TOPIC}]
    [gateway] = fake.calls
    assert gateway.method == "POST" and gateway.path == "/v1.0/gateway/connections/open" and gateway.status == 200
    assert gateway.json["clientId"] == "ding_test" and gateway.json["clientSecret"] == "secret_test"
    assert gateway.json["ua"].startswith("dingtalk-sdk-python/v")
    assert fake.tickets_used == [gateway.answer["ticket"]]
    assert gateway.answer["endpoint"] == f"ws://127.0.0.1:{fake.port}/connect"


def test_bot_message_reaches_the_sdk_with_exact_fields_and_is_acked(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, sdk = stream
    data = fake.bot_message("staff_1", "/mykpi", conversation_type="2", sender_nick="Alice", msg_id="msgA1")
    ack = fake.push_message(data, message_id="frame-1")
    assert ack == {"code": 200, "headers": {"contentType": "application/json", "messageId": "frame-1"},
                   "message": "", "data": json.dumps({"response": {"handled": "bot"}})}
    assert fake.acks == {"frame-1": [ack]}

    [got] = sdk.bot.got
    assert got.headers.topic == BOT_TOPIC and got.headers.message_id == "frame-1"
    assert got.headers.app_id == fake.app_id and got.headers.content_type == "application/json"
    assert got.data == data
    webhook = data["sessionWebhook"]
    assert webhook.startswith(f"{fake.base_url}/robot/sendBySession?session=")
    assert data == {
        "conversationId": "cid_group_1", "atUsers": [{"dingtalkId": "$:LWCP_v1:$bot"}],
        "chatbotCorpId": "corp_test", "chatbotUserId": "$:LWCP_v1:$bot", "msgId": "msgA1", "senderNick": "Alice",
        "isAdmin": False, "senderStaffId": "staff_1", "sessionWebhookExpiredTime": data["sessionWebhookExpiredTime"],
        "createAt": data["createAt"], "senderCorpId": "corp_test", "conversationType": "2",
        "senderId": "$:LWCP_v1:$staff_1", "conversationTitle": "group cid_group_1", "isInAtList": True,
        "sessionWebhook": webhook, "text": {"content": "/mykpi"}, "robotCode": "ding_test", "msgtype": "text"}
    assert abs(data["sessionWebhookExpiredTime"] - data["createAt"] - 5_400_000) < 1000
    assert abs(data["createAt"] - time.time() * 1000) < 5000
    # the SDK's own parser knows every field by name (only "text" lands in extensions: it reads it via msgtype)
    msg = ChatbotMessage.from_dict(got.data)
    assert msg.extensions == {"text": {"content": "/mykpi"}}
    assert (msg.conversation_type, msg.sender_staff_id, msg.text.content) == ("2", "staff_1", "/mykpi")
    assert [u.dingtalk_id for u in msg.at_users] == [fake.chatbot_user_id] and msg.is_in_at_list is True

    # a markdown reply through the session webhook lands in the group
    r = httpx.post(webhook, json={"msgtype": "markdown", "markdown": {"title": "KPI", "text": "**GMV** 120%"},
                                  "at": {"atUserIds": ["staff_1"], "isAtAll": False}})
    assert r.status_code == 200 and r.json() == {"errcode": 0, "errmsg": "ok"}
    assert _without_time(fake.delivered) == [("session", "group", "cid_group_1", "markdown",
                                             {"title": "KPI", "text": "**GMV** 120%"}, None,
                                             {"atUserIds": ["staff_1"], "isAtAll": False})]

    # a single chat: no atUsers / isInAtList / conversationTitle; replies go to the user
    single = fake.bot_message("staff_2", "hi")
    assert single["conversationId"] == "cid_single_staff_2" and single["conversationType"] == "1"
    assert not {"atUsers", "isInAtList", "conversationTitle"} & single.keys()
    assert fake.push_message(single)["code"] == 200
    assert _reply(single["sessionWebhook"]) == {"errcode": 0, "errmsg": "ok"}
    assert _without_time(fake.delivered[-1:]) == [("session", "user", "staff_2", "text", {"content": "ok"}, None, None)]
    assert fake.protocol_errors == []


def test_redeliver_sends_the_same_frame_again(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, sdk = stream
    data = fake.bot_message("staff_1", "/mykpi", conversation_type="2", at_bot=False)
    mid = fake.push_message_nowait(data)
    fake.wait_for(lambda: len(fake.acks.get(mid, [])) == 1, 5, "the first ack")
    again = fake.redeliver(mid)
    assert again["headers"]["messageId"] == mid and len(fake.acks[mid]) == 2
    first, second = sdk.bot.got
    assert first.headers.message_id == second.headers.message_id == mid
    assert first.data == second.data == data
    assert data["atUsers"] == [] and data["isInAtList"] is False
    with pytest.raises(AssertionError, match="no frame"):
        fake.redeliver("never-sent")
    assert fake.protocol_errors == []


def test_ping_is_echoed_by_the_sdk(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, _ = stream
    ack = fake.ping()
    mid = ack["headers"]["messageId"]
    assert ack["code"] == 200 and ack["message"] == "OK" and ack["headers"]["contentType"] == "application/json"
    assert list(json.loads(ack["data"])) == ["opaque"]
    assert fake.acks[mid] == [ack] and fake.protocol_errors == []


def test_disconnect_makes_the_sdk_reconnect_with_a_fresh_ticket(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, sdk = stream
    fake.push_message(fake.bot_message("staff_1", "before"))
    fake.send_disconnect()
    fake.wait_for(lambda: fake.connections == 2 and fake.connected(), 5, "the SDK to reconnect")
    gateways = [c for c in fake.calls if c.path == "/v1.0/gateway/connections/open"]
    assert len(gateways) == 2 and fake.tickets_used == [c.answer["ticket"] for c in gateways]
    assert fake.tickets_used[0] != fake.tickets_used[1]
    fake.push_message(fake.bot_message("staff_1", "after"))
    before, after = sdk.bot.got
    assert [before.data["text"]["content"], after.data["text"]["content"]] == ["before", "after"]
    assert before.headers.connection_id != after.headers.connection_id

    # the first ticket is spent: a second handshake with it is refused
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{fake.port}/connect?ticket={fake.tickets_used[0]}")
    assert info.value.response.status_code == 401
    assert fake.rejected_handshakes == 1 and fake.connections == 2 and fake.protocol_errors == []


def test_pushing_an_unsubscribed_topic_raises(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, sdk = stream
    with pytest.raises(AssertionError, match="did not subscribe"):
        fake.push_callback("/v1.0/graph/api/invoke", {"x": 1})
    assert sdk.bot.got == [] and sdk.card.got == []


# ---------------------------------------------------------------------------- Stream mode, raw client
def test_gateway_and_tickets() -> None:
    with FakeDingTalk() as fake:
        url = fake.base_url + "/v1.0/gateway/connections/open"
        r = httpx.post(url, json={"clientId": fake.client_id, "clientSecret": "wrong", "subscriptions": []})
        assert r.status_code == 401 and r.json()["code"] == "authFailed" and r.json()["message"] == "鉴权失败"
        r = httpx.post(url, json={"clientId": fake.client_id})
        assert r.status_code == 400 and r.json()["code"] == "MissingParameter"

        ws, ticket = _raw_client(fake, [BOT_TOPIC])
        fake.wait_connected(5)
        for bad in (ticket, "unknown-ticket"):
            with pytest.raises(InvalidStatus) as info:
                connect(f"ws://127.0.0.1:{fake.port}/connect?ticket={bad}")
            assert info.value.response.status_code == 401
        assert fake.connections == 1 and fake.rejected_handshakes == 2

        fake.drop_connection()
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is None            # no close frame: the TCP connection was cut
        assert not fake.connected()
        ws.close()


def test_frames_and_bad_acks_are_reported() -> None:
    with FakeDingTalk(ack_timeout_s=0.5) as fake:
        ws, _ = _raw_client(fake, [BOT_TOPIC])
        fake.wait_connected(5)
        with pytest.raises(AssertionError, match="did not subscribe"):
            fake.push_callback(CARD_TOPIC, {})
        data = fake.bot_message("staff_1", "x")
        mid = fake.push_message_nowait(data, message_id="m-1")
        frame = json.loads(ws.recv(timeout=5))
        assert frame == {"specVersion": "1.0", "type": "CALLBACK", "data": json.dumps(data, ensure_ascii=False),
                         "headers": {"appId": fake.app_id, "connectionId": frame["headers"]["connectionId"],
                                     "contentType": "application/json", "messageId": "m-1",
                                     "time": frame["headers"]["time"], "topic": BOT_TOPIC}}
        assert mid == "m-1" and abs(int(frame["headers"]["time"]) - time.time() * 1000) < 5000

        ws.send(json.dumps({"code": "200", "headers": {"messageId": "m-1"}, "message": "", "data": {"response": 1}}))
        fake.wait_for(lambda: len(fake.acks.get("m-1", [])) == 1, 5, "the bad ack")
        assert fake.protocol_errors == [
            "ack m-1: code missing or not an integer: '200'",
            "ack m-1: headers.contentType is None, not 'application/json'",
            "ack m-1: data is not a JSON string: {'response': 1}"]
        ws.send(json.dumps({"code": 200, "headers": {"contentType": "application/json", "messageId": "nope"},
                            "message": "", "data": "{}"}))
        ws.send(json.dumps({"code": 200, "message": ""}))
        fake.wait_for(lambda: len(fake.protocol_errors) == 5, 5, "two more protocol errors")
        assert fake.protocol_errors[3:] == ["ack for unknown messageId 'nope'",
                                            'ack without headers.messageId: \'{"code": 200, "message": ""}\'']

        started = time.monotonic()
        with pytest.raises(TimeoutError, match="no ack"):
            fake.push_message(data, message_id="m-2")      # this client does not ack
        assert 0.45 < time.monotonic() - started < 2
        ws.recv(timeout=5)
        ws.send(json.dumps({"code": 200, "headers": {"contentType": "application/json", "messageId": "m-2"},
                            "message": "", "data": json.dumps({"nothing": True})}))
        fake.wait_for(lambda: len(fake.protocol_errors) == 6, 5, "the CALLBACK ack without response")
        assert fake.protocol_errors[5] == 'ack m-2: CALLBACK ack data is not {"response": ...}: \'{"nothing": true}\''
        ws.close()


# ---------------------------------------------------------------------------- REST
def test_token_issue_expiry_and_auth_errors() -> None:
    with FakeDingTalk(token_ttl=1) as fake:
        r = httpx.post(fake.base_url + "/v1.0/oauth2/accessToken",
                       json={"appKey": fake.client_id, "appSecret": fake.client_secret})
        assert r.status_code == 200 and r.json() == {"accessToken": r.json()["accessToken"], "expireIn": 1}
        token = r.json()["accessToken"]
        assert _group_send(fake, token, "cid_a").status_code == 200

        r = _group_send(fake, None, "cid_a")
        assert r.status_code == 400 and r.json()["code"] == "AuthenticationFailed.MissingParameter"
        assert r.json()["message"] == "缺少参数：x-acs-dingtalk-access-token"
        time.sleep(1.1)
        r = _group_send(fake, token, "cid_a")
        assert r.status_code == 400 and r.json()["code"] == "InvalidAuthentication"
        assert r.json()["message"] == "不合法的access_token"

        r = httpx.post(fake.base_url + "/v1.0/oauth2/accessToken", json={"appKey": fake.client_id, "appSecret": "x"})
        assert r.status_code == 400 and r.json()["code"] == "invalidClientIdOrSecret"
        r = httpx.post(fake.base_url + "/v1.0/oauth2/accessToken", json={"appKey": fake.client_id})
        assert r.status_code == 400 and r.json()["code"] == "MissingParameter"
        r = httpx.post(fake.base_url + "/v1.0/oauth2/accessToken", content=b"appKey=a&appSecret=b")
        assert r.status_code == 400 and r.json()["code"] == "Missingbody"

        fresh = _token(fake)
        assert _group_send(fake, fresh, "cid_a").status_code == 200
        fake.expire_tokens()
        assert _group_send(fake, fresh, "cid_a").json()["code"] == "InvalidAuthentication"
        assert [d.target for d in fake.delivered] == ["cid_a", "cid_a"]

        r = httpx.get(fake.base_url + "/v1.0/nope", headers={TOKEN_HEADER: fresh})
        assert r.status_code == 404 and r.json()["code"] == "NotFound"
        assert fake.calls[-1].status == 404 and fake.calls[-1].code == "NotFound"


def test_card_round_trip_with_the_sdk(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, sdk = stream
    incoming = ChatbotMessage.from_dict(fake.bot_message("staff_1", "/approve", conversation_type="2"))
    replier = CardReplier(sdk.client, incoming)
    card_id = replier.create_and_send_card("tpl.kpi", {"title": "KPI", "gmv": "120%"}, callback_type="STREAM")
    assert card_id, [(c.path, c.status, c.answer) for c in fake.calls]
    card = fake.cards[card_id]
    assert (card.template_id, card.callback_type, card.params) == ("tpl.kpi", "STREAM", {"title": "KPI", "gmv": "120%"})
    assert card.spaces == ["dtv1.card//IM_GROUP.cid_group_1"]
    assert _without_time(fake.delivered) == [("card", "group", "cid_group_1", "tpl.kpi",
                                             {"title": "KPI", "gmv": "120%"}, card_id, None)]
    deliver = fake.calls[-1]
    assert deliver.path == "/v1.0/card/instances/deliver" and deliver.json["userIdType"] == 1
    assert deliver.answer == {"success": True, "result": [{"spaceType": "IM_GROUP", "spaceId": "cid_group_1",
                                                           "success": True,
                                                           "carrierId": deliver.answer["result"][0]["carrierId"]}]}

    # update by key through the SDK, then a full replace through httpx
    replier.put_card_data(card_id, {"gmv": "130%"}, cardUpdateOptions={"updateCardDataByKey": True})
    assert fake.calls[-1].status == 200 and fake.calls[-1].answer == {"success": True, "result": True}
    token = sdk.client.get_access_token()
    replace = {"outTrackId": card_id, "cardData": {"cardParamMap": {"title": "v3"}}}
    r = _api(fake, "PUT", "/v1.0/card/instances", replace, token)
    assert r.status_code == 200
    assert card.history == [{"title": "KPI", "gmv": "120%"}, {"title": "KPI", "gmv": "130%"}, {"title": "v3"}]
    assert card.params == {"title": "v3"}

    # a click comes back over Stream to the CARD_TOPIC handler
    ack = fake.card_click(card_id, "staff_1", {"choice": "approve"}, action_id="approve_btn")
    assert ack["code"] == 200
    assert json.loads(ack["data"]) == {"response": {"cardData": {"cardParamMap": {"status": "approved"}}}}
    [got] = sdk.card.got
    assert got.headers.topic == CARD_TOPIC
    click = CardCallbackMessage.from_dict(got.data)
    assert (click.card_instance_id, click.user_id, click.corp_id, click.extension) == (card_id, "staff_1", "corp_test",
                                                                                       {})
    assert click.content == {"cardPrivateData": {"actionIds": ["approve_btn"], "params": {"choice": "approve"}}}
    assert (got.data["spaceType"], got.data["spaceId"], got.data["type"]) == ("IM_GROUP", "cid_group_1",
                                                                              "actionCallback")
    assert fake.protocol_errors == []


def test_card_errors_and_clicks_that_never_arrive(fake: FakeDingTalk) -> None:
    token = _token(fake)

    def create(out_track_id: str, params: dict, callback_type: str = "STREAM") -> httpx.Response:
        return _api(fake, "POST", "/v1.0/card/instances", {
            "cardTemplateId": "tpl", "outTrackId": out_track_id, "cardData": {"cardParamMap": params},
            "callbackType": callback_type, "imRobotOpenSpaceModel": {"supportForward": True}}, token)

    def deliver(out_track_id: str, space: str = "dtv1.card//IM_ROBOT.staff_9", **extra: Any) -> httpx.Response:
        body = {"outTrackId": out_track_id, "openSpaceId": space, "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT"},
                **extra}
        return _api(fake, "POST", "/v1.0/card/instances/deliver", body, token)

    r = create("c1", {"n": 1})
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter" and "strings" in r.json()["message"]
    assert create("c1", {"n": "1"}).json() == {"success": True, "result": "c1"}
    assert create("c1", {"n": "1"}).status_code == 400                            # duplicate outTrackId
    assert deliver("nope").status_code == 400                                      # unknown card
    r = deliver("c1", "dtv1.card//IM_GROUP.cid_x", imGroupOpenDeliverModel={"robotCode": fake.robot_code})
    assert r.status_code == 400 and "imGroupOpenSpaceModel" in r.json()["message"]   # no group model at create
    assert deliver("c1", imRobotOpenDeliverModel={}).status_code == 400
    assert fake.delivered == []

    with pytest.raises(AssertionError, match="never delivered"):
        fake.card_click("c1", "staff_9", {})
    assert deliver("c1").status_code == 200
    assert _without_time(fake.delivered) == [("card", "user", "staff_9", "tpl", {"n": "1"}, "c1", None)]
    assert create("h1", {"n": "1"}, callback_type="HTTP").status_code == 200
    assert deliver("h1").status_code == 200
    with pytest.raises(AssertionError, match="callbackType 'HTTP'"):
        fake.card_click("h1", "staff_9", {})
    with pytest.raises(AssertionError, match="no card"):
        fake.card_click("missing", "staff_9", {})
    r = _api(fake, "PUT", "/v1.0/card/instances", {"outTrackId": "c1", "cardData": {"cardParamMap": {"n": 2}}}, token)
    assert r.status_code == 400 and fake.cards["c1"].history == [{"n": "1"}]

    # createAndDeliver to a group: robotCode must be this app's
    body = {"cardTemplateId": "tpl", "outTrackId": "g1", "cardData": {"cardParamMap": {"a": "b"}},
            "callbackType": "STREAM", "imGroupOpenSpaceModel": {}, "openSpaceId": "dtv1.card//IM_GROUP.cid_g",
            "imGroupOpenDeliverModel": {"robotCode": "other"}}
    assert _api(fake, "POST", "/v1.0/card/instances/createAndDeliver", body, token).status_code == 400
    assert "g1" not in fake.cards
    body["imGroupOpenDeliverModel"] = {"robotCode": fake.robot_code, "atUserIds": {"staff_1": "Alice"}}
    r = _api(fake, "POST", "/v1.0/card/instances/createAndDeliver", body, token)
    assert r.status_code == 200 and r.json()["result"]["outTrackId"] == "g1"
    assert _without_time(fake.delivered[-1:]) == [("card", "group", "cid_g", "tpl", {"a": "b"}, "g1",
                                                  {"staff_1": "Alice"})]


def test_robot_sends_and_the_group_limit(fake: FakeDingTalk) -> None:
    token = _token(fake)
    group = fake.bot_message("staff_1", "x", conversation_type="2", conversation_id="cid_busy")
    single = fake.bot_message("staff_1", "x")
    for i in range(20):
        assert _reply(group["sessionWebhook"], f"m{i}") == {"errcode": 0, "errmsg": "ok"}
    assert _reply(group["sessionWebhook"]) == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    r = _group_send(fake, token, "cid_busy")
    assert r.status_code == 403 and r.json()["code"] == "Forbidden.AccessDenied.QpsLimitForApi"
    assert [c.path for c in fake.throttled] == ["/robot/sendBySession", "/v1.0/robot/groupMessages/send"]
    assert _group_send(fake, token, "cid_other").json().keys() == {"processQueryKey"}   # other groups unaffected
    assert _reply(single["sessionWebhook"]) == {"errcode": 0, "errmsg": "ok"}              # single chats unaffected
    assert [d.target for d in fake.delivered].count("cid_busy") == 20
    assert _without_time(fake.delivered[-2:]) == [("group_send", "group", "cid_other", "sampleText", {"content": "hi"},
                                                   None, None),
                                                  ("session", "user", "staff_1", "text", {"content": "ok"}, None, None)]

    # one-to-one batch send
    body = {"robotCode": fake.robot_code, "userIds": ["u1", "u2"], "msgKey": "sampleMarkdown",
            "msgParam": json.dumps({"title": "T", "text": "**x**"})}
    r = _api(fake, "POST", "/v1.0/robot/oToMessages/batchSend", body, token)
    assert r.status_code == 200 and r.json()["invalidStaffIdList"] == [] and r.json()["flowControlledStaffIdList"] == []
    assert [(d.via, d.target, d.content) for d in fake.delivered[-2:]] == [
        ("oto_send", "u1", {"title": "T", "text": "**x**"}), ("oto_send", "u2", {"title": "T", "text": "**x**"})]
    for bad in ({"userIds": [f"u{i}" for i in range(21)]}, {"userIds": []}, {"msgKey": "sampleFile"},
                {"msgParam": json.dumps({"title": "T"})}, {"msgParam": "{not json"}, {"robotCode": "other"}):
        r = _api(fake, "POST", "/v1.0/robot/oToMessages/batchSend", {**body, **bad}, token)
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameter", bad

    # session webhook errors
    assert httpx.post(group["sessionWebhook"], json={"msgtype": "text", "text": {}}).json()["errcode"] == 40035
    assert _reply(fake.base_url + "/robot/sendBySession?session=nope")["errcode"] == 300001
    short = fake.bot_message("staff_1", "x", webhook_ttl_s=0.1)
    time.sleep(0.15)
    assert _reply(short["sessionWebhook"]) == {"errcode": 300001, "errmsg": "session 不存在"}


def test_the_group_window_slides() -> None:
    with FakeDingTalk(group_limit=2, group_window_s=0.3) as fake:
        webhook = fake.bot_message("s", "x", conversation_type="2")["sessionWebhook"]
        assert [_reply(webhook)["errcode"] for _ in range(3)] == [0, 0, 130101]
        time.sleep(0.35)
        assert _reply(webhook)["errcode"] == 0
        assert len(fake.throttled) == 1


def test_fault_injection(fake: FakeDingTalk) -> None:
    fake.fail_next(1)                       # an empty path_contains spares the token call...
    token = _token(fake)
    r = _group_send(fake, token, "cid_a")   # ...and hits the next API call
    assert r.status_code == 500 and r.json()["code"] == "ServiceUnavailable"

    fake.fail_next(1, path_contains="groupMessages", http_status=503, code="ServiceBusy")
    r = _group_send(fake, token, "cid_a")
    assert r.status_code == 503 and r.json()["code"] == "ServiceBusy" and fake.delivered == []
    assert _group_send(fake, token, "cid_a").status_code == 200

    webhook = fake.bot_message("s", "x", conversation_type="2")["sessionWebhook"]
    fake.fail_next(1, path_contains="sendBySession")
    r = httpx.post(webhook, json={"msgtype": "text", "text": {"content": "x"}})
    assert r.status_code == 500 and r.json()["errcode"] == -1

    fake.throttle_next(2, path_contains="sendBySession")
    assert [_reply(webhook)["errcode"] for _ in range(3)] == [130101, 130101, 0]
    fake.throttle_next(1, path_contains="groupMessages")
    assert _group_send(fake, token, "cid_a").status_code == 403
    assert len(fake.throttled) == 3 and len(fake.delivered) == 2

    fake.delay_next(1, 0.4, path_contains="groupMessages")
    started = time.monotonic()
    assert _group_send(fake, token, "cid_a").status_code == 200
    assert time.monotonic() - started >= 0.4
    assert fake.injected_pending() == 0              # the delay was for that one send only: the next is not held
    assert _group_send(fake, token, "cid_a").status_code == 200


def test_oversize_bodies_are_refused(fake: FakeDingTalk) -> None:
    token = _token(fake)
    webhook = fake.bot_message("s", "x", conversation_type="2")["sessionWebhook"]
    envelope = len(json.dumps({"msgtype": "text", "text": {"content": ""}}).encode())
    ok = httpx.post(webhook, content=json.dumps({"msgtype": "text", "text": {"content": "x" * (20_000 - envelope)}}),
                    headers={"Content-Type": "application/json"})
    assert ok.json() == {"errcode": 0, "errmsg": "ok"}
    big = httpx.post(webhook, content=json.dumps({"msgtype": "text", "text": {"content": "x" * (20_001 - envelope)}}),
                     headers={"Content-Type": "application/json"})
    assert big.json()["errcode"] == 460101

    base = len(json.dumps({"content": ""}).encode())
    assert _group_send(fake, token, "cid_a", "x" * (15_000 - base)).status_code == 200
    r = _group_send(fake, token, "cid_a", "x" * (15_001 - base))
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter.Length"
    assert [d.via for d in fake.delivered] == ["session", "group_send"]


def test_media_upload(fake: FakeDingTalk) -> None:
    token = _token(fake)
    url = fake.base_url + "/media/upload"
    png = _png()
    r = httpx.post(url, params={"access_token": token}, data={"type": "image"},
                   files={"media": ("chart.png", png, "image/png")})
    body = r.json()
    assert r.status_code == 200 and body == {"errcode": 0, "errmsg": "ok", "media_id": body["media_id"],
                                             "type": "image", "created_at": body["created_at"]}
    assert body["media_id"].startswith("@lA") and fake.media == {body["media_id"]: png}
    assert fake.calls[-1].form == {"type": "image", "media": {"filename": "chart.png", "content_type": "image/png",
                                                              "size": len(png)}}

    def upload(content: bytes, access_token: str = token, kind: str = "image") -> dict:
        resp = httpx.post(url, params={"access_token": access_token}, data={"type": kind},
                          files={"media": ("f.png", content, "image/png")})
        assert resp.status_code == 200
        return resp.json()

    assert upload(b"GIF89a not a png") == {"errcode": 40005, "errmsg": "不合法的文件类型"}
    assert upload(png, access_token="bogus") == {"errcode": 40014, "errmsg": "不合法的access_token"}
    assert upload(png, kind="voice")["errcode"] == 40035     # type=file is taken since files are sent
    assert upload(b"\xff\xd8\xff" + b"\x00" * (20 * 1024 * 1024))["errcode"] == 40006
    assert upload(b"\xff\xd8\xff\xe0 jpeg")["errcode"] == 0
    assert len(fake.media) == 2


def test_sdk_access_token_comes_from_the_fake(stream: tuple[FakeDingTalk, SdkStream]) -> None:
    fake, sdk = stream
    token = sdk.client.get_access_token()
    assert token in fake.tokens and fake.calls[-1].json == {"appKey": "ding_test", "appSecret": "secret_test"}
    # the session webhook is a plain URL on the fake whose only query parameter is the session key
    webhook = fake.bot_message("staff_1", "x")["sessionWebhook"]
    assert list(parse_qs(urlsplit(webhook).query)) == ["session"]
