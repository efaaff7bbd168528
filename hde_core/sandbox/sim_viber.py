"""A Viber REST bot API simulator (``/sim/viber/<method>``).

Speaks what the adapter uses — ``set_webhook``, ``send_message``,
``get_account_info`` — with Viber's answers: HTTP 200 with ``status`` (0 ok, 2
invalidAuthToken, 3 badData, 4 missingData, 5 receiverNotRegistered, 6
receiverNotSubscribed, 10 webhookNotSet, 12 tooManyRequests).

- The auth token comes from ``X-Viber-Auth-Token`` (or ``auth_token`` in the body, as
  older clients send it); any well-formed token is a bot until it is revoked.
- ``set_webhook`` first POSTs the ``webhook`` check event to the URL and fails with
  status 1 (invalidUrl) unless our receiver answers 200, as Viber does.
- Callbacks (``message``, ``subscribed``, ``unsubscribed``, ``conversation_started``,
  ``delivered``, ``seen``, ``failed``) are signed with ``X-Viber-Content-Signature``
  (hex HMAC-SHA256 of the body keyed with the auth token) and filtered by the
  ``event_types`` given to ``set_webhook``.
- A user who writes to the bot becomes subscribed; only subscribed users can be
  messaged. After our message: ``delivered``, then ``seen``; the simulated client
  may reply (with our ``tracking_data``) or unsubscribe.

Sandbox deviation: ``http://`` webhook URLs are accepted (Viber requires HTTPS with
a trusted certificate).

Control endpoints: ``POST /_control/users/{id}/write|open|subscribe|unsubscribe``,
``POST /_control/users`` (``registered: false`` → not a Viber user),
``POST /_control/bots/{account id}/revoke``, ``GET /_control/bots/{account id}/sent``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.channels.base import hmac_sha256_hex
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
    post_webhook,
)

_TOKEN = re.compile(r"^[A-Za-z0-9-]{16,100}$")
KNOWN_EVENTS = frozenset(
    {"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}
)
ALWAYS_SENT = frozenset({"message", "webhook"})
MAX_TEXT = 7000
MAX_SENDER_NAME = 28
CHAT_HOSTNAME = "SN-CHAT-05_"

STATUS_MESSAGES = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    10: "webhookNotSet",
    12: "tooManyRequests",
}


def _status(code: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": code, "status_message": STATUS_MESSAGES[code], **extra})


def demo_user_id(index: int) -> str:
    """A Viber-looking user id (base64 of 16 bytes) for the demo's simulated clients."""
    digest = hashlib.md5(f"viber-demo-{index}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


@dataclass
class ViberUser:
    id: str
    name: str
    registered: bool = True

    def as_user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "language": "ru",
            "country": "RU",
            "api_version": 10,
        }


@dataclass
class ViberBot:
    token: str
    id: str
    name: str = "HDE Sandbox"
    webhook_url: str | None = None
    event_types: list[str] = field(default_factory=list)
    revoked: bool = False
    subscribed: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    queue: WebhookQueue | None = None

    def wants(self, event: str) -> bool:
        return event in ALWAYS_SENT or not self.event_types or event in self.event_types


