"""What Meta's WhatsApp Cloud API and the BSPs that pass it through (360dialog) share.

Both speak the same message bodies, the same error objects and the same webhook
payloads, so everything here is written once:

- message bodies (free-form text; templates with positional or NAMED body parameters),
- the error-code **table** (PROVIDERS.md §1) that turns a Graph error into a typed
  outcome — unknown codes are transient, and the retry policy caps them,
- webhook parsing (``messages`` → :class:`InboundMessage`, ``statuses`` →
  :class:`StatusUpdate`, ``errors`` logged), ``X-Hub-Signature-256`` verification on
  the raw body and the GET ``hub.challenge`` handshake,
- :class:`WaBusinessAdapter`, the base the two adapters fill in (URL and auth header).

NAMED parameters are sent as ``{"type": "text", "parameter_name": …, "text": …}``:
Meta's primary page was not found; the shape is what Meta-facing SDKs send (pywa's
``parameter_name``; Kapso's ``parameterName`` converted to snake case).
"""

from __future__ import annotations

import logging
import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from hde_core.channels.base import (
    HttpAdapter,
    HttpCall,
    OutgoingMessage,
    TemplateInfo,
    WebhookRequest,
    constant_time_equals,
    hmac_sha256_hex,
    retry_after_header,
)
from hde_core.domain.addresses import phone_to_wa_id
from hde_core.domain.channels import ChannelKind
from hde_core.domain.events import InboundMessage, StatusUpdate, WebhookEvent
from hde_core.domain.outcomes import (
    Disconnected,
    ErrorClass,
    Fail,
    Hold,
    Retry,
    SendOutcome,
    Sent,
)
from hde_core.domain.statuses import MessageStatus

log = logging.getLogger(__name__)

APPROVED = "APPROVED"

# -- message bodies ---------------------------------------------------------------------


def text_body(to: str, text: str, preview_url: bool = False) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone_to_wa_id(to),
        "type": "text",
        "text": {"preview_url": preview_url, "body": text},
    }


def _positional_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)


def body_parameters(params: Mapping[str, Any], parameter_format: str) -> list[dict[str, Any]]:
    """Body parameters in the order the template expects them.

    POSITIONAL: ``{"1": "Anna", "2": "42"}`` → two text parameters in numeric order
    (never in dict order: PostgreSQL JSONB does not keep key order).
    NAMED: each parameter carries its ``parameter_name``.
    """
    if parameter_format.upper() == "NAMED":
        return [
            {"type": "text", "parameter_name": name, "text": str(value)}
            for name, value in params.items()
        ]
    return [
        {"type": "text", "text": str(params[name])} for name in sorted(params, key=_positional_key)
    ]


def template_body(
    to: str,
    name: str,
    language: str,
    params: Mapping[str, Any] | None = None,
    parameter_format: str = "POSITIONAL",
    components: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = [dict(c) for c in components]
    elif params:
        template["components"] = [
            {"type": "body", "parameters": body_parameters(params, parameter_format)}
        ]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone_to_wa_id(to),
        "type": "template",
        "template": template,
    }


def message_body(message: OutgoingMessage) -> dict[str, Any]:
    """The Cloud API body for an outbox message (``text`` or ``template``)."""
    p = message.payload
    if message.kind == "template":
        return template_body(
            message.recipient,
            p["template_name"],
            p["language"],
            p.get("params") or {},
            p.get("parameter_format") or "POSITIONAL",
            p.get("components"),
        )
    return text_body(message.recipient, p["text"], bool(p.get("preview_url", False)))


# -- templates --------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def body_text(components: Iterable[Mapping[str, Any]]) -> str:
    for c in components or []:
        if str(c.get("type", "")).upper() == "BODY":
            return str(c.get("text") or "")
    return ""


def parameter_names(text: str, parameter_format: str) -> list[str]:
    """Body parameters in send order: ``["1", "2"]`` or ``["customer_name", …]``."""
    found = list(dict.fromkeys(_PLACEHOLDER.findall(text)))
    if parameter_format.upper() == "NAMED":
        return found
    return sorted((n for n in found if n.isdigit()), key=int)


