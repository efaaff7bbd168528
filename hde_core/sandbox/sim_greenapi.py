"""A Green-API simulator (``/sim/greenapi/waInstance{id}/{method}/{token}``).

Speaks what the adapter uses — ``sendMessage``, ``getStateInstance``,
``setSettings``/``getSettings`` — with Green-API's answers:

- credentials in the path: the first token used with an instance binds to it; a
  different or revoked token → 401; an unknown method → 404;
- ``sendMessage`` checks ``chatId`` (``<11–16 digits>@c.us``, ``@g.us``, ``@lid``) and
  ``message`` (1–20000 characters) → 400 ``Validation failed. Details: …``; answers
  ``{"idMessage": …}``. A number without WhatsApp gets the ``noAccount`` status;
  while the instance is not authorised, messages wait in its queue (as Green-API
  keeps them for 24 hours) and go out when it is authorised again;
- notifications go to the ``webhookUrl`` set with ``setSettings``, with
  ``Authorization: Bearer <webhookUrlToken>``, honouring ``incomingWebhook``,
  ``outgoingWebhook`` and ``stateWebhook``; failed deliveries are retried.

Simulated clients read messages (``sent`` → ``delivered`` → ``read``), sometimes
answer, and sometimes write "СТОП".

Control endpoints: ``POST /_control/contacts/{phone}/write``, ``POST /_control/contacts``
(``whatsapp: false`` → no account), ``POST /_control/instances/{id}/state``,
``POST /_control/instances/{id}/revoke``, ``GET /_control/instances/{id}/sent``.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.config import Settings
from hde_core.sandbox.sim_common import (
    CLIENT_NAMES,
    CLIENT_QUESTIONS,
    CLIENT_REPLIES,
    Fault,
    SimConfig,
    Simulator,
    WebhookQueue,
    WebhookTarget,
    bad_request,
    json_body,
)

_CHAT_ID = re.compile(r"^(\d{11,16}@c\.us|\d{6,40}(-\d+)?@g\.us|\d{6,40}@lid)$")
MAX_TEXT = 20_000
STATES = frozenset(
    {"authorized", "notAuthorized", "blocked", "sleepMode", "starting", "yellowCard"}
)
YES_NO_SETTINGS = frozenset(
    {
        "incomingWebhook",
        "outgoingWebhook",
        "outgoingMessageWebhook",
        "outgoingAPIMessageWebhook",
        "stateWebhook",
        "deviceWebhook",
        "incomingCallWebhook",
        "pollMessageWebhook",
        "markIncomingMessagesReaded",
        "markIncomingMessagesReadedOnReply",
        "keepOnlineStatus",
    }
)
#: Phone numbers of the demo's simulated clients.
DEMO_PHONES = tuple(f"7912555{1001 + i:04d}" for i in range(len(CLIENT_NAMES)))


def _validation(detail: str) -> PlainTextResponse:
    return PlainTextResponse(f"Validation failed. Details: {detail}", status_code=400)


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


#: Words for a forced error without words of its own.
GREEN_ERROR_WORDS = {
    400: "Validation failed",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    466: "Correspondents quota exceeded",
}


@dataclass
class Instance:
    id: int
    token: str
    state: str = "authorized"
    revoked: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)  # sent while not authorised
    queue: WebhookQueue | None = None

    @property
    def wid(self) -> str:
        return f"7900{self.id % 10_000_000:07d}@c.us"

    def data(self) -> dict[str, Any]:
        return {"idInstance": self.id, "wid": self.wid, "typeInstance": "whatsapp"}

    def on(self, setting: str) -> bool:
        return self.settings.get(setting) == "yes"


class GreenApiSimulator(Simulator):
    name = "greenapi"

    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.instances: dict[int, Instance] = {}
        self.no_account: set[str] = set()  # digits of numbers without WhatsApp
        self.names: dict[str, str] = {}

    def _message_id(self) -> str:
        return "".join(self.rng.choice("0123456789ABCDEF") for _ in range(20))

    def _instance(self, raw_id: str, token: str) -> Instance | None:
        if not raw_id.isdigit():
            return None
        inst = self.instances.get(int(raw_id))
        if inst is None:
            inst = Instance(int(raw_id), token)
            inst.queue = WebhookQueue(self, functools.partial(self._target, inst))
            self.instances[inst.id] = inst
        return None if inst.revoked or inst.token != token else inst

    def _target(self, inst: Instance) -> WebhookTarget | None:
        url = inst.settings.get("webhookUrl")
        if not url:
            return None
        token = inst.settings.get("webhookUrlToken")
        return WebhookTarget(
            str(url), lambda _body: {"Authorization": f"Bearer {token}"} if token else {}
        )

    def _notify(
        self, inst: Instance, setting: str, payload: dict[str, Any], delay: float = 0.0
    ) -> None:
        if not inst.on(setting):
            return
        assert inst.queue is not None
        inst.queue.push(
            {"instanceData": inst.data(), "timestamp": int(time.time()), **payload}, delay
        )

    # -- what simulated clients do ---------------------------------------------------

    def client_writes(
        self,
        inst: Instance,
        phone: str,
        text: str,
        delay: float = 0.0,
        quoted: dict[str, Any] | None = None,
    ) -> None:
        chat = f"{_digits(phone)}@c.us"
        name = self.names.get(_digits(phone), "")
        data: dict[str, Any] = {
            "typeMessage": "textMessage",
            "textMessageData": {"textMessage": text},
        }
        if quoted is not None:  # the client answered quoting our message
            data["quotedMessage"] = {
                "stanzaId": quoted["idMessage"],
                "participant": chat,
                "typeMessage": "textMessage",
                "textMessage": str(quoted.get("message") or ""),
            }
        self._notify(
            inst,
            "incomingWebhook",
            {
                "typeWebhook": "incomingMessageReceived",
                "idMessage": self._message_id(),
                "senderData": {
                    "chatId": chat,
                    "chatName": name,
                    "sender": chat,
                    "senderName": name,
                    "senderContactName": "",
                },
                "messageData": data,
            },
            delay,
        )

    def _status(
        self, inst: Instance, chat: str, id_message: str, status: str, delay: float
    ) -> None:
        self._notify(
            inst,
            "outgoingWebhook",
            {
                "typeWebhook": "outgoingMessageStatus",
                "chatId": chat,
                "idMessage": id_message,
                "status": status,
                "sendByApi": True,
            },
            delay,
        )

    def _deliver(self, inst: Instance, message: dict[str, Any]) -> None:
        """The phone sends a queued message: statuses, and maybe the client's answer."""
        cfg, chat, id_message = self.config, message["chatId"], message["idMessage"]
        digits = chat.split("@", 1)[0]
        if digits in self.no_account:
            self._status(inst, chat, id_message, "noAccount", cfg.status_delay_s / 2)
            return
        self._status(inst, chat, id_message, "sent", cfg.status_delay_s / 2)
        self._status(inst, chat, id_message, "delivered", cfg.status_delay_s)
        if self.chance(cfg.read_probability):
            self._status(inst, chat, id_message, "read", 2 * cfg.status_delay_s)
        if self.chance(cfg.opt_out_probability):
            self.client_writes(inst, digits, "СТОП", cfg.reply_delay_s)
        elif self.chance(cfg.reply_probability):
            quoted = message if self.chance(cfg.quote_probability) else None
            text = self.rng.choice(CLIENT_REPLIES)
            self.client_writes(inst, digits, text, cfg.reply_delay_s, quoted=quoted)

    def set_state(self, inst: Instance, state: str) -> None:
        if state == inst.state:
            return
        inst.state = state
        self._notify(
            inst, "stateWebhook", {"typeWebhook": "stateInstanceChanged", "stateInstance": state}
        )
        if state == "authorized":
            waiting, inst.waiting = inst.waiting, []
            for message in waiting:
                self._deliver(inst, message)

    async def chatter_once(self) -> None:
        for inst in list(self.instances.values()):
            if not inst.settings.get("webhookUrl") or inst.state != "authorized":
                continue
            index = self.rng.randrange(len(DEMO_PHONES))
            self.names.setdefault(DEMO_PHONES[index], " ".join(CLIENT_NAMES[index]))
            self.client_writes(inst, DEMO_PHONES[index], self.rng.choice(CLIENT_QUESTIONS))

    # -- the Green-API HTTP API ------------------------------------------------------

    def fault_response(self, fault: Fault) -> Response:
        if fault == "rate_limit":
            return PlainTextResponse("Too Many Requests", status_code=429)
        return PlainTextResponse("Internal Server Error", status_code=500)

    def error_response(self, code: int | str, text: str | None = None) -> Response:
        """Green-API's errors are HTTP statuses with a few words."""
        return PlainTextResponse(text or GREEN_ERROR_WORDS.get(int(code), "Error"), int(code))

    def api_routes(self) -> list[BaseRoute]:
        return [
            Route("/waInstance{instance}/{method}/{token}", self.method, methods=["GET", "POST"])
        ]

    async def method(self, request: Request) -> Response:
        body = await self.record(request)
        handler = {
            ("GET", "getStateInstance"): self.get_state,
            ("GET", "getSettings"): self.get_settings,
            ("POST", "setSettings"): self.set_settings,
            ("POST", "sendMessage"): self.send_message,
        }.get((request.method, request.path_params["method"]))
        inst = self._instance(request.path_params["instance"], request.path_params["token"])
        if inst is None:
            return PlainTextResponse("Unauthorized", status_code=401)
        if handler is None:
            return PlainTextResponse("Not Found", status_code=404)
        fault = await self.faults(str(inst.id))
        if fault is not None:
            return fault
        if request.method == "POST" and not isinstance(body, dict):
            return _validation("request body must be a JSON object")
        return await handler(inst, body if isinstance(body, dict) else {})

    async def get_state(self, inst: Instance, params: dict[str, Any]) -> Response:
        return JSONResponse({"stateInstance": inst.state})

    async def get_settings(self, inst: Instance, params: dict[str, Any]) -> Response:
        return JSONResponse({"wid": inst.wid, **inst.settings})

    async def set_settings(self, inst: Instance, params: dict[str, Any]) -> Response:
        for key, value in params.items():
            if key in YES_NO_SETTINGS and value not in ("yes", "no"):
                return _validation(f"'{key}' must be one of [yes, no]")
            if key == "delaySendMessagesMilliseconds" and not (
                isinstance(value, int) and 500 <= value <= 600_000
            ):
                return _validation("'delaySendMessagesMilliseconds' must be from 500 to 600000")
            if key in ("webhookUrl", "webhookUrlToken") and not isinstance(value, str):
                return _validation(f"'{key}' must be a string")
        inst.settings.update(params)
        if inst.queue is not None:
            inst.queue.wake()
        self.ensure_life()
        return JSONResponse({"saveSettings": True})

    async def send_message(self, inst: Instance, params: dict[str, Any]) -> Response:
        chat, text = params.get("chatId"), params.get("message")
        if not isinstance(chat, str) or not chat:
            return _validation("'chatId' is required")
        if not _CHAT_ID.match(chat):
            return _validation("'chatId' must be like 79001234567@c.us")
        if not isinstance(text, str) or not text:
            return _validation("'message' is required")
        if len(text) > MAX_TEXT:
            return _validation(
                "'message' length must be less than or equal to 20000 characters long"
            )
        message = {"chatId": chat, "message": text, "idMessage": self._message_id()}
        inst.sent.append(message)
        if inst.state == "authorized":
            self._deliver(inst, message)
        else:
            inst.waiting.append(message)
        return JSONResponse({"idMessage": message["idMessage"]})

    # -- control ---------------------------------------------------------------------

    def control_extra_routes(self) -> list[BaseRoute]:
        return [
            Route("/_control/contacts", self.c_contact, methods=["POST"]),
            Route("/_control/contacts/{phone}/write", self.c_write, methods=["POST"]),
            Route("/_control/instances/{id:int}/state", self.c_state, methods=["POST"]),
            Route("/_control/instances/{id:int}/revoke", self.c_revoke, methods=["POST"]),
            Route("/_control/instances/{id:int}/sent", self.c_sent, methods=["GET"]),
        ]

    async def c_contact(self, request: Request) -> Response:
        try:
            data = await json_body(request)
            digits = _digits(str(data["phone"]))
        except (ValueError, KeyError) as exc:
            return bad_request(f"give a phone: {exc}")
        if data.get("whatsapp", True):
            self.no_account.discard(digits)
        else:
            self.no_account.add(digits)
        if data.get("name"):
            self.names[digits] = str(data["name"])
        return JSONResponse({"phone": digits, "whatsapp": digits not in self.no_account})

    async def c_write(self, request: Request) -> Response:
        try:
            data = await json_body(request)
        except ValueError as exc:
            return bad_request(str(exc))
        candidates = [i for i in self.instances.values() if not i.revoked]
        if data.get("instance") is not None:
            candidates = [i for i in candidates if i.id == int(data["instance"])]
        if len(candidates) != 1:
            return bad_request("give 'instance': the id of the instance to write to")
        digits = _digits(request.path_params["phone"])
        if data.get("name"):
            self.names[digits] = str(data["name"])
        self.client_writes(candidates[0], digits, str(data.get("text") or "Здравствуйте!"))
        return JSONResponse({"ok": True, "instance": candidates[0].id, "chatId": f"{digits}@c.us"})

    async def c_state(self, request: Request) -> Response:
        inst = self.instances.get(request.path_params["id"])
        state = str((await json_body(request)).get("state", ""))
        if inst is None or state not in STATES:
            return bad_request(f"known instance and one of {sorted(STATES)} expected")
        self.set_state(inst, state)
        return JSONResponse({"stateInstance": inst.state})

    async def c_revoke(self, request: Request) -> Response:
        inst = self.instances.get(request.path_params["id"])
        if inst is None:
            return JSONResponse({"error": "no such instance"}, status_code=404)
        inst.revoked = bool((await json_body(request)).get("revoked", True))
        return JSONResponse({"ok": True, "revoked": inst.revoked})

    async def c_sent(self, request: Request) -> Response:
        inst = self.instances.get(request.path_params["id"])
        return JSONResponse(inst.sent if inst else [])


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI app mounted at ``/sim/greenapi``."""
    return GreenApiSimulator().asgi()
