"""The WhatsApp simulators' data: templates, Meta's error answers, clients and messages.

:data:`DEFAULT_TEMPLATES` is what a fresh simulator lists (every status and parameter
format the product must handle); :data:`ERRORS` gives each Graph error code the HTTP
status and words Meta answers it with, for the sync answer (:func:`graph_error`) and
the ``statuses[].errors[]`` of a failed status webhook (:func:`status_error`).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse


def _body(text: str, example: list[str] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": "BODY", "text": text}
    if example:
        c["example"] = {"body_text": [example]}
    return c


#: The sandbox business's templates (Meta's listing shape, statuses upper case).
DEFAULT_TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "910000000000001",
        "name": "hde_first_contact",
        "language": "ru",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Служба поддержки"},
            _body(
                "Здравствуйте, {{1}}! По вашему обращению №{{2}} есть новости. "
                "Ответьте на это сообщение, и мы продолжим разговор здесь.",
                ["Анна", "1024"],
            ),
            {"type": "FOOTER", "text": "HDE Outreach"},
        ],
    },
    {
        "id": "910000000000002",
        "name": "hde_first_contact",
        "language": "en",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "POSITIONAL",
        "components": [
            _body(
                "Hello {{1}}! There is news on your request #{{2}}. "
                "Reply to this message and we will continue here.",
                ["Anna", "1024"],
            )
        ],
    },
    {
        "id": "910000000000003",
        "name": "order_update",
        "language": "ru",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "{{customer_name}}, статус заказа {{order_id}} изменился. "
                "Напишите нам, если есть вопросы.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "customer_name", "example": "Анна"},
                        {"param_name": "order_id", "example": "A-17"},
                    ]
                },
            }
        ],
    },
    {
        "id": "910000000000004",
        "name": "hello_world",
        "language": "en_US",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "POSITIONAL",
        "components": [_body("Hello World")],
    },
    {
        "id": "910000000000005",
        "name": "login_code",
        "language": "ru",
        "category": "AUTHENTICATION",
        "status": "APPROVED",
        "parameter_format": "POSITIONAL",
        "components": [_body("{{1}} — ваш код подтверждения.", ["483920"])],
    },
    {
        "id": "910000000000006",
        "name": "autumn_sale",
        "language": "ru",
        "category": "MARKETING",
        "status": "PENDING",
        "parameter_format": "POSITIONAL",
        "components": [_body("{{1}}, осенняя распродажа: скидка 20% до конца недели!", ["Анна"])],
    },
    {
        "id": "910000000000007",
        "name": "old_greeting",
        "language": "ru",
        "category": "MARKETING",
        "status": "REJECTED",
        "parameter_format": "POSITIONAL",
        "components": [_body("Привет! Купи у нас что-нибудь.")],
    },
    {
        "id": "910000000000008",
        "name": "feedback_request",
        "language": "ru",
        "category": "MARKETING",
        "status": "PAUSED",
        "parameter_format": "POSITIONAL",
        "components": [_body("{{1}}, оцените, пожалуйста, нашу работу по обращению.", ["Анна"])],
    },
    {
        "id": "910000000000009",
        "name": "legacy_notice",
        "language": "ru",
        "category": "UTILITY",
        "status": "DISABLED",
        "parameter_format": "POSITIONAL",
        "components": [_body("Уведомление: {{1}}", ["текст"])],
    },
]

#: Graph error texts the simulator answers with: code → (HTTP status, message, details).
ERRORS: dict[int, tuple[int, str, str]] = {
    0: (401, "AuthException", "Unable to authenticate the app user"),
    2: (503, "Service temporarily unavailable", "Please try again later"),
    4: (400, "Application request limit reached", "Too many API calls from this app"),
    10: (403, "Application does not have permission for this action", ""),
    100: (400, "Invalid parameter", ""),
    190: (401, "Invalid OAuth access token - Cannot parse access token", ""),
    368: (403, "Temporarily blocked for policies violations", ""),
    80007: (400, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit"),
    130429: (400, "Rate limit hit", "Cloud API message throughput has been reached"),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error"),
    131008: (400, "Required parameter is missing", ""),
    131009: (400, "Parameter value is not valid", ""),
    131021: (400, "Recipient cannot be sender", ""),
    131026: (
        400,
        "Message undeliverable",
        "Unable to deliver message: the number may not be on WhatsApp",
    ),
    131031: (400, "Business Account locked", ""),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number",
    ),
    131048: (400, "Spam rate limit hit", "Too many previous messages were blocked or flagged"),
    131049: (
        400,
        "Meta chose not to deliver",
        "This message was not delivered to maintain healthy ecosystem engagement",
    ),
    131050: (
        400,
        "Unable to deliver the message",
        "This recipient has chosen to stop receiving marketing messages on WhatsApp from your "
        "business",
    ),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone "
        "number in a short period of time. Wait and retry",
    ),
    132000: (
        400,
        "Number of parameters does not match the expected number of params",
        "",
    ),
    132001: (400, "Template name does not exist in the translation", ""),
    132015: (400, "Template is Paused", "The template was paused due to low quality"),
    132016: (400, "Template is Disabled", "The template was disabled due to low quality"),
    132018: (400, "There was an issue with the parameters in your template", ""),
}


def error_object(code: int, details: str | None = None) -> tuple[int, dict[str, Any]]:
    status, message, default_details = ERRORS.get(code, (400, "Unknown error", ""))
    err: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": uuid.uuid4().hex[:20],
    }
    if details or default_details:
        err["error_data"] = {
            "messaging_product": "whatsapp",
            "details": details or default_details,
        }
    return status, {"error": err}


def graph_error(code: int, details: str | None = None) -> JSONResponse:
    status, body = error_object(code, details)
    return JSONResponse(body, status_code=status)


def status_error(code: int) -> dict[str, Any]:
    """An error entry of a ``failed`` status webhook (``statuses[].errors[]``)."""
    _, message, details = ERRORS.get(code, (400, "Unknown error", ""))
    return {
        "code": code,
        "title": message,
        "message": message,
        "error_data": {"details": details or message},
    }


class Refusal(Exception):
    def __init__(self, code: int, details: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return max(0, int(base64.urlsafe_b64decode(padded).decode()))
    except (ValueError, UnicodeDecodeError):
        return 0


@dataclass
class SimUser:
    wa_id: str
    name: str = ""
    last_inbound_at: float | None = None  # epoch seconds
    reachable: bool = True
    marketing_opt_out: bool = False


@dataclass
class SimMessage:
    id: str
    account: str
    to: str
    type: str
    body: dict[str, Any]
    at: float
    category: str | None = None
    statuses: list[str] = field(default_factory=list)