def detect_parameter_format(declared: str | None, text: str) -> str:
    """Meta states the format; 360dialog's list may not — then the placeholders tell."""
    if declared and declared.upper() in ("NAMED", "POSITIONAL"):
        return declared.upper()
    names = _PLACEHOLDER.findall(text)
    return "NAMED" if names and not all(n.isdigit() for n in names) else "POSITIONAL"


#: Provider status words → ours (upper case). 360dialog lists them in lower case and
#: says ``submitted`` for what Meta calls PENDING.
TEMPLATE_STATUSES: dict[str, str] = {
    "approved": "APPROVED",
    "pending": "PENDING",
    "submitted": "PENDING",
    "in_appeal": "IN_APPEAL",
    "rejected": "REJECTED",
    "paused": "PAUSED",
    "disabled": "DISABLED",
    "deleted": "DELETED",
    "pending_deletion": "DELETED",
    "limit_exceeded": "LIMIT_EXCEEDED",
}


def normalise_template_status(raw: Any) -> str:
    text = str(raw or "").strip()
    return TEMPLATE_STATUSES.get(text.lower(), text.upper() or "UNKNOWN")


def template_info(item: Mapping[str, Any]) -> TemplateInfo:
    """One template as listed by Meta (``data[]``) or 360dialog (``waba_templates[]``)."""
    components = list(item.get("components") or [])
    text = body_text(components)
    language = item.get("language")
    if isinstance(language, Mapping):  # some listings nest it like the send body
        language = language.get("code")
    return TemplateInfo(
        name=str(item["name"]),
        language=str(language or ""),
        category=str(item.get("category") or "").upper() or "UTILITY",
        status=normalise_template_status(item.get("status")),
        components=components,
        parameter_format=detect_parameter_format(item.get("parameter_format"), text),
        external_id=str(item["id"]) if item.get("id") is not None else None,
    )


# -- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRule:
    error_class: ErrorClass
    #: Seconds to wait before the next attempt (the channel or the recipient pauses).
    pause: float | None = None
    #: The pause applies to the whole channel (True) or to this recipient only.
    channel_wide: bool = True
    opt_out: bool = False


_RATE = ErrorClass.RATE_LIMITED
_TRANSIENT = ErrorRule(ErrorClass.TRANSIENT)
_AUTH = ErrorRule(ErrorClass.AUTH)
_UNREACHABLE = ErrorRule(ErrorClass.NOT_REACHABLE)
_INVALID = ErrorRule(ErrorClass.INVALID_REQUEST)
_TEMPLATE = ErrorRule(ErrorClass.TEMPLATE_REJECTED)

#: Graph/Cloud API error codes (PROVIDERS.md §1) → what we do. Ranges follow below.
META_ERRORS: dict[int, ErrorRule] = {
    # throughput and rate limits: wait, then try again
    130429: ErrorRule(_RATE, pause=5.0),  # Cloud API throughput reached
    131056: ErrorRule(_RATE, pause=6.0, channel_wide=False),  # pair rate limit (this recipient)
    131048: ErrorRule(_RATE, pause=60.0),  # spam rate limit (quality)
    4: ErrorRule(_RATE, pause=60.0),  # app API-call rate limit
    80007: ErrorRule(_RATE, pause=60.0),  # WABA rate limit
    133016: ErrorRule(_RATE, pause=60.0),  # register/deregister rate limit
    # Meta chose not to deliver (per-user marketing limit): hours, this recipient only
    131049: ErrorRule(ErrorClass.TRANSIENT, pause=6 * 3600.0, channel_wide=False),
    # temporary trouble at Meta: backoff, capped by the retry policy
    1: _TRANSIENT,
    2: _TRANSIENT,
    131000: _TRANSIENT,
    131016: _TRANSIENT,
    131057: _TRANSIENT,
    # outside the 24-hour window: hold until the client writes (R12)
    131047: ErrorRule(ErrorClass.WINDOW_CLOSED),
    # the recipient cannot or will not receive
    131026: _UNREACHABLE,
    131050: ErrorRule(ErrorClass.NOT_REACHABLE, opt_out=True),
    131021: _UNREACHABLE,
    131030: _UNREACHABLE,
    130472: _UNREACHABLE,
    # our request is wrong
    100: _INVALID,
    131008: _INVALID,
    131009: _INVALID,
    131051: _INVALID,
    131052: _INVALID,
    131053: _INVALID,
    # the channel itself: token, permissions, account — stop the channel, keep the message
    0: _AUTH,
    3: _AUTH,
    10: _AUTH,
    104: _AUTH,
    190: _AUTH,
    368: _AUTH,
    131031: _AUTH,
    131042: _AUTH,
    131045: _AUTH,
}

