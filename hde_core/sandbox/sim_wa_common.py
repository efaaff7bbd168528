"""What the Meta Cloud API and 360dialog simulators share: the WhatsApp side of the world.

Both providers take the same message bodies and send the same webhooks, so one
:class:`WaSimulator` (on :class:`~hde_core.sandbox.sim_common.Simulator`) keeps

- a **template catalogue** (defaults and Graph error words in :mod:`.sim_wa_data`) with statuses (APPROVED, PENDING, REJECTED, PAUSED,
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
import copy
import hashlib
import re
import time
import uuid
from dataclasses import asdict
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
from hde_core.sandbox.sim_wa_data import (
    DEFAULT_TEMPLATES,
    Refusal,
    SimMessage,
    SimUser,
    graph_error,
    status_error,
)

WINDOW_SECONDS = 24 * 3600
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_PARAM_FORBIDDEN = re.compile(r"[\r\n\t]| {5,}")
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
        context: str | None = None,
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
                        # a reply to one of our messages names it (Cloud API ``context``)
                        **(
                            {"context": {"from": self.display_phone_number, "id": context}}
                            if context
                            else {}
                        ),
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
            if p.get("type") == "text" and _PARAM_FORBIDDEN.search(str(p.get("text"))):
                raise Refusal(
                    132018,
                    "Param text cannot have new-line/tab characters or more than 4 "
                    "consecutive spaces",
                )
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
            context = msg.id if not stop and self.chance(cfg.quote_probability) else None
            self.later(
                3 * step + cfg.reply_delay_s,
                lambda: self.client_writes(msg.account, msg.to, text, context=context),
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
