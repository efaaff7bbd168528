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
from typing import Any, ClassVar

import httpx

from hde_core.channels.base import (
    HttpAdapter,
    HttpCall,
    OutgoingMessage,
    TemplateInfo,
    WebhookRequest,
)
from hde_core.channels.errors import ErrorTable
from hde_core.channels.wa_errors import META_ERRORS, classify_graph, graph_error
from hde_core.channels.wa_webhooks import parse_webhook_body, verify_signature
from hde_core.domain.addresses import phone_to_wa_id
from hde_core.domain.channels import ChannelKind
from hde_core.domain.events import WebhookEvent
from hde_core.domain.limits import normalise_template_param
from hde_core.domain.outcomes import (
    ErrorClass,
    Fail,
    Retry,
    SendOutcome,
    Sent,
)

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
    NAMED: each parameter carries its ``parameter_name``. Values are normalised the
    way Meta asks (no line break, tab or more than four spaces in a row: 132018).
    """
    if parameter_format.upper() == "NAMED":
        return [
            {"type": "text", "parameter_name": name, "text": normalise_template_param(str(value))}
            for name, value in params.items()
        ]
    return [
        {"type": "text", "text": normalise_template_param(str(params[name]))}
        for name in sorted(params, key=_positional_key)
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
    reports_delivery: ClassVar[bool] = True
    reports_read: ClassVar[bool] = True
    #: Meta redelivers a webhook that is not answered 200 for up to 7 days: ignore a bad one.
    malformed_webhook_status: ClassVar[int] = 200

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

    error_table: ClassVar[ErrorTable] = META_ERRORS

    def classify(self, response: httpx.Response, body: Any) -> SendOutcome:
        """A refused call (or a 2xx without a message id) through the error table."""
        err = graph_error(body, response.status_code, _short_text(response))
        found = classify_graph(self.error_table, err, response.status_code, response.headers, body)
        return self.error_outcome(found, raw=body)

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
        return parse_webhook_body(request.json(), self.error_table)

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


def _short_text(response: httpx.Response) -> str:
    try:
        text = response.text.strip()
    except UnicodeDecodeError:
        text = ""
    return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")
