"""Telegram Bot API: ``{api_base}/bot<token>/<method>``.

- Send: ``sendMessage`` with ``chat_id`` and ``text`` (plain text, no parse mode, so a
  ticket body is never misread as markup). The message id is ``chat_id:message_id``
  because Telegram numbers messages per chat.
- Connection: ``getMe``. Webhook: ``setWebhook`` with ``secret_token``; Telegram echoes
  the secret in ``X-Telegram-Bot-Api-Secret-Token`` on every update (no HMAC).
- Inbound: one ``Update`` per webhook (the same objects ``getUpdates`` returns, so
  ``hde poll`` parses with the same code). A private ``message`` is the client
  writing (R3); ``my_chat_member`` with ``kicked`` in a private chat means the user
  blocked the bot (R15), ``member`` again means unblocked.
- Telegram has no delivery or read receipts for bots: a message stays ``sent``.

Errors (``{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}``)
are classified by :data:`TELEGRAM_ERRORS`, first matching row wins; anything not in
the table (5xx included) is transient with a capped retry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from hde_core.channels.base import (
    HttpAdapter,
    HttpCall,
    OutgoingMessage,
    WebhookRequest,
    constant_time_equals,
    retry_after_header,
)
from hde_core.channels.words import t
from hde_core.domain import events as ev
from hde_core.domain.addresses import normalise_phone
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

E = ErrorClass

#: (error_code, words in the description, class, the client opted out). First match wins;
#: an empty description matches any. Sources: PROVIDERS.md §2 (telebot, courier, botman).
TELEGRAM_ERRORS: tuple[tuple[int, str, ErrorClass, bool], ...] = (
    (429, "", E.RATE_LIMITED, False),
    (403, "bot was blocked by the user", E.NOT_REACHABLE, True),
    (403, "user is deactivated", E.NOT_REACHABLE, True),
    (403, "bot can't initiate conversation", E.NOT_REACHABLE, True),
    (403, "bot was kicked", E.NOT_REACHABLE, True),
    (403, "bot is not a member", E.NOT_REACHABLE, True),
    (403, "", E.NOT_REACHABLE, False),
    (400, "chat not found", E.NOT_REACHABLE, False),
    (400, "user not found", E.NOT_REACHABLE, False),
    (400, "", E.INVALID_REQUEST, False),
    (401, "", E.AUTH, False),  # the token was revoked or is wrong
    (404, "", E.AUTH, False),  # a malformed token: the method URL does not exist
    (409, "", E.INVALID_REQUEST, False),  # getUpdates while a webhook is set
)

#: Updates the webhook asks for: client messages and the bot's own membership (block/unblock).
ALLOWED_UPDATES = ("message", "my_chat_member")

#: What a non-text message is recorded as.
_MEDIA = (
    ("photo", "[photo]"),
    ("document", "[document]"),
    ("video", "[video]"),
    ("voice", "[voice]"),
    ("audio", "[audio]"),
    ("sticker", "[sticker]"),
    ("location", "[location]"),
    ("contact", "[contact]"),
)

_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class TelegramError:
    code: int
    description: str
    error_class: ErrorClass
    opt_out: bool
    retry_after: float | None = None

    @property
    def text(self) -> str:
        return f"{self.code} {self.description}".strip()


def classify(status: int, body: Any, response: httpx.Response | None = None) -> TelegramError:
    """Map one Telegram answer that is not ``ok`` through :data:`TELEGRAM_ERRORS`."""
    body = body if isinstance(body, dict) else {}
    code = int(body.get("error_code") or status)
    description = str(body.get("description") or (response.reason_phrase if response else ""))
    lowered = description.lower()
    error_class, opt_out = E.TRANSIENT, False
    for row_code, words, row_class, row_opt_out in TELEGRAM_ERRORS:
        if row_code == code and (not words or words in lowered):
            error_class, opt_out = row_class, row_opt_out
            break
    after: float | None = None
    if error_class == E.RATE_LIMITED:
        params = body.get("parameters") or {}
        if isinstance(params, dict) and params.get("retry_after") is not None:
            after = float(params["retry_after"])
        elif response is not None and retry_after_header(response) is not None:
            after = retry_after_header(response)
        elif match := _RETRY_AFTER_TEXT.search(description):
            after = float(match.group(1))
    return TelegramError(code, description, error_class, opt_out, after)


def to_outcome(error: TelegramError, raw: Any = None) -> SendOutcome:
    if error.error_class == E.AUTH:
        return Disconnected(
            str(error.code), t("channels.telegram.token_rejected", error=error.text)
        )
    if error.error_class in (E.RATE_LIMITED, E.TRANSIENT):
        return Retry(
            error.error_class, str(error.code), error.text, after=error.retry_after, raw=raw
        )
    return Fail(error.error_class, str(error.code), error.text, opt_out=error.opt_out, raw=raw)


@dataclass(frozen=True)
class Polled:
    """What one ``getUpdates`` call returned (or why it returned nothing)."""

    updates: list[dict[str, Any]]
    error: TelegramError | None = None
    network_error: str | None = None


def _when(unix: Any) -> datetime:
    return datetime.fromtimestamp(int(unix), tz=UTC)


def _name(user: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return name or None


def _text(message: dict[str, Any]) -> str:
    if message.get("text"):
        return str(message["text"])
    if message.get("caption"):
        return str(message["caption"])
    for key, placeholder in _MEDIA:
        if key in message:
            return placeholder
    return ""


def _shared_phone(message: dict[str, Any], user_id: Any) -> str | None:
    """The client's own phone number, when they shared their contact card."""
    contact = message.get("contact") or {}
    if not contact.get("phone_number") or contact.get("user_id") != user_id:
        return None
    raw = str(contact["phone_number"])
    phone = normalise_phone(raw if raw.startswith("+") else "+" + raw)
    return phone.value if phone.ok else None


