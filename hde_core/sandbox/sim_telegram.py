"""A Telegram Bot API simulator (``/sim/telegram/bot<token>/<method>``).

Speaks the documented protocol the adapter uses: ``getMe``, ``sendMessage``,
``setWebhook``/``deleteWebhook``/``getWebhookInfo`` and ``getUpdates``, with the
real answers and errors:

- a malformed token → 404 ``Not Found``; a revoked one → 401 ``Unauthorized``;
- ``sendMessage`` to an unknown chat or an ``@username`` of a user → 400
  ``chat not found``; to a user who never started the bot → 403 ``bot can't
  initiate conversation with a user``; to a user who blocked it → 403 ``bot was
  blocked by the user``; empty or too long text → 400;
- ``getUpdates`` while a webhook is set → 409 ``Conflict``; ``offset`` confirms updates;
- updates go, in order, to the URL registered with ``setWebhook`` carrying
  ``X-Telegram-Bot-Api-Secret-Token`` (retried when our receiver does not answer 2xx),
  or wait for ``getUpdates``.

Sandbox deviations: ``setWebhook`` accepts ``http://`` URLs and any port (the real
API wants HTTPS on 443/80/88/8443), and any well-formed token is a bot.

Control endpoints (sandbox only): ``POST /_control/users/{id}/write`` (a user sends
a message, ``/start`` by default), ``/block``, ``/unblock``, ``POST /_control/users``
(a user who exists but never started the bot), ``POST /_control/bots/{id}/revoke``,
``GET /_control/bots/{id}/sent`` (what the bot sent).
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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

_TOKEN = re.compile(r"^(\d{1,20}):([A-Za-z0-9_-]{8,})$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_TEXT = 4096
#: Ids of the simulated clients who write on their own in the demo.
DEMO_USER_IDS = tuple(700_000_001 + i for i in range(len(CLIENT_NAMES)))


def _restart_base() -> int:
    """Twenty message ids per second since 2023: a later run starts above an earlier one."""
    return (int(time.time()) - 1_700_000_000) * 20


def _ok(result: Any, description: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return JSONResponse(body)


#: Descriptions for a forced error without words of its own.
TG_ERROR_WORDS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    429: "Too Many Requests: retry after 1",
}


def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


@dataclass
class TgUser:
    id: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    phone: str | None = None
    deactivated: bool = False

    def as_user(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        data["language_code"] = "ru"
        return data

    def as_chat(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "first_name": self.first_name, "type": "private"}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class TgBot:
    id: int
    token: str
    webhook_url: str | None = None
    secret_token: str | None = None
    allowed_updates: list[str] = field(default_factory=list)
    revoked: bool = False
    started: set[int] = field(default_factory=set)
    blocked: set[int] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 100_000
    message_ids: dict[int, int] = field(default_factory=dict)
    queue: WebhookQueue | None = None

    @property
    def username(self) -> str:
        return f"hde_sandbox_{self.id}_bot"

    def as_user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": "HDE Sandbox",
            "username": self.username,
        }

    def next_message_id(self, chat_id: int) -> int:
        """Per chat and increasing, also across simulator restarts (like Telegram's), so a
        new message is never mistaken for a redelivery of an earlier demo run's one."""
        start = self.message_ids.get(chat_id) or _restart_base()
        self.message_ids[chat_id] = start + 1
        return start + 1


class TelegramSimulator(Simulator):
    name = "telegram"

    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.bots: dict[int, TgBot] = {}
        self.users: dict[int, TgUser] = {}

    # -- accounts --------------------------------------------------------------------

    def _bot(self, token: str) -> TgBot | JSONResponse:
        match = _TOKEN.match(token)
        if not match:
            return _error(404, "Not Found")
        bot_id = int(match.group(1))
        bot = self.bots.get(bot_id)
        if bot is None:
            bot = TgBot(bot_id, token)
            bot.queue = WebhookQueue(
                self, functools.partial(self._target, bot), keep_without_target=True
            )
            self.bots[bot_id] = bot
        if bot.revoked or bot.token != token:
            return _error(401, "Unauthorized")
        return bot

    def _target(self, bot: TgBot) -> WebhookTarget | None:
        if not bot.webhook_url:
            return None
        secret = bot.secret_token

        def headers(_body: bytes) -> dict[str, str]:
            return {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}

        return WebhookTarget(bot.webhook_url, headers)

    def _push(self, bot: TgBot, kind: str, obj: dict[str, Any], delay: float = 0.0) -> None:
        if bot.allowed_updates and kind not in bot.allowed_updates:
            return

        def add() -> None:
            bot.next_update_id += 1
            assert bot.queue is not None
            bot.queue.push({"update_id": bot.next_update_id, kind: obj})

        if delay > 0:
            self.later(delay, add)
        else:
            add()

    # -- what simulated users do -----------------------------------------------------

    def user_writes(
        self,
        bot: TgBot,
        user: TgUser,
        text: str,
        delay: float = 0.0,
        share_contact: bool = False,
        quoting: dict[str, Any] | None = None,
    ) -> None:
        if user.id in bot.blocked:
            self.user_blocks(bot, user, blocked=False)
        bot.started.add(user.id)
        message: dict[str, Any] = {
            "message_id": bot.next_message_id(user.id),
            "from": user.as_user(),
            "chat": user.as_chat(),
            "date": int(time.time()),
        }
        if share_contact and user.phone:
            message["contact"] = {
                "phone_number": user.phone.lstrip("+"),
                "first_name": user.first_name,
                "user_id": user.id,
            }
        else:
            message["text"] = text
            if quoting is not None:  # the client pressed "Reply" on our message
                message["reply_to_message"] = quoting
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
        self._push(bot, "message", message, delay)

    def user_blocks(
        self, bot: TgBot, user: TgUser, blocked: bool = True, delay: float = 0.0
    ) -> None:
        if blocked:
            bot.blocked.add(user.id)
        else:
            bot.blocked.discard(user.id)
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        update = {
            "chat": user.as_chat(),
            "from": user.as_user(),
            "date": int(time.time()),
            "old_chat_member": {"user": bot.as_user(), "status": old},
            "new_chat_member": {"user": bot.as_user(), "status": new}
            | ({"until_date": 0} if blocked else {}),
        }
        self._push(bot, "my_chat_member", update, delay)

    def _react(self, bot: TgBot, user: TgUser, sent: dict[str, Any] | None = None) -> None:
        """A client who got a message may answer after a while (pressing "Reply" on it now
        and then), or block the bot."""
        cfg = self.config
        if self.chance(cfg.opt_out_probability):
            self.later(cfg.reply_delay_s, lambda: self.user_blocks(bot, user))
        elif self.chance(cfg.reply_probability):
            reply = self.rng.choice(CLIENT_REPLIES)
            quoting = sent if sent is not None and self.chance(cfg.quote_probability) else None
            self.later(
                cfg.reply_delay_s, lambda: self.user_writes(bot, user, reply, quoting=quoting)
            )

    async def chatter_once(self) -> None:
        for bot in list(self.bots.values()):
            if not bot.webhook_url or bot.revoked:
                continue
            index = self.rng.randrange(len(DEMO_USER_IDS))
            user = self.users.get(DEMO_USER_IDS[index])
            if user is None:
                first, last = CLIENT_NAMES[index]
                user = TgUser(DEMO_USER_IDS[index], first, last, f"client{index + 1}")
                self.users[user.id] = user
            if user.id not in bot.started:
                self.user_writes(bot, user, "/start")
            elif user.id in bot.blocked or not self.chance(0.05):
                self.user_writes(bot, user, self.rng.choice(CLIENT_QUESTIONS))
            else:
                self.user_blocks(bot, user)

    # -- the Bot API -----------------------------------------------------------------

    def fault_response(self, fault: Fault) -> Response:
        if fault == "rate_limit":
            after = self.config.retry_after_s
            return _error(429, f"Too Many Requests: retry after {after}", retry_after=after)
        return _error(500, "Internal Server Error")

    def error_response(self, code: int | str, text: str | None = None) -> Response:
        status = int(code)
        description = text or TG_ERROR_WORDS.get(status, "Error")
        if status == 429:
            return _error(status, description, retry_after=self.config.retry_after_s)
        return _error(status, description)

    def api_routes(self) -> list[BaseRoute]:
        return [Route("/bot{token}/{method}", self.method, methods=["GET", "POST"])]

    async def method(self, request: Request) -> Response:
        body = await self.record(request)
        params: dict[str, Any] = dict(request.query_params)
        if isinstance(body, dict):
            params.update(body)
        found = self._bot(request.path_params["token"])
        if isinstance(found, JSONResponse):
            return found
        bot = found
        handler = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "getUpdates": self.get_updates,
        }.get(request.path_params["method"])
        if handler is None:
            return _error(404, "Not Found")
        fault = await self.faults(str(bot.id))
        if fault is not None:
            return fault
        return await handler(bot, params)

    async def get_me(self, bot: TgBot, params: dict[str, Any]) -> Response:
        return _ok(bot.as_user() | {"can_join_groups": True, "supports_inline_queries": False})

    async def send_message(self, bot: TgBot, params: dict[str, Any]) -> Response:
        chat_id = params.get("chat_id")
        text = params.get("text")
        if chat_id in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        try:
            user = self.users.get(int(chat_id))
        except (TypeError, ValueError):
            user = None  # "@username" names channels; users cannot be reached by username
        if user is None:
            return _error(400, "Bad Request: chat not found")
        if user.deactivated:
            return _error(403, "Forbidden: user is deactivated")
        if user.id in bot.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if user.id not in bot.started:
            return _error(403, "Forbidden: bot can't initiate conversation with a user")
        message = {
            "message_id": bot.next_message_id(user.id),
            "from": bot.as_user(),
            "chat": user.as_chat(),
            "date": int(time.time()),
            "text": text,
        }
        bot.sent.append(message)
        self._react(bot, user, message)
        return _ok(message)

    async def set_webhook(self, bot: TgBot, params: dict[str, Any]) -> Response:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if url and not re.match(r"^https?://[^\s/]+", url):
            return _error(400, "Bad Request: bad webhook: invalid URL")
        if secret is not None and not _SECRET.match(str(secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates") or []
        if isinstance(allowed, str):
            allowed = [a.strip(' "[]') for a in allowed.split(",") if a.strip(' "[]')]
        assert bot.queue is not None
        if params.get("drop_pending_updates") in (True, "true"):
            bot.queue.items.clear()
        if not url:
            return await self.delete_webhook(bot, params)
        bot.webhook_url, bot.secret_token = url, (str(secret) if secret else None)
        bot.allowed_updates = list(allowed)
        bot.queue.wake()
        self.ensure_life()
        return _ok(True, "Webhook was set")

    async def delete_webhook(self, bot: TgBot, params: dict[str, Any]) -> Response:
        assert bot.queue is not None
        if params.get("drop_pending_updates") in (True, "true"):
            bot.queue.items.clear()
        had = bot.webhook_url is not None
        bot.webhook_url = bot.secret_token = None
        return _ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def get_webhook_info(self, bot: TgBot, params: dict[str, Any]) -> Response:
        assert bot.queue is not None
        info: dict[str, Any] = {
            "url": bot.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.queue.items),
        }
        if bot.allowed_updates:
            info["allowed_updates"] = bot.allowed_updates
        return _ok(info)

    async def get_updates(self, bot: TgBot, params: dict[str, Any]) -> Response:
        if bot.webhook_url:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        assert bot.queue is not None
        items = bot.queue.items
        try:
            offset = int(params.get("offset") or 0)
            limit = max(1, min(100, int(params.get("limit") or 100)))
            timeout = max(0.0, min(50.0, float(params.get("timeout") or 0)))
        except (TypeError, ValueError):
            return _error(400, "Bad Request: wrong parameter value")
        while offset > 0 and items and items[0].payload["update_id"] < offset:
            items.popleft()  # confirmed
        deadline = time.monotonic() + timeout
        while not items and time.monotonic() < deadline and not bot.webhook_url:
            await asyncio.sleep(0.05)
        return _ok([item.payload for item in list(items)[:limit]])

    # -- control ---------------------------------------------------------------------

    def control_extra_routes(self) -> list[BaseRoute]:
        return [
            Route("/_control/users", self.c_user, methods=["POST"]),
            Route("/_control/users/{user_id:int}/{action}", self.c_user_action, methods=["POST"]),
            Route("/_control/bots/{bot_id:int}/revoke", self.c_revoke, methods=["POST"]),
            Route("/_control/bots/{bot_id:int}/sent", self.c_sent, methods=["GET"]),
        ]

    def _control_bot(self, data: dict[str, Any]) -> TgBot | Response:
        if data.get("bot_id") is not None:
            bot = self.bots.get(int(data["bot_id"]))
            return bot if bot else JSONResponse({"error": "no such bot"}, status_code=404)
        if len(self.bots) == 1:
            return next(iter(self.bots.values()))
        if not self.bots:
            return JSONResponse({"error": "no bot yet: call the API first"}, status_code=404)
        return bad_request("several bots: give bot_id")

    def _user(self, user_id: int, data: dict[str, Any]) -> TgUser:
        user = self.users.get(user_id)
        if user is None:
            user = TgUser(user_id, str(data.get("first_name") or f"User {user_id}"))
            self.users[user_id] = user
        for key in ("first_name", "last_name", "username", "phone", "deactivated"):
            if key in data:
                setattr(user, key, data[key])
        return user

    async def c_user(self, request: Request) -> Response:
        try:
            data = await json_body(request)
            user = self._user(int(data["id"]), data)
        except (ValueError, KeyError, TypeError) as exc:
            return bad_request(f"give a numeric id: {exc}")
        return JSONResponse(user.__dict__)

    async def c_user_action(self, request: Request) -> Response:
        try:
            data = await json_body(request)
        except ValueError as exc:
            return bad_request(str(exc))
        bot = self._control_bot(data)
        if isinstance(bot, Response):
            return bot
        user = self._user(request.path_params["user_id"], data)
        action = request.path_params["action"]
        if action == "write":
            self.user_writes(
                bot,
                user,
                str(data.get("text") or "/start"),
                share_contact=bool(data.get("share_contact")),
            )
        elif action in ("block", "unblock"):
            self.user_blocks(bot, user, blocked=action == "block")
        else:
            return JSONResponse({"error": "unknown action"}, status_code=404)
        return JSONResponse({"ok": True, "bot_id": bot.id, "user_id": user.id})

    async def c_revoke(self, request: Request) -> Response:
        bot = self.bots.get(request.path_params["bot_id"])
        if bot is None:
            return JSONResponse({"error": "no such bot"}, status_code=404)
        bot.revoked = bool((await json_body(request)).get("revoked", True))
        return JSONResponse({"ok": True, "revoked": bot.revoked})

    async def c_sent(self, request: Request) -> Response:
        bot = self.bots.get(request.path_params["bot_id"])
        return JSONResponse(bot.sent if bot else [])


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI app mounted at ``/sim/telegram``."""
    return TelegramSimulator().asgi()
