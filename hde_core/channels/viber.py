"""Viber REST bot API: ``POST {api_base}/<method>`` with ``X-Viber-Auth-Token``.

- Send: ``send_message`` with ``receiver`` (the Viber user id from a webhook, never a
  phone number), ``type: text``, ``sender.name`` (≤ 28 characters; channel setting
  ``sender_name``, default the channel name) and ``tracking_data`` (our idempotency
  key). The message id is ``message_token`` as a string (a 64-bit number).
- HTTP stays 200 on errors: ``status`` decides, through :data:`VIBER_STATUS`.
- Connection: ``get_account_info``. Webhook: ``set_webhook``; Viber signs every
  callback with ``X-Viber-Content-Signature`` = hex HMAC-SHA256 of the raw body keyed
  with the bot's auth token, so no separate webhook secret is needed.
- Callbacks: ``message`` (the client wrote, R3), ``subscribed``, ``unsubscribed``
  (opt-out, R15), ``conversation_started`` (only a subscribed user counts as having
  reached out), ``delivered``/``seen``/``failed`` for our messages, ``webhook``
  (the URL check after ``set_webhook``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx

from hde_core.channels.base import (
    HttpAdapter,
    HttpCall,
    OutgoingMessage,
    WebhookRequest,
    constant_time_equals,
    hmac_sha256_hex,
    unix_time,
)
from hde_core.channels.errors import (
    Classified,
    ErrorRow,
    ErrorRule,
    ErrorTable,
    status_fields,
)
from hde_core.channels.words import t
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import (
    ConnectionCheck,
    ErrorClass,
    Retry,
    SendOutcome,
    Sent,
)
from hde_core.domain.statuses import MessageStatus

E = ErrorClass

_AUTH = ErrorRule(E.AUTH)
_INVALID = ErrorRule(E.INVALID_REQUEST)
_STOP = ErrorRule(E.NOT_REACHABLE, stop=True)

#: ``status`` → rule; ``note`` is Viber's ``status_message`` (a ``failed`` callback's
#: ``desc`` naming one of them is read through the same row). Any status not listed is
#: transient (capped). 5, 6 and 11 are a stop signal for that identity (PROVIDERS.md §3).
#: Source: developers.viber.com/docs/api/rest-bot-api/#error-codes via nyaruka/courier.
VIBER_ROWS: tuple[ErrorRow, ...] = (
    ErrorRow(1, _AUTH, note="invalidUrl"),  # webhook URL
    ErrorRow(2, _AUTH, note="invalidAuthToken"),
    ErrorRow(3, _INVALID, note="badData"),
    ErrorRow(4, _INVALID, note="missingData"),
    ErrorRow(5, _STOP, note="receiverNotRegistered"),
    ErrorRow(6, _STOP, note="receiverNotSubscribed"),
    ErrorRow(7, _AUTH, note="publicAccountBlocked"),
    ErrorRow(8, _AUTH, note="publicAccountNotFound"),
    ErrorRow(9, _AUTH, note="publicAccountSuspended"),
    ErrorRow(10, _AUTH, note="webhookNotSet"),  # Viber refuses to send until one is set
    ErrorRow(11, _STOP, note="receiverNoSuitableDevice"),
    ErrorRow(12, ErrorRule(E.RATE_LIMITED), note="tooManyRequests"),
    ErrorRow(13, ErrorRule(E.NOT_REACHABLE), note="apiVersionNotSupported"),
    ErrorRow(14, _INVALID, note="incompatibleWithVersion"),
    ErrorRow(15, _AUTH, note="publicAccountNotAuthorized"),
    ErrorRow(16, _INVALID, note="inlineMessageNotAllowed"),
    ErrorRow(17, _INVALID, note="publicAccountNotInline"),
    ErrorRow(18, _INVALID, note="noPublicChat"),
    ErrorRow(19, _INVALID, note="cannotSendBroadcast"),
    ErrorRow(20, _INVALID, note="broadcastNotAllowed"),
    ErrorRow(21, ErrorRule(E.NOT_REACHABLE), note="unsupportedCountry"),
    ErrorRow(22, _INVALID, note="paymentUnsupported"),
    ErrorRow(23, _AUTH, note="freeMessagesExceeded"),  # monthly free out-of-session threshold
    ErrorRow(24, _AUTH, note="noBalance"),  # billable bot without balance
    ErrorRow(429, ErrorRule(E.RATE_LIMITED), note="HTTP 429"),
    # a ``failed`` callback whose ``desc`` names no known status: not delivered
    ErrorRow("failed", ErrorRule(E.NOT_REACHABLE), note="failed"),
)
VIBER_ERRORS = ErrorTable(VIBER_ROWS, retry_after=("header",))
VIBER_STATUS: dict[int, ErrorRule] = {
    row.code: row.rule for row in VIBER_ROWS if isinstance(row.code, int) and row.code < 100
}
_BY_NAME = {
    row.note.lower(): row.code for row in VIBER_ROWS if isinstance(row.code, int) and row.code < 100
}
_WORD = re.compile(r"[A-Za-z]+")

#: Callbacks the webhook subscribes to (``message`` is always sent).
EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")

_STATUS_EVENTS = {
    "delivered": MessageStatus.DELIVERED,
    "seen": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}

_MEDIA = {
    "picture": "[picture]",
    "video": "[video]",
    "file": "[file]",
    "sticker": "[sticker]",
    "contact": "[contact]",
    "url": "[url]",
    "location": "[location]",
}

MAX_SENDER_NAME = 28


def failed_code(desc: str) -> int | str:
    """The status a ``failed`` callback's ``desc`` names (``receiverNotSubscribed`` …)."""
    for word in _WORD.findall(desc):
        code = _BY_NAME.get(word.lower())
        if code is not None:
            return code
    return "failed"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _user_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError(f"not a Viber user id: {value!r}")
    return value