META_ERROR_RANGES: tuple[tuple[range, ErrorRule], ...] = (
    (range(132000, 133000), _TEMPLATE),  # template missing, not approved, paused, params
    (range(200, 300), _AUTH),  # permission not granted
)

#: Answers without a Graph error code, by HTTP status.
HTTP_STATUS_RULES: dict[int, ErrorRule] = {
    401: _AUTH,
    403: _AUTH,
    404: _AUTH,  # wrong api_base or phone number id: stop the channel until it is fixed
    408: _TRANSIENT,
    429: ErrorRule(_RATE, pause=5.0),
}


def error_rule(code: int | None, http_status: int) -> ErrorRule:
    if code is not None:
        if code in META_ERRORS:
            return META_ERRORS[code]
        for codes, rule in META_ERROR_RANGES:
            if code in codes:
                return rule
        return _TRANSIENT  # unknown: retry, the retry policy caps the attempts
    if http_status in HTTP_STATUS_RULES:
        return HTTP_STATUS_RULES[http_status]
    if 400 <= http_status < 500:
        return _INVALID
    return _TRANSIENT


@dataclass(frozen=True)
class GraphError:
    code: int | None
    text: str


def graph_error(body: Any, http_status: int, fallback_text: str = "") -> GraphError:
    """Code and plain text from a Graph error object (``{"error": {...}}``)."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(err, Mapping):
        code = err.get("code")
        message = str(err.get("message") or err.get("title") or "").strip()
        data = err.get("error_data")
        details = str(data.get("details") or "").strip() if isinstance(data, Mapping) else ""
        text = message if not details or details in message else f"{message}: {details}"
        try:
            return GraphError(int(code) if code is not None else None, text or fallback_text)
        except (TypeError, ValueError):
            return GraphError(None, text or fallback_text)
    return GraphError(None, fallback_text or f"HTTP {http_status}")


def outcome_for(
    rule: ErrorRule, code: str, text: str, raw: Any = None, after: float | None = None
) -> SendOutcome:
    if rule.error_class in (ErrorClass.RATE_LIMITED, ErrorClass.TRANSIENT):
        return Retry(
            rule.error_class,
            code,
            text,
            after=after if after is not None else rule.pause,
            channel_wide=rule.channel_wide,
            raw=raw,
        )
    if rule.error_class == ErrorClass.WINDOW_CLOSED:
        return Hold(code, text, raw=raw)
    if rule.error_class == ErrorClass.AUTH:
        return Disconnected(code, text, raw=raw)
    return Fail(rule.error_class, code, text, opt_out=rule.opt_out, raw=raw)


def classify_response(response: httpx.Response, body: Any) -> SendOutcome:
    """A non-2xx answer (or a 2xx without a message id) as a typed outcome."""
    err = graph_error(body, response.status_code, _short_text(response))
    rule = error_rule(err.code, response.status_code)
    code = str(err.code) if err.code is not None else f"http_{response.status_code}"
    return outcome_for(rule, code, err.text, raw=body, after=retry_after_header(response))


def _short_text(response: httpx.Response) -> str:
    try:
        text = response.text.strip()
    except UnicodeDecodeError:
        text = ""
    return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


# -- webhooks ---------------------------------------------------------------------------

#: Cloud API status words → our lifecycle. ``deleted`` (the client deleted it) changes nothing.
STATUS_MAP: dict[str, MessageStatus] = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}

OPT_OUT_CODES = frozenset({131050})
WINDOW_CODES = frozenset({131047})


def verify_signature(app_secret: str | None, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` = HMAC-SHA256(app secret, raw body)."""
    if not app_secret or not header:
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    return constant_time_equals(digest.lower(), hmac_sha256_hex(app_secret, body))


