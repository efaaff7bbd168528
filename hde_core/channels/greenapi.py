"""Green-API (unofficial WhatsApp through a linked phone): ``{apiUrl}/waInstance{id}/{method}/{token}``.

Credentials ``id_instance`` and ``api_token`` travel in the URL path (never log it).
Use the instance's own ``apiUrl`` from the Green-API console as the channel's
``api_base`` (default ``https://api.green-api.com``).

- Send: ``sendMessage`` with ``chatId`` ``<digits>@c.us`` and ``message``. Green-API
  numbers messages per chat, so the message id is ``chatId_idMessage``; the
  ``outgoingMessageStatus`` webhook yields the same string.
- Connection: ``getStateInstance``, mapped by :data:`INSTANCE_STATES`: a phone that is
  not linked, banned or on a spam "yellow card" disconnects the channel; ``starting``
  and ``sleepMode`` recover by themselves (messages wait in Green-API's queue).
- Webhook: ``setSettings`` with ``webhookUrl`` and ``webhookUrlToken``; Green-API sends
  the token in the ``Authorization`` header of every webhook. Its own integration
  library reads it as ``Bearer <token>``; the raw token is accepted too.
- Errors are HTTP status codes (:data:`GREEN_ERRORS`); anything else is transient
  with a capped retry.
"""

from __future__ import annotations

from dataclasses import replace
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
from hde_core.channels.errors import Classified, ErrorRule, ErrorTable, rows, status_fields
from hde_core.channels.words import t
from hde_core.domain import events as ev
from hde_core.domain.addresses import normalise_phone, phone_to_wa_id
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import (
    ConnectionCheck,
    Disconnected,
    ErrorClass,
    Retry,
    SendOutcome,
    Sent,
)
from hde_core.domain.statuses import MessageStatus

E = ErrorClass
S = MessageStatus

_STOP = ErrorRule(E.NOT_REACHABLE, stop=True)

#: One table for both paths: HTTP statuses of a refused call (PROVIDERS.md §4: 401/403/466
#: per the common-errors list — 466: the plan's quota is used up; 400 texts from the
#: SendMessage and CheckWhatsapp pages) and the words of a failed
#: ``outgoingMessageStatus`` webhook. First match wins; no words match any.
GREEN_ERRORS = ErrorTable(
    rows(
        (429, ErrorRule(E.RATE_LIMITED)),
        (400, "starting or not authorized", ErrorRule(E.TRANSIENT)),
        (400, "not authorized", ErrorRule(E.AUTH)),
        (400, ErrorRule(E.INVALID_REQUEST)),
        (401, ErrorRule(E.AUTH)),
        (403, ErrorRule(E.AUTH)),
        (466, ErrorRule(E.AUTH)),
        # outgoingMessageStatus.status of a message that did not go out
        ("noAccount", _STOP),  # the number has no WhatsApp: stop writing to it
        ("failed", ErrorRule(E.NOT_REACHABLE)),  # WhatsApp's server refused it
        ("notInGroup", ErrorRule(E.NOT_REACHABLE)),
        ("noActiveSession", ErrorRule(E.WINDOW_CLOSED)),  # WABA flavour: window closed
    ),
    retry_after=("header",),
)

#: ``stateInstance`` → (usable, plain-words key). Unknown states are not usable.
INSTANCE_STATES: dict[str, tuple[bool, str]] = {
    "authorized": (True, "channels.greenapi.state.authorized"),
    "starting": (True, "channels.greenapi.state.starting"),
    "sleepMode": (True, "channels.greenapi.state.sleep_mode"),
    "notAuthorized": (False, "channels.greenapi.state.not_authorized"),
    "blocked": (False, "channels.greenapi.state.blocked"),
    "yellowCard": (False, "channels.greenapi.state.yellow_card"),
}

#: ``outgoingMessageStatus.status`` → our status. A failure's class comes from
#: :data:`GREEN_ERRORS`. ``yellowCard`` is not listed: the message waits in Green-API's
#: queue; the periodic connection check stops the channel instead.
GREEN_STATUSES: dict[str, MessageStatus] = {
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.READ,
    "failed": S.FAILED,
    "noAccount": S.FAILED,
    "notInGroup": S.FAILED,
    "noActiveSession": S.FAILED,
}

#: How incoming message types are recorded: (data key, text key, placeholder).
_INCOMING_TEXT: dict[str, tuple[str, str, str]] = {
    "textMessage": ("textMessageData", "textMessage", ""),
    "extendedTextMessage": ("extendedTextMessageData", "text", ""),
    "quotedMessage": ("extendedTextMessageData", "text", ""),
    "imageMessage": ("fileMessageData", "caption", "[image]"),
    "videoMessage": ("fileMessageData", "caption", "[video]"),
    "documentMessage": ("fileMessageData", "caption", "[document]"),
    "audioMessage": ("fileMessageData", "caption", "[audio]"),
}


