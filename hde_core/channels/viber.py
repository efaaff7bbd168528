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

from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from hde_core.channels.base import (
    HttpAdapter,
    HttpCall,
    OutgoingMessage,
    WebhookRequest,
    constant_time_equals,
    hmac_sha256_hex,
    retry_after_header,
)
from hde_core.channels.words import t
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import (
    ConnectionCheck,
    Disconnected,
    ErrorClass,
    Fail,
    Retry,
    SendOutcome,
    Sent,
)
from hde_core.domain.statuses import MessageStatus

E = ErrorClass

#: ``status`` → (class, the client opted out). Any status not listed is transient (capped).
#: Source: developers.viber.com/docs/api/rest-bot-api/#error-codes via nyaruka/courier.
VIBER_STATUS: dict[int, tuple[ErrorClass, bool]] = {
    1: (E.AUTH, False),  # invalidUrl (webhook)
    2: (E.AUTH, False),  # invalidAuthToken
    3: (E.INVALID_REQUEST, False),  # badData
    4: (E.INVALID_REQUEST, False),  # missingData
    5: (E.NOT_REACHABLE, False),  # receiverNotRegistered
    6: (E.NOT_REACHABLE, True),  # receiverNotSubscribed
    7: (E.AUTH, False),  # publicAccountBlocked
    8: (E.AUTH, False),  # publicAccountNotFound
    9: (E.AUTH, False),  # publicAccountSuspended
    10: (E.AUTH, False),  # webhookNotSet: Viber refuses to send until a webhook is set
    11: (E.NOT_REACHABLE, False),  # receiverNoSuitableDevice
    12: (E.RATE_LIMITED, False),  # tooManyRequests
    13: (E.NOT_REACHABLE, False),  # apiVersionNotSupported
    14: (E.INVALID_REQUEST, False),  # incompatibleWithVersion
    15: (E.AUTH, False),  # publicAccountNotAuthorized
    16: (E.INVALID_REQUEST, False),  # inline message not allowed
    17: (E.INVALID_REQUEST, False),  # public account is not inline
    18: (E.INVALID_REQUEST, False),  # no public chat
    19: (E.INVALID_REQUEST, False),  # cannot send broadcast message
    20: (E.INVALID_REQUEST, False),  # broadcast not allowed
    21: (E.NOT_REACHABLE, False),  # message not supported in the destination country
    22: (E.INVALID_REQUEST, False),  # payment messages not supported
    23: (E.AUTH, False),  # monthly free out-of-session threshold reached
    24: (E.AUTH, False),  # billable bot without balance
}

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


def classify(status: int, message: str, raw: Any = None, after: float | None = None) -> SendOutcome:
    """Map a non-zero ``status`` through :data:`VIBER_STATUS`."""
    error_class, opt_out = VIBER_STATUS.get(status, (E.TRANSIENT, False))
    text = f"{status} {message}".strip()
    if error_class == E.AUTH:
        return Disconnected(str(status), t("channels.viber.account_refused", error=text), raw=raw)
    if error_class in (E.RATE_LIMITED, E.TRANSIENT):
        return Retry(error_class, str(status), text, after=after, raw=raw)
    return Fail(error_class, str(status), text, opt_out=opt_out, raw=raw)


def _when(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def parse_callback(data: dict[str, Any]) -> list[ev.WebhookEvent]:
    """One Viber callback in our vocabulary."""
    event = data.get("event")
    if not isinstance(event, str):
        raise ValueError("not a Viber callback")
    at = _when(data["timestamp"])
    if event == "message":
        sender = data["sender"]
        message = data.get("message") or {}
        kind = message.get("type", "text")
        text = message.get("text") or _MEDIA.get(kind, f"[{kind}]")
        return [
            ev.InboundMessage(
                address=str(sender["id"]),
                provider_message_id=str(data["message_token"]),
                at=at,
                text=str(text),
                display_name=sender.get("name"),
                raw=data,
            )
        ]
    if event == "subscribed" or (event == "conversation_started" and data.get("subscribed")):
        user = data["user"]
        return [ev.Subscribed(str(user["id"]), at, display_name=user.get("name"), raw=data)]
    if event == "unsubscribed":
        return [ev.OptedOut(str(data["user_id"]), at, "unsubscribed", raw=data)]
    if event in _STATUS_EVENTS:
        failed = event == "failed"
        return [
            ev.StatusUpdate(
                provider_message_id=str(data["message_token"]),
                status=_STATUS_EVENTS[event],
                at=at,
                error_code="failed" if failed else None,
                error_text=(str(data.get("desc") or "") or None) if failed else None,
                recipient=data.get("user_id"),
                raw=data,
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
    #: Callbacks are signed with the auth token: no separate webhook secret is needed.
    webhook_needs_secret: ClassVar[bool] = False

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

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        text = str(message.payload.get("text") or "")
        if not text.strip() or len(text) > self.max_text_length:
            return Fail(
                E.INVALID_REQUEST,
                "text_length",
                t("channels.text_length", length=len(text), limit=self.max_text_length),
            )
        return await super().send(message)

    def parse_send_response(self, response: httpx.Response, body: Any) -> SendOutcome:
        if response.status_code == 429:
            return Retry(
                E.RATE_LIMITED, "429", "429 Too Many Requests", retry_after_header(response)
            )
        if not isinstance(body, dict) or "status" not in body:
            return Retry(
                E.TRANSIENT, str(response.status_code), f"HTTP {response.status_code}", raw=body
            )
        status = int(body["status"])
        if status == 0:
            if body.get("message_token") is None:
                return Retry(E.TRANSIENT, "bad_answer", "Viber answered ok without a token")
            return Sent(str(body["message_token"]), raw=body)
        return classify(status, str(body.get("status_message") or ""), raw=body)

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
            key = "channels.viber.account_refused" if status in (2, 7, 8, 9, 15) else None
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