def parse_update(update: dict[str, Any]) -> list[ev.WebhookEvent]:
    """One Telegram ``Update`` in our vocabulary (private chats only; groups are not clients)."""
    message = update.get("message")
    if isinstance(message, dict):
        chat = message["chat"]
        sender = message.get("from") or {}
        if chat.get("type") != "private" or sender.get("is_bot"):
            return []
        return [
            ev.InboundMessage(
                address=str(chat["id"]),
                provider_message_id=f"{chat['id']}:{message['message_id']}",
                at=_when(message["date"]),
                text=_text(message),
                display_name=_name(sender) or _name(chat),
                username=sender.get("username") or chat.get("username"),
                phone=_shared_phone(message, sender.get("id")),
                raw=update,
            )
        ]
    member = update.get("my_chat_member")
    if isinstance(member, dict):
        chat = member["chat"]
        if chat.get("type") != "private":
            return []
        status = (member.get("new_chat_member") or {}).get("status")
        user = member.get("from") or chat
        at = _when(member["date"])
        if status == "kicked":
            return [ev.OptedOut(str(chat["id"]), at, "blocked the bot", raw=update)]
        if status == "member":
            return [
                ev.Subscribed(
                    str(chat["id"]),
                    at,
                    display_name=_name(user),
                    username=user.get("username"),
                    raw=update,
                )
            ]
    return []