def chat_id_for(recipient: str) -> str:
    """``+79001234567`` → ``79001234567@c.us``; a ready chat id is kept."""
    return recipient if "@" in recipient else f"{phone_to_wa_id(recipient)}@c.us"


def message_id(chat_id: str, id_message: str) -> str:
    return f"{chat_id}_{id_message}"


def _answer_text(response: httpx.Response, body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("description") or body)
    return response.text[:500] or response.reason_phrase


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ValueError(f"not a Green-API message id: {value!r}")
    return str(value)


def _incoming_text(message_data: dict[str, Any]) -> str:
    kind = message_data.get("typeMessage")
    kind = kind if isinstance(kind, str) else ""
    data_key, text_key, placeholder = _INCOMING_TEXT.get(kind, ("", "", f"[{kind}]"))
    value = _dict(message_data.get(data_key)).get(text_key) if data_key else None
    return value if isinstance(value, str) and value else placeholder


def _sender_chat(sender: dict[str, Any]) -> str | None:
    """The personal chat the message came from, or None.

    ``chatId`` is the chat the message was written in. A message in a group
    (``…@g.us``) is not the client writing to us (R3), even though ``sender`` then
    names a personal ``…@c.us`` — so only ``chatId`` counts. Hidden ``@lid`` ids
    are skipped too (no phone number to match).
    """
    chat = sender.get("chatId")
    if isinstance(chat, str) and chat.endswith("@c.us"):
        return chat
    return None


def _quoted(message_data: dict[str, Any], chat: str) -> tuple[str, ...]:
    """The message the client quoted (answered), as our provider id ``chatId_idMessage``:
    ``quotedMessage.stanzaId``, or in the older ``quotedMessage`` type
    ``extendedTextMessageData.stanzaId``."""
    for holder in (
        _dict(message_data.get("quotedMessage")),
        _dict(message_data.get("extendedTextMessageData")),
    ):
        stanza = holder.get("stanzaId")
        if isinstance(stanza, str) and stanza.strip():
            return (message_id(chat, stanza.strip()),)
    return ()


def parse_notification(data: dict[str, Any]) -> list[ev.WebhookEvent]:
    """One Green-API webhook in our vocabulary."""
    kind = data.get("typeWebhook")
    if not isinstance(kind, str):
        raise ValueError("not a Green-API notification")
    if kind == "incomingMessageReceived":
        sender = _dict(data.get("senderData"))
        chat = _sender_chat(sender)
        if chat is None:
            return []
        phone = normalise_phone("+" + chat.split("@", 1)[0])
        if not phone.ok or phone.value is None:
            return []
        name = sender.get("senderContactName") or sender.get("senderName")
        return [
            ev.InboundMessage(
                address=phone.value,
                provider_message_id=message_id(chat, _id(data.get("idMessage"))),
                at=unix_time(data.get("timestamp")),
                text=_incoming_text(_dict(data.get("messageData"))),
                display_name=name if isinstance(name, str) and name else None,
                phone=phone.value,
                raw=data,
                reply_to=_quoted(_dict(data.get("messageData")), chat),
            )
        ]
    if kind == "outgoingMessageStatus":
        word = data.get("status")
        status = GREEN_STATUSES.get(word) if isinstance(word, str) else None
        if status is None or data.get("sendByApi") is False:
            return []  # yellowCard, unknown, or a message typed on the phone
        chat = data.get("chatId")
        if not isinstance(chat, str) or "@" not in chat:
            raise ValueError(f"not a Green-API chat id: {chat!r}")
        failure: dict[str, Any] = {}
        description = data.get("description")
        text = description if isinstance(description, str) and description else str(word)
        if status == S.FAILED:
            failure = status_fields(GREEN_ERRORS.classify(str(word), text))
        return [
            ev.StatusUpdate(
                provider_message_id=message_id(chat, _id(data.get("idMessage"))),
                status=status,
                at=unix_time(data.get("timestamp")),
                error_code=str(word) if status == S.FAILED else None,
                error_text=text if status == S.FAILED else None,
                recipient=chat,
                raw=data,
                **failure,
            )
        ]
    return []  # stateInstanceChanged, outgoingMessageReceived, incomingCall …