def _token(value: Any) -> str:
    if not isinstance(value, int | str) or isinstance(value, bool) or not str(value).strip():
        raise ValueError(f"not a Viber message token: {value!r}")
    return str(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_callback(data: dict[str, Any]) -> list[ev.WebhookEvent]:
    """One Viber callback in our vocabulary."""
    event = data.get("event")
    if not isinstance(event, str):
        raise ValueError("not a Viber callback")
    at = unix_time(data.get("timestamp"), per_second=1000)
    if event == "message":
        sender = _dict(data.get("sender"))
        message = _dict(data.get("message"))
        kind = message.get("type", "text")
        kind = kind if isinstance(kind, str) else "unknown"
        text = _str(message.get("text")) or _MEDIA.get(kind, f"[{kind}]")
        return [
            ev.InboundMessage(
                address=_user_id(sender.get("id")),
                provider_message_id=_token(data.get("message_token")),
                at=at,
                text=text,
                display_name=_str(sender.get("name")),
                raw=data,
                # Viber echoes the tracking_data of our last message to this user (we send
                # our idempotency key): the conversation it continues.
                reply_to=tuple(filter(None, [_str(message.get("tracking_data"))])),
            )
        ]
    if event == "subscribed" or (
        event == "conversation_started" and data.get("subscribed") is True
    ):
        user = _dict(data.get("user"))
        return [
            ev.Subscribed(
                _user_id(user.get("id")), at, display_name=_str(user.get("name")), raw=data
            )
        ]
    if event == "unsubscribed":
        return [ev.OptedOut(_user_id(data.get("user_id")), at, "unsubscribed", raw=data)]
    if event in _STATUS_EVENTS:
        failure: dict[str, Any] = {}
        desc = _str(data.get("desc")) or ""
        if event == "failed":
            code = failed_code(desc)
            failure = status_fields(VIBER_ERRORS.classify(code, desc))
            failure["error_code"] = str(code)
            failure["error_text"] = desc or None
        user_id = data.get("user_id")
        return [
            ev.StatusUpdate(
                provider_message_id=_token(data.get("message_token")),
                status=_STATUS_EVENTS[event],
                at=at,
                recipient=user_id if isinstance(user_id, str) else None,
                raw=data,
                **failure,
            )
        ]
    return []  # webhook (URL check), conversation_started before subscribing, client_status …


class ViberAdapter(HttpAdapter):
    provider: ClassVar[Provider] = Provider.VIBER
    kind: ClassVar[ChannelKind] = ChannelKind.VIBER
    default_api_base: ClassVar[str] = "https://chatapi.viber.com/pa"
    max_text_length: ClassVar[int] = 7000
    #: Viber documents no per-bot send limit (only broadcast: 500 requests / 10 s); set the
    #: channel's rate_per_sec to what your bot's agreement allows.
    default_rate_per_sec: ClassVar[float] = 10.0
    default_burst: ClassVar[int] = 10
    supports_webhook_registration: ClassVar[bool] = True
    reports_delivery: ClassVar[bool] = True
    reports_read: ClassVar[bool] = True
    #: Callbacks are signed with the auth token: no separate webhook secret is needed.
    webhook_needs_secret: ClassVar[bool] = False
    credential_fields: ClassVar[tuple[str, ...]] = ("auth_token",)
    error_table: ClassVar[ErrorTable] = VIBER_ERRORS

    def _headers(self) -> dict[str, str]:
        return {"X-Viber-Auth-Token": self.config.credential("auth_token")}

    def _sender(self) -> dict[str, str]:
        settings = self.config.settings
        sender = {"name": str(settings.get("sender_name") or self.config.name)[:MAX_SENDER_NAME]}
        if settings.get("sender_avatar"):
            sender["avatar"] = str(settings["sender_avatar"])
        return sender

    def build_send_request(self, message: OutgoingMessage) -> HttpCall:
        return HttpCall(
            "POST",
            f"{self.api_base}/send_message",
            json={
                "receiver": message.recipient,
                "min_api_version": 1,
                "sender": self._sender(),
                "tracking_data": message.idempotency_key,
                "type": "text",
                "text": message.payload.get("text") or "",
            },
            headers=self._headers(),
        )

    def parse_send_response(self, response: httpx.Response, body: Any) -> SendOutcome:
        if response.status_code == 429:
            found = VIBER_ERRORS.classify(429, "429 Too Many Requests", headers=response.headers)
            return self.error_outcome(found, raw=body)
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, int) or isinstance(status, bool):
            return Retry(
                E.TRANSIENT, str(response.status_code), f"HTTP {response.status_code}", raw=body
            )
        if status == 0:
            if body.get("message_token") is None:
                return Retry(E.TRANSIENT, "bad_answer", "Viber answered ok without a token")
            return Sent(str(body["message_token"]), raw=body)
        text = f"{status} {body.get('status_message') or ''}".strip()
        return self.error_outcome(VIBER_ERRORS.classify(status, text), raw=body)

    def error_words(self, classified: Classified) -> str:
        if classified.error_class == E.AUTH:
            return t("channels.viber.account_refused", error=classified.text)
        return classified.text

    async def _method(
        self, method: str, payload: dict[str, Any]
    ) -> dict[str, Any] | ConnectionCheck:
        answer = await self.call(
            HttpCall("POST", f"{self.api_base}/{method}", json=payload, headers=self._headers())
        )
        if isinstance(answer, Retry):
            return ConnectionCheck(False, t("channels.check.network", error=answer.text))
        response, body = answer
        if not isinstance(body, dict) or "status" not in body:
            return ConnectionCheck(
                False, t("channels.check.provider_error", error=f"HTTP {response.status_code}")
            )
        status = int(body["status"])
        if status != 0:
            text = f"{status} {body.get('status_message') or ''}".strip()
            auth = VIBER_ERRORS.rule(status).error_class == E.AUTH
            key = "channels.viber.account_refused" if auth else None
            return ConnectionCheck(False, t(key or "channels.check.provider_error", error=text))
        return body

    async def check_connection(self) -> ConnectionCheck:
        answer = await self._method("get_account_info", {})
        if isinstance(answer, ConnectionCheck):
            return answer
        return ConnectionCheck(
            True,
            str(answer.get("name") or answer.get("uri") or answer.get("id") or "Viber"),
            info={
                k: answer.get(k)
                for k in ("id", "name", "uri", "webhook", "subscribers_count")
                if k in answer
            },
        )

    async def register_webhook(self, url: str) -> ConnectionCheck:
        answer = await self._method(
            "set_webhook",
            {"url": url, "event_types": list(EVENT_TYPES), "send_name": True, "send_photo": False},
        )
        return answer if isinstance(answer, ConnectionCheck) else ConnectionCheck(True, url)

    # -- webhooks --------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        token = self.config.credentials.get("auth_token")
        if not token:
            return False
        return constant_time_equals(
            request.headers.get("x-viber-content-signature", "").lower(),
            hmac_sha256_hex(token, request.body),
        )

    def parse_webhook(self, request: WebhookRequest) -> list[ev.WebhookEvent]:
        data = request.json()
        if not isinstance(data, dict):
            raise ValueError("not a Viber callback")
        return parse_callback(data)

    def webhook_reply(self, request: WebhookRequest, events: list[ev.WebhookEvent]) -> Any:
        """A ``conversation_started`` may be answered with one welcome message (setting
        ``welcome_text``); Viber shows it before the user subscribes."""
        welcome = self.config.settings.get("welcome_text")
        if not welcome:
            return None
        try:
            data = request.json()
        except ValueError:
            return None
        if isinstance(data, dict) and data.get("event") == "conversation_started":
            return {"sender": self._sender(), "type": "text", "text": str(welcome)}
        return None