class TelegramAdapter(HttpAdapter):
    provider: ClassVar[Provider] = Provider.TELEGRAM
    kind: ClassVar[ChannelKind] = ChannelKind.TELEGRAM
    default_api_base: ClassVar[str] = "https://api.telegram.org"
    max_text_length: ClassVar[int] = 4096
    #: Bots FAQ: about 30 messages per second in total, one per second per chat.
    default_rate_per_sec: ClassVar[float] = 30.0
    default_burst: ClassVar[int] = 30
    per_recipient_interval: ClassVar[float | None] = 1.0
    supports_webhook_registration: ClassVar[bool] = True
    #: Webhooks can only be verified with the channel's webhook secret (Telegram's secret_token).
    webhook_needs_secret: ClassVar[bool] = True

    def method_url(self, method: str) -> str:
        return f"{self.api_base}/bot{self.config.credential('bot_token')}/{method}"

    # -- sending ---------------------------------------------------------------------

    def build_send_request(self, message: OutgoingMessage) -> HttpCall:
        chat: int | str = message.recipient
        if message.recipient.lstrip("-").isdigit():
            chat = int(message.recipient)
        return HttpCall(
            "POST",
            self.method_url("sendMessage"),
            json={"chat_id": chat, "text": message.payload.get("text") or ""},
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
        if isinstance(body, dict) and body.get("ok") is True:
            result = body.get("result") or {}
            chat_id = (result.get("chat") or {}).get("id")
            if chat_id is None or result.get("message_id") is None:
                return Retry(E.TRANSIENT, "bad_answer", "Telegram answered ok without a message")
            return Sent(f"{chat_id}:{result['message_id']}", raw=body)
        return to_outcome(classify(response.status_code, body, response), raw=body)

    # -- connection and webhook ------------------------------------------------------

    async def _method(self, method: str, payload: dict[str, Any] | None = None) -> Any:
        """Call a method; returns ``result``, a :class:`TelegramError`, or a network :class:`Retry`."""
        answer = await self.call(HttpCall("POST", self.method_url(method), json=payload or {}))
        if isinstance(answer, Retry):
            return answer
        response, body = answer
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        return classify(response.status_code, body, response)

    def _problem(self, answer: Any) -> ConnectionCheck | None:
        if isinstance(answer, Retry):
            return ConnectionCheck(False, t("channels.check.network", error=answer.text))
        if isinstance(answer, TelegramError):
            if answer.error_class == E.AUTH:
                return ConnectionCheck(
                    False, t("channels.telegram.token_rejected", error=answer.text)
                )
            return ConnectionCheck(False, t("channels.check.provider_error", error=answer.text))
        return None

    async def check_connection(self) -> ConnectionCheck:
        answer = await self._method("getMe")
        problem = self._problem(answer)
        if problem is not None:
            return problem
        me = answer if isinstance(answer, dict) else {}
        username = me.get("username") or me.get("first_name") or str(me.get("id", ""))
        return ConnectionCheck(
            True, f"@{username}", info={"id": me.get("id"), "username": username}
        )

    async def register_webhook(self, url: str) -> ConnectionCheck:
        if not self.config.webhook_secret:
            return ConnectionCheck(False, t("channels.webhook.secret_missing"))
        answer = await self._method(
            "setWebhook",
            {
                "url": url,
                "secret_token": self.config.webhook_secret,
                "allowed_updates": list(ALLOWED_UPDATES),
            },
        )
        return self._problem(answer) or ConnectionCheck(True, url)

    async def delete_webhook(self) -> ConnectionCheck:
        answer = await self._method("deleteWebhook", {"drop_pending_updates": False})
        return self._problem(answer) or ConnectionCheck(True, "")

    async def get_updates(self, offset: int | None, timeout: int, limit: int = 100) -> Polled:
        """One long-polling call. ``offset`` confirms every update before it."""
        payload: dict[str, Any] = {
            "timeout": timeout,
            "limit": limit,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        if offset is not None:
            payload["offset"] = offset
        try:
            response = await self.http.post(
                self.method_url("getUpdates"),
                json=payload,
                timeout=httpx.Timeout(timeout + 15.0, connect=10.0),
            )
        except httpx.HTTPError as exc:
            return Polled([], network_error=f"{type(exc).__name__}: {exc}")
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True:
            return Polled([u for u in body.get("result") or [] if isinstance(u, dict)])
        return Polled([], error=classify(response.status_code, body, response))

    # -- webhooks --------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        secret = self.config.webhook_secret
        return bool(secret) and constant_time_equals(
            request.headers.get("x-telegram-bot-api-secret-token"), secret
        )

    def parse_webhook(self, request: WebhookRequest) -> list[ev.WebhookEvent]:
        update = request.json()
        if not isinstance(update, dict) or "update_id" not in update:
            raise ValueError("not a Telegram Update")
        return parse_update(update)
