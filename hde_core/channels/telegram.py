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
from typing import Any, ClassVar

import httpx

from hde_core.channels.base import (
    HttpAdapter,
    HttpCall,
    OutgoingMessage,
    WebhookRequest,
    constant_time_equals,
    unix_time,
)
from hde_core.channels.errors import Classified, ErrorRule, ErrorTable, rows
from hde_core.channels.words import t
from hde_core.domain import events as ev
from hde_core.domain.addresses import normalise_phone
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import (
    ConnectionCheck,
    ErrorClass,
    Retry,
    SendOutcome,
    Sent,
)

E = ErrorClass
_STOP = ErrorRule(E.NOT_REACHABLE, stop=True)

#: (error_code, words in the description, rule). First match wins; no words match any.
#: Sources: PROVIDERS.md §2 (telebot, courier, botman). "Blocked", "deactivated" and
#: "can't initiate" mean this client will not receive from the bot: a stop signal.
TELEGRAM_ERRORS = ErrorTable(
    rows(
        (429, ErrorRule(E.RATE_LIMITED)),
        (403, "bot was blocked by the user", _STOP),
        (403, "user is deactivated", _STOP),
        (403, "bot can't initiate conversation", _STOP),
        (403, "bot was kicked", _STOP),
        (403, "bot is not a member", _STOP),
        (403, ErrorRule(E.NOT_REACHABLE)),
        (400, "chat not found", ErrorRule(E.NOT_REACHABLE)),
        (400, "user not found", ErrorRule(E.NOT_REACHABLE)),
        (400, ErrorRule(E.INVALID_REQUEST)),
        (401, ErrorRule(E.AUTH)),  # the token was revoked or is wrong
        (404, ErrorRule(E.AUTH)),  # a malformed token: the method URL does not exist
        (409, ErrorRule(E.INVALID_REQUEST)),  # getUpdates while a webhook is set
    ),
    retry_after=("body:parameters.retry_after", "header", "text"),
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


@dataclass(frozen=True)
class TelegramError:
    code: int
    description: str
    error_class: ErrorClass
    opt_out: bool
    retry_after: float | None = None
    classified: Classified | None = None

    @property
    def text(self) -> str:
        return f"{self.code} {self.description}".strip()


def classify(status: int, body: Any, response: httpx.Response | None = None) -> TelegramError:
    """Read one Telegram answer that is not ``ok`` through :data:`TELEGRAM_ERRORS`."""
    body = body if isinstance(body, dict) else {}
    raw_code = body.get("error_code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else status
    description = str(body.get("description") or (response.reason_phrase if response else ""))
    found = TELEGRAM_ERRORS.classify(
        code,
        description,
        headers=response.headers if response is not None else None,
        body=body,
    )
    found = Classified(found.rule, str(code), f"{code} {description}".strip(), found.after)
    return TelegramError(code, description, found.error_class, found.rule.stop, found.after, found)


@dataclass(frozen=True)
class Polled:
    """What one ``getUpdates`` call returned (or why it returned nothing)."""

    updates: list[dict[str, Any]]
    error: TelegramError | None = None
    network_error: str | None = None


def chat_id(value: Any) -> str:
    """A Telegram chat id as we store it: an integer (negative for groups), as text.

    Anything else a payload may carry (``None``, ``{"$gt": 1}``, ``1.5``, ``"abc"``)
    is refused with ``ValueError`` (the receiver answers 400) instead of becoming an
    identity.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a Telegram chat id: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _CHAT_ID.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(f"not a Telegram chat id: {value!r}")
    if not 0 < abs(number) < 10**16:
        raise ValueError(f"not a Telegram chat id: {value!r}")
    return str(number)


_CHAT_ID = re.compile(r"-?[0-9]{1,16}")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _name(user: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (_str(user.get("first_name")), _str(user.get("last_name"))) if p)
    return name or None


def _text(message: dict[str, Any]) -> str:
    for key in ("text", "caption"):
        if isinstance(message.get(key), str) and message[key]:
            return str(message[key])
    for key, placeholder in _MEDIA:
        if key in message:
            return placeholder
    return ""


def _shared_phone(message: dict[str, Any], user_id: Any) -> str | None:
    """The client's own phone number, when they shared their contact card."""
    contact = _dict(message.get("contact"))
    raw = contact.get("phone_number")
    if not isinstance(raw, str | int) or not raw or contact.get("user_id") != user_id:
        return None
    raw = str(raw)
    phone = normalise_phone(raw if raw.startswith("+") else "+" + raw)
    return phone.value if phone.ok else None


def _reply_to(message: dict[str, Any], chat_key: str) -> tuple[str, ...]:
    """The message this one answers (the client pressed "Reply"), as our provider id
    ``chat_id:message_id``; a reply to a message in another chat is not ours."""
    replied = _dict(message.get("reply_to_message"))
    replied_id = replied.get("message_id")
    if not isinstance(replied_id, int) or isinstance(replied_id, bool):
        return ()
    if "chat" in replied and str(_dict(replied.get("chat")).get("id")) != chat_key:
        return ()
    return (f"{chat_key}:{replied_id}",)


def parse_update(update: dict[str, Any]) -> list[ev.WebhookEvent]:
    """One Telegram ``Update`` in our vocabulary (private chats only; groups are not clients)."""
    message = update.get("message")
    if isinstance(message, dict):
        chat = _dict(message.get("chat"))
        sender = _dict(message.get("from"))
        if chat.get("type") != "private" or sender.get("is_bot") is True:
            return []
        chat_key = chat_id(chat.get("id"))
        message_id = message.get("message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise ValueError(f"not a Telegram message id: {message_id!r}")
        return [
            ev.InboundMessage(
                address=chat_key,
                provider_message_id=f"{chat_key}:{message_id}",
                at=unix_time(message.get("date")),
                text=_text(message),
                display_name=_name(sender) or _name(chat),
                username=_str(sender.get("username")) or _str(chat.get("username")),
                phone=_shared_phone(message, sender.get("id")),
                raw=update,
                reply_to=_reply_to(message, chat_key),
            )
        ]
    member = update.get("my_chat_member")
    if isinstance(member, dict):
        chat = _dict(member.get("chat"))
        if chat.get("type") != "private":
            return []
        chat_key = chat_id(chat.get("id"))
        status = _dict(member.get("new_chat_member")).get("status")
        user = _dict(member.get("from")) or chat
        at = unix_time(member.get("date"))
        if status == "kicked":
            return [ev.OptedOut(chat_key, at, "blocked the bot", raw=update)]
        if status == "member":
            return [
                ev.Subscribed(
                    chat_key,
                    at,
                    display_name=_name(user),
                    username=_str(user.get("username")),
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
    credential_fields: ClassVar[tuple[str, ...]] = ("bot_token",)
    error_table: ClassVar[ErrorTable] = TELEGRAM_ERRORS

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

    def parse_send_response(self, response: httpx.Response, body: Any) -> SendOutcome:
        if isinstance(body, dict) and body.get("ok") is True:
            result = body.get("result") or {}
            chat_id = (result.get("chat") or {}).get("id")
            if chat_id is None or result.get("message_id") is None:
                return Retry(E.TRANSIENT, "bad_answer", "Telegram answered ok without a message")
            return Sent(f"{chat_id}:{result['message_id']}", raw=body)
        error = classify(response.status_code, body, response)
        assert error.classified is not None
        return self.error_outcome(error.classified, raw=body)

    def error_words(self, classified: Classified) -> str:
        if classified.error_class == E.AUTH:
            return t("channels.telegram.token_rejected", error=classified.text)
        return classified.text

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