class ViberSimulator(Simulator):
    name = "viber"

    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.bots: dict[str, ViberBot] = {}  # by token
        self.users: dict[str, ViberUser] = {}

    def _token(self) -> int:
        return self.rng.randrange(10**18, 9 * 10**18)

    def _bot(self, token: str | None) -> ViberBot | None:
        if not token or not _TOKEN.match(token):
            return None
        bot = self.bots.get(token)
        if bot is None:
            account = int(hashlib.sha256(token.encode()).hexdigest()[:12], 16)
            bot = ViberBot(token, f"pa:{account}")
            bot.queue = WebhookQueue(self, functools.partial(self._target, bot))
            self.bots[token] = bot
        return None if bot.revoked else bot

    def _target(self, bot: ViberBot) -> WebhookTarget | None:
        if not bot.webhook_url:
            return None
        return WebhookTarget(
            bot.webhook_url,
            lambda body: {"X-Viber-Content-Signature": hmac_sha256_hex(bot.token, body)},
        )

    def _callback(self, bot: ViberBot, event: str, delay: float = 0.0, **data: Any) -> None:
        if not bot.wants(event):
            return
        payload = {
            "event": event,
            "timestamp": int(time.time() * 1000),
            "chat_hostname": CHAT_HOSTNAME,
            "message_token": data.pop("message_token", None) or self._token(),
            **data,
        }
        assert bot.queue is not None
        bot.queue.push(payload, delay)

    # -- what simulated users do -----------------------------------------------------

    def user_writes(
        self, bot: ViberBot, user: ViberUser, text: str, tracking: str | None = None
    ) -> None:
        bot.subscribed.add(user.id)  # writing to a bot subscribes the user
        message: dict[str, Any] = {"type": "text", "text": text}
        if tracking:
            message["tracking_data"] = tracking
        self._callback(bot, "message", sender=user.as_user(), message=message, silent=False)

    def user_opens(self, bot: ViberBot, user: ViberUser) -> None:
        self._callback(
            bot,
            "conversation_started",
            type="open",
            context="",
            user=user.as_user(),
            subscribed=user.id in bot.subscribed,
        )

    def user_subscribes(self, bot: ViberBot, user: ViberUser, subscribed: bool = True) -> None:
        if subscribed:
            bot.subscribed.add(user.id)
            self._callback(bot, "subscribed", user=user.as_user())
        else:
            bot.subscribed.discard(user.id)
            self._callback(bot, "unsubscribed", user_id=user.id)

    def _react(self, bot: ViberBot, user: ViberUser, token: int, tracking: str | None) -> None:
        cfg = self.config
        self._callback(bot, "delivered", cfg.status_delay_s, message_token=token, user_id=user.id)
        if self.chance(cfg.read_probability):
            self._callback(
                bot, "seen", 2 * cfg.status_delay_s, message_token=token, user_id=user.id
            )
        if self.chance(cfg.opt_out_probability):
            self.later(cfg.reply_delay_s, lambda: self.user_subscribes(bot, user, False))
        elif self.chance(cfg.reply_probability):
            reply = self.rng.choice(CLIENT_REPLIES)
            self.later(cfg.reply_delay_s, lambda: self.user_writes(bot, user, reply, tracking))

    async def chatter_once(self) -> None:
        for bot in list(self.bots.values()):
            if not bot.webhook_url or bot.revoked:
                continue
            index = self.rng.randrange(len(CLIENT_NAMES))
            uid = demo_user_id(index)
            user = self.users.setdefault(uid, ViberUser(uid, " ".join(CLIENT_NAMES[index])))
            if uid not in bot.subscribed:
                self.user_opens(bot, user)
                self.user_writes(bot, user, self.rng.choice(CLIENT_QUESTIONS))
            elif self.chance(0.05):
                self.user_subscribes(bot, user, False)
            else:
                self.user_writes(bot, user, self.rng.choice(CLIENT_QUESTIONS))

    # -- the REST bot API ------------------------------------------------------------

    def fault_response(self, fault: Fault) -> Response:
        if fault == "rate_limit":
            return _status(12)
        return PlainTextResponse("Service Unavailable", status_code=503)

    def error_response(self, code: int | str, text: str | None = None) -> Response:
        """Viber answers HTTP 200 with the error in ``status`` (429 is the HTTP limit)."""
        status = int(code)
        if status == 429:
            return PlainTextResponse("Too Many Requests", status_code=429)
        message = text or STATUS_MESSAGES.get(status, "generalError")
        return JSONResponse({"status": status, "status_message": message})

    def api_routes(self) -> list[BaseRoute]:
        return [Route("/{method}", self.method, methods=["POST"])]

    async def method(self, request: Request) -> Response:
        body = await self.record(request)
        params = body if isinstance(body, dict) else {}
        handler = {
            "set_webhook": self.set_webhook,
            "send_message": self.send_message,
            "get_account_info": self.get_account_info,
        }.get(request.path_params["method"])
        if handler is None:
            return PlainTextResponse("Not Found", status_code=404)
        if not isinstance(body, dict):
            return _status(3)
        bot = self._bot(request.headers.get("x-viber-auth-token") or params.get("auth_token"))
        if bot is None:
            return _status(2)
        fault = await self.faults(bot.id)
        if fault is not None:
            return fault
        return await handler(bot, params)

    async def set_webhook(self, bot: ViberBot, params: dict[str, Any]) -> Response:
        if "url" not in params:
            return _status(4)
        url = str(params.get("url") or "")
        if not url:
            bot.webhook_url = None
            return _status(0)
        if not re.match(r"^https?://[^\s/]+", url):
            return _status(1)
        events = params.get("event_types")
        if events is not None and (
            not isinstance(events, list) or any(e not in KNOWN_EVENTS for e in events)
        ):
            return _status(3)
        check = WebhookTarget(
            url, lambda body: {"X-Viber-Content-Signature": hmac_sha256_hex(bot.token, body)}
        )
        probe = {
            "event": "webhook",
            "timestamp": int(time.time() * 1000),
            "chat_hostname": CHAT_HOSTNAME,
            "message_token": self._token(),
        }
        if not await post_webhook(check, probe):
            return _status(1)
        bot.webhook_url, bot.event_types = url, list(events or [])
        assert bot.queue is not None
        bot.queue.wake()
        self.ensure_life()
        return _status(0, chat_hostname=CHAT_HOSTNAME, event_types=sorted(KNOWN_EVENTS))

    async def send_message(self, bot: ViberBot, params: dict[str, Any]) -> Response:
        if not bot.webhook_url:
            return _status(10)
        sender = params.get("sender")
        if not params.get("receiver") or not params.get("type") or not isinstance(sender, dict):
            return _status(4)
        if not sender.get("name") or len(str(sender["name"])) > MAX_SENDER_NAME:
            return _status(3)
        text = params.get("text")
        if (
            params["type"] != "text"
            or not isinstance(text, str)
            or not text
            or len(text) > MAX_TEXT
        ):
            return _status(3)
        user = self.users.get(str(params["receiver"]))
        if user is None or not user.registered:
            return _status(5)
        if user.id not in bot.subscribed:
            return _status(6)
        token = self._token()
        tracking = params.get("tracking_data")
        bot.sent.append(
            {"receiver": user.id, "text": text, "message_token": token, "tracking_data": tracking}
        )
        self._react(bot, user, token, str(tracking) if tracking else None)
        return _status(0, message_token=token, chat_hostname=CHAT_HOSTNAME, billing_status=1)

    async def get_account_info(self, bot: ViberBot, params: dict[str, Any]) -> Response:
        return _status(
            0,
            id=bot.id,
            name=bot.name,
            uri="hdesandbox",
            category="Companies",
            subcategory="Customer service",
            country="RU",
            webhook=bot.webhook_url or "",
            event_types=bot.event_types or sorted(KNOWN_EVENTS),
            subscribers_count=len(bot.subscribed),
            members=[{"id": "01234567890A=", "name": "Admin", "role": "admin"}],
        )

    # -- control ---------------------------------------------------------------------

    def control_extra_routes(self) -> list[BaseRoute]:
        return [
            Route("/_control/users", self.c_user, methods=["POST"]),
            *(
                Route(
                    f"/_control/users/{{user_id:path}}/{action}",
                    self.c_action(action),
                    methods=["POST"],
                )
                for action in ("write", "open", "subscribe", "unsubscribe")
            ),
            Route("/_control/bots/{bot_id}/revoke", self.c_revoke, methods=["POST"]),
            Route("/_control/bots/{bot_id}/sent", self.c_sent, methods=["GET"]),
        ]

    def _by_id(self, bot_id: str) -> ViberBot | None:
        return next((b for b in self.bots.values() if b.id == bot_id), None)

    def _user(self, user_id: str, data: dict[str, Any]) -> ViberUser:
        user = self.users.get(user_id)
        if user is None:
            user = ViberUser(user_id, str(data.get("name") or "Viber user"))
            self.users[user_id] = user
        if "name" in data:
            user.name = str(data["name"])
        if "registered" in data:
            user.registered = bool(data["registered"])
        return user

    async def c_user(self, request: Request) -> Response:
        try:
            data = await json_body(request)
            user = self._user(str(data["id"]), data)
        except (ValueError, KeyError) as exc:
            return bad_request(f"give an id: {exc}")
        return JSONResponse(user.__dict__)

    def c_action(self, action: str) -> Any:
        async def handle(request: Request) -> Response:
            try:
                data = await json_body(request)
            except ValueError as exc:
                return bad_request(str(exc))
            bots = [b for b in self.bots.values() if not b.revoked]
            if data.get("bot_id"):
                bots = [b for b in bots if b.id == data["bot_id"]]
            if len(bots) != 1:
                return bad_request("give bot_id of the one bot to write to (or register a webhook)")
            bot, user = bots[0], self._user(request.path_params["user_id"], data)
            if action == "write":
                self.user_writes(bot, user, str(data.get("text") or "Здравствуйте!"))
            elif action == "open":
                self.user_opens(bot, user)
            else:
                self.user_subscribes(bot, user, action == "subscribe")
            return JSONResponse({"ok": True, "bot_id": bot.id, "user_id": user.id})

        return handle

    async def c_revoke(self, request: Request) -> Response:
        bot = self._by_id(request.path_params["bot_id"])
        if bot is None:
            return JSONResponse({"error": "no such bot"}, status_code=404)
        bot.revoked = bool((await json_body(request)).get("revoked", True))
        return JSONResponse({"ok": True, "revoked": bot.revoked})

    async def c_sent(self, request: Request) -> Response:
        bot = self._by_id(request.path_params["bot_id"])
        return JSONResponse(bot.sent if bot else [])


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI app mounted at ``/sim/viber``."""
    return ViberSimulator().asgi()