def signature_header(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac_sha256_hex(app_secret, body)


def hub_challenge(query: Mapping[str, str], verify_token: str | None) -> tuple[int, str] | None:
    """Meta's subscription check: echo ``hub.challenge`` when the verify token matches."""
    if "hub.mode" not in query and "hub.challenge" not in query:
        return None
    if (
        query.get("hub.mode") == "subscribe"
        and verify_token
        and constant_time_equals(query.get("hub.verify_token", ""), verify_token)
    ):
        return 200, query.get("hub.challenge", "")
    return 403, "verify token mismatch"


def _at(timestamp: Any) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


def _wa_address(wa_id: Any) -> str:
    digits = str(wa_id).strip().lstrip("+")
    if not digits.isdigit():
        raise ValueError(f"not a WhatsApp id: {wa_id!r}")
    return "+" + digits


def inbound_text(message: Mapping[str, Any]) -> str:
    """The readable part of any inbound message type."""
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body") or "")
    if kind == "button":
        return str((message.get("button") or {}).get("text") or "")
    if kind == "interactive":
        inter = message.get("interactive") or {}
        reply = inter.get("button_reply") or inter.get("list_reply") or {}
        return str(reply.get("title") or "")
    if kind == "reaction":
        return str((message.get("reaction") or {}).get("emoji") or "")
    media = message.get(kind) if isinstance(kind, str) else None
    if isinstance(media, Mapping):
        return str(media.get("caption") or "")
    return ""


def _status_event(item: Mapping[str, Any]) -> StatusUpdate | None:
    status = STATUS_MAP.get(str(item.get("status", "")).lower())
    if status is None:
        return None
    errors = item.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    code: int | None = None
    if first.get("code") is not None:
        try:
            code = int(first["code"])
        except (TypeError, ValueError):
            code = None
    text = None
    if first:
        err = graph_error({"error": first}, 200)
        text = err.text or None
    recipient = item.get("recipient_id")
    return StatusUpdate(
        provider_message_id=str(item["id"]),
        status=status,
        at=_at(item["timestamp"]),
        error_code=str(code) if code is not None else None,
        error_text=text,
        opt_out=status == MessageStatus.FAILED and code in OPT_OUT_CODES,
        window_closed=status == MessageStatus.FAILED and code in WINDOW_CODES,
        recipient=_wa_address(recipient) if recipient else None,
        raw=dict(item),
    )


def parse_webhook_body(body: Any) -> list[WebhookEvent]:
    """Events of one Cloud API webhook (the envelope Meta and 360dialog both send).

    Raises ``ValueError``/``KeyError``/``TypeError`` on a body that is not this shape
    (the receiver answers 400).
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("entry"), list):
        raise ValueError("not a WhatsApp webhook: no entry list")
    events: list[WebhookEvent] = []
    for entry in body["entry"]:
        for change in entry.get("changes") or []:
            if change.get("field", "messages") != "messages":
                continue  # template status updates etc.: the periodic sync picks those up
            value = change["value"]
            names = {
                str(c.get("wa_id")): (c.get("profile") or {}).get("name")
                for c in value.get("contacts") or []
            }
            for msg in value.get("messages") or []:
                sender = str(msg["from"])
                address = _wa_address(sender)
                events.append(
                    InboundMessage(
                        address=address,
                        provider_message_id=str(msg["id"]),
                        at=_at(msg["timestamp"]),
                        text=inbound_text(msg),
                        display_name=names.get(sender),
                        phone=address,
                        raw=dict(msg),
                    )
                )
            for item in value.get("statuses") or []:
                event = _status_event(item)
                if event is not None:
                    events.append(event)
            for err in value.get("errors") or []:
                parsed = graph_error({"error": err}, 200)
                log.warning("WhatsApp reported an error: %s %s", parsed.code, parsed.text)
    return events


# -- the shared adapter -----------------------------------------------------------------


class ProviderCallFailed(Exception):
    """A management call (template list, webhook registration) was refused or failed."""

    def __init__(self, outcome: SendOutcome) -> None:
        self.outcome = outcome
        text = getattr(outcome, "text", "") or ""
        code = getattr(outcome, "code", "") or ""
        super().__init__(f"{code}: {text}" if code else text)

    @property
    def text(self) -> str:
        return str(self)


class WaBusinessAdapter(HttpAdapter):
    """The WhatsApp Business API over HTTP: subclasses give the URLs and the auth header."""

    kind: ClassVar[ChannelKind] = ChannelKind.WA_BUSINESS
    max_text_length: ClassVar[int] = 4096
    #: "up to 80 messages per second by default" per business number (Meta throughput page).
    default_rate_per_sec: ClassVar[float] = 80.0
    default_burst: ClassVar[int] = 80
    #: Pair rate limit, about one message per 6 s to the same user (third-party figure,
    #: unconfirmed): a channel setting ``per_recipient_interval`` overrides it.
    per_recipient_interval: ClassVar[float | None] = 6.0
    supports_templates: ClassVar[bool] = True

    @abstractmethod
    def messages_url(self) -> str: ...

    @abstractmethod
    def auth_headers(self) -> dict[str, str]: ...

    def recipient_interval(self) -> float | None:
        """Seconds between two messages to one recipient (channel setting, else the default)."""
        value = self.config.settings.get("per_recipient_interval")
        if value is None:
            return self.per_recipient_interval
        return float(value) if float(value) > 0 else None

    def build_send_request(self, message: OutgoingMessage) -> HttpCall:
        return HttpCall(
            "POST",
            self.messages_url(),
            json=message_body(message),
            headers={**self.auth_headers(), "Content-Type": "application/json"},
        )

    def classify(self, response: httpx.Response, body: Any) -> SendOutcome:
        """A refused call as a typed outcome (360dialog adds its own words to Meta's table)."""
        return classify_response(response, body)

    def parse_send_response(self, response: httpx.Response, body: Any) -> SendOutcome:
        if 200 <= response.status_code < 300 and isinstance(body, Mapping):
            messages = body.get("messages") or []
            if messages and isinstance(messages[0], Mapping) and messages[0].get("id"):
                return Sent(str(messages[0]["id"]), raw=body)
        return self.classify(response, body)

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        if message.kind == "template":
            refused = template_gate(message)
            if refused is not None:
                return refused
        return await super().send(message)

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """A management GET: the JSON body, or :class:`ProviderCallFailed`."""
        outcome = await self.call(HttpCall("GET", url, headers=self.auth_headers(), params=params))
        if isinstance(outcome, Retry):
            raise ProviderCallFailed(outcome)
        response, body = outcome
        if not 200 <= response.status_code < 300 or body is None:
            raise ProviderCallFailed(self.classify(response, body))
        return body

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return verify_signature(
            self.app_secret(), request.body, request.headers.get("x-hub-signature-256")
        )

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        return parse_webhook_body(request.json())

    def app_secret(self) -> str | None:
        return self.config.credentials.get("app_secret") or self.config.webhook_secret


def template_gate(message: OutgoingMessage) -> SendOutcome | None:
    """Only APPROVED templates go out (R11), checked again at send time.

    The dispatcher resolves the template's current status into
    ``transport["template_status"]``; a template that became PAUSED, REJECTED,
    DISABLED or vanished since the ticket was queued fails with a plain reason
    instead of being handed to the provider.
    """
    status = message.transport.get("template_status")
    if status is None or status == APPROVED:
        return None
    name = message.payload.get("template_name")
    language = message.payload.get("language")
    return Fail(
        ErrorClass.TEMPLATE_REJECTED,
        "template_not_approved",
        f"template {name} ({language}) is {status} at the provider now; only APPROVED "
        "templates can be sent — choose another default template or wait for approval",
    )
