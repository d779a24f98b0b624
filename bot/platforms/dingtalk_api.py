"""The DingTalk REST calls kpibot makes, over httpx with timeouts, from worker threads (never the loop).

The SDK's own helpers use blocking `requests` without timeouts against hosts fixed at import, and swallow
every error, so kpibot calls the APIs itself: every base URL comes from config (`endpoint`,
`media_endpoint`), the access token is cached and refreshed five minutes before it expires (and at once
when DingTalk says it is invalid), and throttling or server errors are retried with backoff.

Two error styles: the new API (api.dingtalk.com, `/v1.0/...`) answers with an HTTP status and
{code, message, requestid}; the older hosts (session webhooks, oapi media upload) answer HTTP 200 with
{errcode, errmsg}. Limits: 20 calls a second per API; at most 20 messages a minute into one group
(DingTalk throttles the robot in that group for 10 minutes after that, error 130101): `group_limit` books
those slots, and the adapter schedules a group's sends for their slot (bot.platforms.dingtalk).
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot import metrics
from bot.config import DingTalkConfig
from bot.platforms.common import Retryable, with_retries
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)
# httpx logs every URL at INFO; webhook and upload URLs carry a session or an access token.

PLATFORM = "dingtalk"
TOKEN_MARGIN_S = 300
GROUP_LIMIT = 20
GROUP_WINDOW_S = 62.0    # DingTalk's minute, counted from arrival: a margin for the time a request travels
THROTTLED_ERRCODES = frozenset({130101, 90002, 90018, -1})   # "send too fast"; call-rate limits; "system busy"
TOKEN_ERRCODES = frozenset({40014, 42001})            # invalid / expired access_token (older hosts)


class CardCreated(enum.Enum):
    NEW = "new"
    EXISTS = "exists"      # an instance with that outTrackId was created before (by an earlier try)
    FAILED = "failed"


class _Known(Exception):
    """A refusal the caller asked to hear about instead of having it logged as an error."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(str(answer))
        self.answer = answer


def _already_exists(status: int, answer: dict[str, Any]) -> bool:
    """DingTalk's refusal of a card instance whose outTrackId is taken. The exact code is not published; the
    words are matched (the fake answers 400 InvalidParameter "outTrackId ... already exists")."""
    words = f"{answer.get('code', '')} {answer.get('message', '')}".lower()
    return 400 <= status < 500 and any(w in words for w in ("already exist", "duplicate", "repeat"))