class GreenApiAdapter(HttpAdapter):
    provider: ClassVar[Provider] = Provider.GREEN_API
    kind: ClassVar[ChannelKind] = ChannelKind.WHATSAPP
    default_api_base: ClassVar[str] = "https://api.green-api.com"
    max_text_length: ClassVar[int] = 20_000
    #: Green-API's queue sends no faster than one message per 500 ms
    #: (``delaySendMessagesMilliseconds`` minimum); slower is safer for the number.
    default_rate_per_sec: ClassVar[float] = 2.0
    default_burst: ClassVar[int] = 1
    supports_webhook_registration: ClassVar[bool] = True
    reports_delivery: ClassVar[bool] = True
    reports_read: ClassVar[bool] = True
    webhook_needs_secret: ClassVar[bool] = True
    #: Green-API redelivers every 60 s for 24 hours until it gets 200: ignore a bad one.
    malformed_webhook_status: ClassVar[int] = 200
    credential_fields: ClassVar[tuple[str, ...]] = ("id_instance", "api_token")
    error_table: ClassVar[ErrorTable] = GREEN_ERRORS

    def method_url(self, method: str) -> str:
        instance = self.config.credential("id_instance")
        token = self.config.credential("api_token")
        return f"{self.api_base}/waInstance{instance}/{method}/{token}"

    def build_send_request(self, message: OutgoingMessage) -> HttpCall:
        return HttpCall(
            "POST",
            self.method_url("sendMessage"),
            json={
                "chatId": chat_id_for(message.recipient),
                "message": message.payload.get("text") or "",
            },
        )

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        outcome = await super().send(message)
        if isinstance(outcome, Sent):  # idMessage is unique per chat only
            chat = chat_id_for(message.recipient)
            return Sent(message_id(chat, outcome.provider_message_id), raw=outcome.raw)
        return outcome

    def parse_send_response(self, response: httpx.Response, body: Any) -> SendOutcome:
        """``idMessage`` alone; :meth:`send` prefixes the chat id."""
        if response.status_code == 200 and isinstance(body, dict) and body.get("idMessage"):
            return Sent(str(body["idMessage"]), raw=body)
        if response.status_code == 200:
            return Retry(E.TRANSIENT, "bad_answer", "Green-API answered without idMessage")
        return self.refused(response, body)

    def refused(self, response: httpx.Response, body: Any) -> SendOutcome:
        text = _answer_text(response, body)
        found = GREEN_ERRORS.classify(response.status_code, text, headers=response.headers)
        found = replace(found, text=f"{response.status_code} {text}".strip())
        return self.error_outcome(found, raw=body)

    def error_words(self, classified: Classified) -> str:
        if classified.error_class == E.AUTH:
            return t("channels.greenapi.refused", error=classified.text)
        return classified.text

    async def _call(self, method: str, verb: str = "GET", payload: Any = None) -> Any:
        answer = await self.call(HttpCall(verb, self.method_url(method), json=payload))
        if isinstance(answer, Retry):
            return ConnectionCheck(False, t("channels.check.network", error=answer.text))
        response, body = answer
        if response.status_code != 200 or not isinstance(body, dict):
            outcome = self.refused(response, body)
            key = (
                "channels.greenapi.refused"
                if isinstance(outcome, Disconnected)
                else "channels.check.provider_error"
            )
            text = f"{response.status_code} {_answer_text(response, body)}"
            return ConnectionCheck(False, t(key, error=text))
        return body

    async def check_connection(self) -> ConnectionCheck:
        answer = await self._call("getStateInstance")
        if isinstance(answer, ConnectionCheck):
            return answer
        state = str(answer.get("stateInstance") or "")
        usable, key = INSTANCE_STATES.get(state, (False, "channels.greenapi.state.unknown"))
        return ConnectionCheck(usable, t(key, state=state), info={"state": state})

    async def register_webhook(self, url: str) -> ConnectionCheck:
        if not self.config.webhook_secret:
            return ConnectionCheck(False, t("channels.webhook.secret_missing"))
        settings: dict[str, Any] = {
            "webhookUrl": url,
            "webhookUrlToken": self.config.webhook_secret,
            "incomingWebhook": "yes",
            "outgoingWebhook": "yes",
            "outgoingMessageWebhook": "no",
            "outgoingAPIMessageWebhook": "no",
            "stateWebhook": "yes",
        }
        delay = self.config.settings.get("send_delay_ms")
        if delay:
            settings["delaySendMessagesMilliseconds"] = int(delay)
        answer = await self._call("setSettings", "POST", settings)
        if isinstance(answer, ConnectionCheck):
            return answer
        if answer.get("saveSettings") is not True:
            return ConnectionCheck(False, t("channels.check.provider_error", error=str(answer)))
        return ConnectionCheck(True, url)

    # -- webhooks --------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        secret = self.config.webhook_secret
        if not secret:
            return False
        given = request.headers.get("authorization", "").strip()
        if given[:7].lower() == "bearer ":
            given = given[7:].strip()
        return constant_time_equals(given, secret)

    def parse_webhook(self, request: WebhookRequest) -> list[ev.WebhookEvent]:
        data = request.json()
        if not isinstance(data, dict):
            raise ValueError("not a Green-API notification")
        return parse_notification(data)
