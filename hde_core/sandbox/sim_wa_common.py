"""What the Meta Cloud API and 360dialog simulators share: the WhatsApp side of the world.

Both providers take the same message bodies and send the same webhooks, so one
:class:`WaSimulator` (on :class:`~hde_core.sandbox.sim_common.Simulator`) keeps

- a **template catalogue** with statuses (APPROVED, PENDING, REJECTED, PAUSED,
  DISABLED) served page by page;
- **simulated clients** (by ``wa_id``): when each last wrote, whether the number
  has WhatsApp, whether they opted out of marketing;
- the **24-hour window**: free-form text to a client whose last message is older
  than 24 h is refused with 131047 (synchronously, or — Meta's usual way — as a
  ``failed`` status webhook; ``window_error`` chooses), templates are allowed;
- the documented **request checks** (``messaging_product``, ``to``, text length,
  template name/language/status, body parameter count and NAMED names) with
  Graph-shaped errors;
- **status webhooks** (sent → delivered → read, sometimes failed) and client
  replies after a delay, through the per-account webhook queue.

Control endpoints (``/_control/…``, never part of the real APIs) let tests and
the demo set the webhook URL, make a client write, force error codes and change
template statuses. Numbers ending in ``0000`` have no WhatsApp (131026).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.channels.base import hmac_sha256_hex
from hde_core.sandbox.sim_common import (
    CLIENT_NAMES,
    CLIENT_QUESTIONS,
    CLIENT_REPLIES,
    SimConfig,
    Simulator,
    WebhookQueue,
    WebhookTarget,
    bad_request,
    json_body,
    load_config,
)

WINDOW_SECONDS = 24 * 3600
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
UNREACHABLE_SUFFIX = "0000"
STOP_WORD = "СТОП"


class WaSimConfig(SimConfig):
    """The shared simulator knobs plus the WhatsApp ones (also ``HDE_SIM_*``)."""

    #: How a free-form message outside the window is refused: at once (``sync``) or as a
    #: ``failed`` status webhook after the send was accepted (``webhook``, Meta's usual way).
    window_error: Literal["sync", "webhook"] = "webhook"
    #: Share of accepted messages that later get a ``failed`` status (131026).
    failed_status_rate: float = Field(default=0.0, ge=0, le=1)
    #: Most templates the listing returns per page (servers cap the asked-for limit).
    template_page_size: int = Field(default=5, ge=1, le=1000)

    def updated(self, patch: dict[str, Any]) -> WaSimConfig:
        return type(self)(**{**self.model_dump(), **patch})


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


class WaSimulator(Simulator):
    """The WhatsApp Business world both flavours (Meta, 360dialog) serve."""

    name = "wa"
    display_phone_number = "15550100001"

    def __init__(self, config: WaSimConfig | None = None) -> None:
        super().__init__(config or load_config(WaSimConfig))
        self.config: WaSimConfig
        self.catalogue: list[dict[str, Any]] = copy.deepcopy(DEFAULT_TEMPLATES)
        self.users: dict[str, SimUser] = {}
        self.messages: dict[str, SimMessage] = {}
        self.targets: dict[str, WebhookTarget] = {}
        self.target_headers: dict[str, dict[str, str]] = {}
        self.queues: dict[str, WebhookQueue] = {}

    # -- accounts and webhooks ---------------------------------------------------------

    def metadata(self, account: str) -> dict[str, str]:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": account}

    def waba_id(self, account: str) -> str:
        return "2" + hashlib.sha256(account.encode()).hexdigest()[:14].translate(
            str.maketrans("abcdef", "123456")
        )

    def target(self, account: str) -> WebhookTarget | None:
        return self.targets.get(account) or self.targets.get("*")

    def queue(self, account: str) -> WebhookQueue:
        if account not in self.queues:
            self.queues[account] = WebhookQueue(self, lambda: self.target(account))
        return self.queues[account]

    def set_target(
        self,
        account: str,
        url: str,
        app_secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        fixed = dict(extra_headers or {})
        self.target_headers[account] = fixed

        def headers(body: bytes) -> dict[str, str]:
            if not app_secret:
                return dict(fixed)
            signature = "sha256=" + hmac_sha256_hex(app_secret, body)
            return {**fixed, "X-Hub-Signature-256": signature}

        self.targets[account] = WebhookTarget(url, headers)
        if account in self.queues:
            self.queues[account].wake()

    def envelope(self, account: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id(account),
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": self.metadata(account),
                                **value,
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }

    # -- clients ---------------------------------------------------------------------

    def user(self, wa_id: str) -> SimUser:
        wa_id = wa_id.lstrip("+")
        if wa_id not in self.users:
            pick = int(hashlib.sha256(wa_id.encode()).hexdigest(), 16) % len(CLIENT_NAMES)
            first, last = CLIENT_NAMES[pick]
            self.users[wa_id] = SimUser(
                wa_id, f"{first} {last}", reachable=not wa_id.endswith(UNREACHABLE_SUFFIX)
            )
        return self.users[wa_id]

    def window_open(self, user: SimUser, now: float) -> bool:
        return user.last_inbound_at is not None and now - user.last_inbound_at < WINDOW_SECONDS

    def client_writes(
        self,
        account: str,
        wa_id: str,
        text: str,
        *,
        name: str | None = None,
        at: float | None = None,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """A client writes to the business: opens their window, queues the inbound webhook."""
        user = self.user(wa_id)
        if name:
            user.name = name
        at = time.time() if at is None else at
        if user.last_inbound_at is None or at > user.last_inbound_at:
            user.last_inbound_at = at
        if text.strip().upper() in ("STOP", STOP_WORD):
            user.marketing_opt_out = True
        elif user.marketing_opt_out:
            user.marketing_opt_out = False  # writing again lifts it, as our side does (R15)
        payload = self.envelope(
            account,
            {
                "contacts": [{"profile": {"name": user.name}, "wa_id": user.wa_id}],
                "messages": [
                    {
                        "from": user.wa_id,
                        "id": message_id or f"wamid.{uuid.uuid4().hex}",
                        "timestamp": str(int(at)),
                        "type": "text",
                        "text": {"body": text},
                    }
                ],
            },
        )
        self.queue(account).push(payload)
        return payload

    async def chatter_once(self) -> None:
        if not self.targets or not self.users:
            return
        reachable = sorted(w for w, u in self.users.items() if u.reachable)
        if not reachable:
            return
        account = self.rng.choice(sorted(self.targets))
        wa_id = self.rng.choice(reachable)
        self.client_writes(account, wa_id, self.rng.choice(CLIENT_QUESTIONS))

    # -- sending -----------------------------------------------------------------------

    def find_template(self, name: str, language: str) -> dict[str, Any] | None:
        for t in self.catalogue:
            if t["name"] == name and t["language"] == language:
                return t
        return None

    def check_template(self, template: Any) -> dict[str, Any]:
        if not isinstance(template, dict) or not template.get("name"):
            raise Refusal(131008, "template.name is required")
        language = template.get("language") or {}
        code = language.get("code") if isinstance(language, dict) else None
        if not code:
            raise Refusal(131008, "template.language.code is required")
        found = self.find_template(str(template["name"]), str(code))
        if found is None:
            raise Refusal(132001, f"template name ({template['name']}) does not exist in {code}")
        status = found["status"]
        if status == "PAUSED":
            raise Refusal(132015)
        if status == "DISABLED":
            raise Refusal(132016)
        if status != "APPROVED":
            raise Refusal(132001, f"template {found['name']} is {status}, not approved")
        body = next((c for c in found["components"] if c["type"] == "BODY"), {"text": ""})
        fmt = found.get("parameter_format", "POSITIONAL")
        expected = list(dict.fromkeys(_PLACEHOLDER.findall(body.get("text", ""))))
        params: list[dict[str, Any]] = []
        for c in template.get("components") or []:
            if str(c.get("type", "")).lower() == "body":
                params = list(c.get("parameters") or [])
        if len(params) != len(expected):
            raise Refusal(
                132000,
                f"number of body parameters ({len(params)}) does not match the expected "
                f"number of params ({len(expected)})",
            )
        for p in params:
            if p.get("type") == "text" and not str(p.get("text") or "").strip():
                raise Refusal(131008, "a body parameter has no text")
        if fmt == "NAMED":
            given = [p.get("parameter_name") for p in params]
            if sorted(map(str, given)) != sorted(expected):
                raise Refusal(132000, f"named parameters {given} do not match {expected}")
        return found

    def check_message(self, body: Any) -> tuple[str, str, dict[str, Any] | None]:
        """The documented request checks. Returns (to, type, template) or raises Refusal."""
        if not isinstance(body, dict):
            raise Refusal(100, "the request body must be a JSON object")
        if body.get("messaging_product") != "whatsapp":
            raise Refusal(100, "messaging_product must be 'whatsapp'")
        if body.get("recipient_type", "individual") != "individual":
            raise Refusal(131009, "recipient_type must be 'individual'")
        to = str(body.get("to") or "").lstrip("+")
        if not to.isdigit() or not 8 <= len(to) <= 15:
            raise Refusal(131009, "to must be a phone number in international format")
        kind = body.get("type", "text")
        if kind == "text":
            text = (body.get("text") or {}).get("body")
            if not isinstance(text, str) or not text.strip():
                raise Refusal(131008, "text.body is required")
            if len(text) > 4096:
                raise Refusal(131009, "text.body is longer than 4096 characters")
            return to, kind, None
        if kind == "template":
            return to, kind, self.check_template(body.get("template"))
        raise Refusal(131051 if kind else 100, f"message type {kind!r} is not supported here")

    def accept(self, account: str, body: Any) -> Response:
        """``POST …/messages`` once the flavour checked auth: answer like the Cloud API."""
        try:
            to, kind, template = self.check_message(body)
        except Refusal as exc:
            return graph_error(exc.code, exc.details)
        user = self.user(to)
        now = time.time()
        fail_code: int | None = None
        if kind == "text" and not self.window_open(user, now):
            if self.config.window_error == "sync":
                return graph_error(131047)
            fail_code = 131047
        elif not user.reachable:
            fail_code = 131026
        elif template and template["category"] == "MARKETING" and user.marketing_opt_out:
            fail_code = 131050
        elif self.chance(self.config.failed_status_rate):
            fail_code = 131026
        msg = SimMessage(
            id=f"wamid.{uuid.uuid4().hex}",
            account=account,
            to=to,
            type=kind,
            body=body,
            at=now,
            category=template["category"] if template else None,
        )
        self.messages[msg.id] = msg
        self.schedule(msg, fail_code)
        answer: dict[str, Any] = {"id": msg.id}
        if kind == "template":
            answer["message_status"] = "accepted"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": str(body.get("to")), "wa_id": to}],
                "messages": [answer],
            }
        )

    def status_payload(
        self, msg: SimMessage, status: str, at: float, code: int | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": msg.id,
            "status": status,
            "timestamp": str(int(at)),
            "recipient_id": msg.to,
        }
        if status != "failed" and msg.category:
            item["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": msg.category.lower(),
                "type": "regular",
            }
        if code is not None:
            item["errors"] = [status_error(code)]
        msg.statuses.append(status)
        return self.envelope(msg.account, {"statuses": [item]})

    def schedule(self, msg: SimMessage, fail_code: int | None) -> None:
        """Status webhooks after the send, then maybe a reply from the client."""
        cfg = self.config
        step = cfg.status_delay_s
        queue = self.queue(msg.account)

        def push(status: str, n: int, code: int | None = None) -> None:
            at = msg.at + n * step
            queue.push(self.status_payload(msg, status, at, code), delay=n * step)

        if fail_code is not None:
            push("failed", 1, fail_code)
            return
        push("sent", 1)
        push("delivered", 2)
        if self.chance(cfg.read_probability):
            push("read", 3)
        if self.chance(cfg.reply_probability):
            stop = self.chance(cfg.opt_out_probability)
            text = STOP_WORD if stop else self.rng.choice(CLIENT_REPLIES)
            self.later(
                3 * step + cfg.reply_delay_s,
                lambda: self.client_writes(msg.account, msg.to, text),
            )

    # -- templates ---------------------------------------------------------------------

    def error_response(self, code: int | str, text: str | None = None) -> Response:
        return graph_error(int(code), text)

    def template_page(self, offset: int, limit: int | None) -> list[dict[str, Any]]:
        size = min(limit or self.config.template_page_size, self.config.template_page_size)
        return self.catalogue[offset : offset + max(1, size)]

    # -- control endpoints -------------------------------------------------------------

    def control_extra_routes(self) -> list[BaseRoute]:
        async def webhook(request: Request) -> Response:
            try:
                data = await json_body(request)
                url = str(data["url"])
            except (ValueError, KeyError):
                return bad_request('send {"url": …, "account"?: …, "app_secret"?: …}')
            self.set_target(str(data.get("account") or "*"), url, data.get("app_secret"))
            self.ensure_life()
            return JSONResponse({"ok": True})

        async def write(request: Request) -> Response:
            try:
                data = await json_body(request)
            except ValueError as exc:
                return bad_request(str(exc))
            wa_id = request.path_params["wa_id"].lstrip("+")
            account = str(data.get("account") or self._only_account())
            at = time.time() - float(data.get("ago_seconds") or 0)
            payload = self.client_writes(
                account,
                wa_id,
                str(data.get("text") or self.rng.choice(CLIENT_QUESTIONS)),
                name=data.get("name"),
                at=at,
                message_id=data.get("message_id"),
            )
            delivered = await self._wait_delivered(account, payload, float(data.get("wait", 10)))
            message_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
            return JSONResponse({"message_id": message_id, "delivered": delivered})

        async def user(request: Request) -> Response:
            wa_id = request.path_params["wa_id"]
            u = self.user(wa_id)
            if request.method == "POST":
                try:
                    data = await json_body(request)
                except ValueError as exc:
                    return bad_request(str(exc))
                for key in ("name", "reachable", "marketing_opt_out"):
                    if key in data:
                        setattr(u, key, data[key])
                if "last_inbound_ago_seconds" in data:
                    ago = data["last_inbound_ago_seconds"]
                    u.last_inbound_at = None if ago is None else time.time() - float(ago)
            return JSONResponse(asdict(u))

        async def users(request: Request) -> Response:
            return JSONResponse([asdict(u) for u in self.users.values()])

        async def templates(request: Request) -> Response:
            if request.method == "POST":
                try:
                    data = await json_body(request)
                    items = list(data["templates"])
                except (ValueError, KeyError, TypeError) as exc:
                    return bad_request(f'send {{"templates": [...]}}: {exc}')
                self.catalogue = copy.deepcopy(items)
            return JSONResponse(self.catalogue)

        async def template_status(request: Request) -> Response:
            found = self.find_template(request.path_params["name"], request.path_params["language"])
            if found is None:
                return JSONResponse({"error": "no such template"}, status_code=404)
            try:
                data = await json_body(request)
            except ValueError as exc:
                return bad_request(str(exc))
            if "status" in data:
                found["status"] = str(data["status"]).upper()
            return JSONResponse(found)

        async def messages(request: Request) -> Response:
            return JSONResponse([asdict(m) for m in self.messages.values()])

        async def webhooks(request: Request) -> Response:
            return JSONResponse({account: q.delivered for account, q in self.queues.items()})

        return [
            Route("/_control/webhook", webhook, methods=["POST"]),
            Route("/_control/users", users, methods=["GET"]),
            Route("/_control/users/{wa_id}/write", write, methods=["POST"]),
            Route("/_control/users/{wa_id}", user, methods=["GET", "POST"]),
            Route("/_control/templates", templates, methods=["GET", "POST"]),
            Route("/_control/templates/{name}/{language}", template_status, methods=["POST"]),
            Route("/_control/messages", messages, methods=["GET"]),
            Route("/_control/webhooks", webhooks, methods=["GET"]),
        ]

    def _only_account(self) -> str:
        named = [a for a in self.targets if a != "*"]
        return named[0] if len(named) == 1 else "*"

    async def _wait_delivered(self, account: str, payload: dict[str, Any], timeout: float) -> bool:
        """Let a control call return once our receiver has the webhook (tests stay exact)."""
        queue = self.queue(account)
        deadline = time.monotonic() + max(0.0, timeout)
        while time.monotonic() < deadline:
            if any(p is payload for p in queue.delivered):
                return True
            if self.target(account) is None:
                return False
            await asyncio.sleep(0.01)
        return False