class DingTalkApi:
    def __init__(self, config: DingTalkConfig, attempts: int = 5, backoff_s: float = 0.2,
                 timeout_s: float = 10.0) -> None:
        self.config = config
        self.attempts, self.backoff_s = attempts, backoff_s
        self.http = httpx.Client(timeout=timeout_s, headers={"Accept": "application/json"})
        self.api_limit = RateLimiter(20, 1.1)            # DingTalk's 20 calls a second per API, with a margin
        self.group_limit = RateLimiter(GROUP_LIMIT, GROUP_WINDOW_S)   # 20 messages a minute into one group
        self._token: tuple[str, float] | None = None     # (token, monotonic time to refresh at)
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # --- token ---------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """The app's access token, fetched once and shared by all workers until it nears expiry."""
        with self._token_lock:
            if self._token is not None and time.monotonic() < self._token[1]:
                return self._token[0]
            try:
                resp = self.http.post(f"{self.config.endpoint}/v1.0/oauth2/accessToken",
                                      json={"appKey": self.config.client_id,
                                            "appSecret": self.config.client_secret.get_secret_value()})
            except httpx.HTTPError as exc:
                raise Retryable(f"access token: {exc.__class__.__name__}: {exc}") from exc
            body = _json(resp)
            if resp.status_code != 200 or "accessToken" not in body:
                problem = f"access token refused: HTTP {resp.status_code} {body.get('code')} {body.get('message')}"
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise Retryable(problem)
                raise PermissionError(problem)
            ttl = float(body.get("expireIn", 7200))
            self._token = (str(body["accessToken"]), time.monotonic() + max(ttl - TOKEN_MARGIN_S, ttl / 2))
            return self._token[0]

    def forget_token(self, token: str) -> None:
        """DingTalk refused `token`: fetch a new one next time (unless another worker already did)."""
        with self._token_lock:
            if self._token is not None and self._token[0] == token:
                self._token = None

    # --- the calls -------------------------------------------------------------------------------------

    def reply_by_session(self, webhook: str, body: dict[str, Any]) -> bool:
        """A text or markdown reply through the message's sessionWebhook (no token needed)."""
        return self._legacy("reply through the session webhook", "/robot/sendBySession",
                            lambda: (self.http.post(webhook, json=body), None)) is not None

    def upload_image(self, png: bytes) -> str | None:
        """The media_id of an uploaded PNG (charts), None when the upload failed."""
        def send() -> tuple[httpx.Response, str]:
            token = self.access_token()
            return self.http.post(f"{self.config.media_endpoint}/media/upload", params={"access_token": token},
                                  data={"type": "image"}, files={"media": ("chart.png", png, "image/png")}), token

        body = self._legacy("upload a chart", "/media/upload", send)
        return str(body["media_id"]) if body is not None and body.get("media_id") else None

    def upload_file(self, name: str, content: bytes, mime: str) -> str | None:
        """The media_id of an uploaded file (oapi media/upload type=file, at most 20 MB), None when refused."""
        def send() -> tuple[httpx.Response, str]:
            token = self.access_token()
            return self.http.post(f"{self.config.media_endpoint}/media/upload", params={"access_token": token},
                                  data={"type": "file"}, files={"media": (name, content, mime)}), token

        body = self._legacy(f"upload the file {name}", "/media/upload", send)
        return str(body["media_id"]) if body is not None and body.get("media_id") else None

    def _card_body(self, out_track_id: str, params: dict[str, str]) -> dict[str, Any]:
        return {"cardTemplateId": self.config.card_template_id, "outTrackId": out_track_id,
                "cardData": {"cardParamMap": params}, "callbackType": "STREAM",
                "imGroupOpenSpaceModel": {"supportForward": True}, "imRobotOpenSpaceModel": {"supportForward": True}}

    def create_card(self, out_track_id: str, params: dict[str, str]) -> CardCreated:
        body = self._card_body(out_track_id, params)
        try:
            answer = self._openapi("POST", "/v1.0/card/instances", body, f"create card {out_track_id}",
                                   known=_already_exists)
        except _Known:
            return CardCreated.EXISTS
        return CardCreated.NEW if answer is not None else CardCreated.FAILED

    def create_and_deliver_card(self, out_track_id: str, params: dict[str, str], group: str | None,
                                user: str | None) -> CardCreated:
        """Create the instance and deliver it in one call (`POST /v1.0/card/instances/createAndDeliver`), for
        keyed sends: an instance with a keyed outTrackId is only ever made by this call, so "already exists"
        (EXISTS) means an earlier try of the same claim made it and delivered it. NEW only when every space
        took it; an answer that lists a failed space is delivered again once, then FAILED (the instance is
        there but undelivered: a later try finds EXISTS, so the caller falls back to markdown now)."""
        body = {**self._card_body(out_track_id, params), **self._space(group, user)}
        try:
            answer = self._openapi("POST", "/v1.0/card/instances/createAndDeliver", body,
                                   f"create and deliver card {out_track_id}", known=_already_exists)
        except _Known:
            return CardCreated.EXISTS
        if answer is None:
            return CardCreated.FAILED
        result = answer.get("result")
        spaces = result.get("deliverResults") if isinstance(result, dict) else None
        if _failed_spaces(out_track_id, spaces) and not self.deliver_card(out_track_id, group, user):
            log.error("dingtalk: card %s exists but was not delivered; a retry of its claim will not deliver it",
                      out_track_id)
            return CardCreated.FAILED
        return CardCreated.NEW

    def _space(self, group: str | None, user: str | None) -> dict[str, Any]:
        """Where a card goes: a group (conversationId) or a one-to-one chat with the robot (staffId)."""
        body: dict[str, Any] = {"userIdType": 1}
        if group is not None:
            body["openSpaceId"] = f"dtv1.card//IM_GROUP.{group}"
            body["imGroupOpenDeliverModel"] = {"robotCode": self.config.robot}
        else:
            body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{user}"
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": self.config.robot}
        return body

    def deliver_card(self, out_track_id: str, group: str | None, user: str | None) -> bool:
        """Into a group (conversationId) or a one-to-one chat with the robot (staffId); the answer lists
        each space with its own success flag."""
        body: dict[str, Any] = {"outTrackId": out_track_id, **self._space(group, user)}
        answer = self._openapi("POST", "/v1.0/card/instances/deliver", body, f"deliver card {out_track_id}")
        if answer is None:
            return False
        return not _failed_spaces(out_track_id, answer.get("result"))

    def update_card(self, out_track_id: str, params: dict[str, str]) -> bool:
        body = {"outTrackId": out_track_id, "cardData": {"cardParamMap": params},
                "cardUpdateOptions": {"updateCardDataByKey": False}}
        return self._openapi("PUT", "/v1.0/card/instances", body, f"update card {out_track_id}") is not None

    def send_to_group(self, conversation_id: str, msg_key: str, msg_param: dict[str, Any]) -> bool:
        body = {"robotCode": self.config.robot, "openConversationId": conversation_id, "msgKey": msg_key,
                "msgParam": json.dumps(msg_param, ensure_ascii=False)}
        return self._openapi("POST", "/v1.0/robot/groupMessages/send", body,
                             f"send to group {conversation_id}") is not None

    def send_to_users(self, staff_ids: list[str], msg_key: str, msg_param: dict[str, Any]) -> bool:
        body = {"robotCode": self.config.robot, "userIds": staff_ids, "msgKey": msg_key,
                "msgParam": json.dumps(msg_param, ensure_ascii=False)}
        answer = self._openapi("POST", "/v1.0/robot/oToMessages/batchSend", body,
                               f"send to {len(staff_ids)} user(s)", retry_if=_flow_controlled)
        if answer is None:
            return False
        if answer.get("invalidStaffIdList"):
            log.error("dingtalk: not sent to unknown staffIds %s", answer["invalidStaffIdList"])
            return False
        return True

    # --- error handling ----------------------------------------------------------------------------------

    def _openapi(self, method: str, path: str, body: dict[str, Any], what: str,
                 retry_if: Any = None, known: Callable[[int, dict[str, Any]], bool] | None = None,
                 ) -> dict[str, Any] | None:
        """A new-style API call; the parsed answer, None when DingTalk refused it or every try failed.
        `retry_if(answer)` names a problem in a 200 answer that is worth another try; a refusal that
        `known(status, answer)` recognises raises `_Known` instead of being logged."""
        def attempt() -> dict[str, Any] | None:
            self.api_limit.acquire(path)
            token = self.access_token()
            headers = {"x-acs-dingtalk-access-token": token}
            try:
                resp = self.http.request(method, f"{self.config.endpoint}{path}", json=body, headers=headers)
            except httpx.HTTPError as exc:
                metrics.api_error(PLATFORM)
                raise Retryable(f"{exc.__class__.__name__}: {exc}") from exc
            answer = _json(resp)
            code = str(answer.get("code", ""))
            if resp.status_code == 200:
                if not answer and resp.content.strip():
                    raise Retryable(f"HTTP 200 with a body that is not JSON: {resp.text[:120]!r}")
                problem = retry_if(answer) if retry_if is not None else None
                if problem:
                    raise Retryable(problem)
                return answer
            problem = f"HTTP {resp.status_code} code={code} message={answer.get('message')} " \
                      f"requestid={answer.get('requestid')}"
            metrics.api_error(PLATFORM, throttled=resp.status_code == 429 or "QpsLimit" in code or "Throttling" in code)
            if resp.status_code == 401 or code == "InvalidAuthentication":
                self.forget_token(token)
                raise Retryable(problem)
            if resp.status_code == 429 or resp.status_code >= 500 or "QpsLimit" in code or "Throttling" in code:
                raise Retryable(problem)
            if known is not None and known(resp.status_code, answer):
                raise _Known(answer)
            log.error("dingtalk: %s refused: %s", what, problem)
            return None

        return with_retries(PLATFORM, what, attempt, self.attempts, self.backoff_s)

    def _legacy(self, what: str, api: str, send: Any) -> dict[str, Any] | None:
        """An older-style call (HTTP 200 with errcode): session webhooks and the media upload. `send`
        returns the response and the access token it used (None when it needs none)."""
        def attempt() -> dict[str, Any] | None:
            self.api_limit.acquire(api)
            try:
                resp, token = send()
            except httpx.HTTPError as exc:
                metrics.api_error(PLATFORM)
                raise Retryable(f"{exc.__class__.__name__}: {exc}") from exc
            answer = _json(resp)
            if resp.status_code == 429 or resp.status_code >= 500:
                metrics.api_error(PLATFORM, throttled=resp.status_code == 429)
                raise Retryable(f"HTTP {resp.status_code}")
            if not answer:
                raise Retryable(f"HTTP {resp.status_code} with a body that is not JSON: {resp.text[:120]!r}")
            errcode = answer.get("errcode", 0)
            if errcode == 0:
                return answer
            problem = f"errcode={errcode} errmsg={answer.get('errmsg')}"
            metrics.api_error(PLATFORM, throttled=errcode in THROTTLED_ERRCODES)
            if errcode in TOKEN_ERRCODES and token is not None:
                self.forget_token(token)
                raise Retryable(problem)
            if errcode in THROTTLED_ERRCODES:
                raise Retryable(problem)
            log.error("dingtalk: %s refused: %s", what, problem)
            return None

        return with_retries(PLATFORM, what, attempt, self.attempts, self.backoff_s)


def _failed_spaces(out_track_id: str, results: Any) -> bool:
    """Whether a deliver answer lists a space that did not take the card (logged)."""
    failed = [r for r in results or [] if isinstance(r, dict) and not r.get("success", True)]
    if failed:
        log.error("dingtalk: card %s was not delivered: %s", out_track_id,
                  "; ".join(f"{r.get('spaceId')}: {r.get('errorMsg')}" for r in failed))
    return bool(failed)


def _flow_controlled(answer: dict[str, Any]) -> str | None:
    """batchSend answers 200 but lists the people DingTalk held back for flow control: try them again."""
    held = answer.get("flowControlledStaffIdList")
    return f"flow controlled: {held}" if held else None


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
