"""What every provider simulator shares (SPEC §8).

A simulator is one ASGI app per provider, mounted at ``/sim/<name>`` by
:mod:`hde_core.sandbox.server`. It speaks the provider's documented protocol so
the real adapters run unchanged against it, and it adds what a sandbox needs:

- **faults**: configurable latency, a failure rate (5xx answers), a rate limit
  (the provider's own "too many requests" answer) and "fail the next N calls";
- **webhooks**: a per-account FIFO that POSTs events, in order and with retries,
  to the URL our code registered through the provider's real registration call,
  signed the way the provider signs them;
- **simulated clients**: they reply after a delay, sometimes opt out, and now and
  then write on their own (``chatter_interval_s``), so the demo is a living system;
- **control endpoints** under ``/_control`` (never part of the real API) that
  tests and the demo use: read or change the configuration, list the calls the
  simulator received, make a simulated user write.

Defaults come from ``HDE_SIM_*`` environment variables; ``POST /_control/config``
changes them at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hde_core.errors import ConfigError

log = logging.getLogger("hde.sandbox.sim")

Fault = Literal["server_error", "rate_limit"]


class SimConfig(BaseSettings):
    """How a simulator behaves. Every field can be set by ``HDE_SIM_<FIELD>`` or the control API."""

    model_config = SettingsConfigDict(env_prefix="HDE_SIM_", extra="forbid")

    #: Added to every API answer (milliseconds), plus up to ``jitter_ms`` at random.
    latency_ms: float = Field(default=0, ge=0, le=60_000)
    jitter_ms: float = Field(default=0, ge=0, le=60_000)
    #: Share of API calls answered with a server error (0..1).
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    #: Calls per second allowed per account before the provider's "too many requests" (0: off).
    rate_limit_per_sec: float = Field(default=0.0, ge=0)
    #: Seconds the rate-limit answer asks to wait (where the provider says it).
    retry_after_s: int = Field(default=1, ge=0, le=3600)
    #: The next N API calls fail with ``fail_with`` (deterministic faults for tests).
    fail_next: int = Field(default=0, ge=0)
    fail_with: Fault = "server_error"
    #: Simulated clients: chance to reply to a message, and delay before they do.
    reply_probability: float = Field(default=0.0, ge=0, le=1)
    reply_delay_s: float = Field(default=3.0, ge=0)
    #: Chance that a client's answer quotes our message (Telegram "Reply", a WhatsApp
    #: reply with ``context``, a Green-API quote): the answer then names the ticket itself.
    quote_probability: float = Field(default=0.5, ge=0, le=1)
    #: Chance that a client who got a message opts out (blocks the bot, unsubscribes, writes STOP).
    opt_out_probability: float = Field(default=0.0, ge=0, le=1)
    #: Delay of delivery statuses (delivered, then read) after a send, where the provider has them.
    status_delay_s: float = Field(default=0.3, ge=0)
    #: Chance that a delivered message is also read.
    read_probability: float = Field(default=1.0, ge=0, le=1)
    #: Seconds between spontaneous client messages (0: clients only answer).
    chatter_interval_s: float = Field(default=0.0, ge=0)
    #: Webhook delivery: attempts per event and the pause between attempts.
    webhook_attempts: int = Field(default=5, ge=1, le=100)
    webhook_retry_s: float = Field(default=1.0, ge=0)
    #: Seed for the simulator's random choices (None: different every run).
    seed: int | None = None

    def updated(self, patch: dict[str, Any]) -> SimConfig:
        return SimConfig(**{**self.model_dump(), **patch})


C = TypeVar("C", bound=SimConfig)


def load_config(cls: type[C] = SimConfig) -> C:  # type: ignore[assignment]
    """The configuration from ``HDE_SIM_*``; a wrong value is a plain configuration error."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"HDE_SIM_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError("channels.sim_config_invalid", error=problems) from exc


class TokenBucket:
    """Per-account rate limit of the simulated API (in memory: one simulator, one process)."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, rate: float) -> bool:
        if rate <= 0:
            return True
        now = time.monotonic()
        burst = max(1.0, rate)
        tokens, at = self._state.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return False
        self._state[key] = (tokens - 1.0, now)
        return True


@dataclass(frozen=True)
class WebhookTarget:
    """Where and how an account's webhooks go: the URL our code registered and the auth headers."""

    url: str
    headers: Callable[[bytes], dict[str, str]]


@dataclass
class _Pending:
    payload: dict[str, Any]
    attempts: int = 0


class WebhookQueue:
    """One account's webhooks, delivered in order; failed deliveries are retried, then dropped.

    With ``keep_without_target`` events wait while no webhook is registered (Telegram keeps
    them for ``getUpdates``); otherwise they are dropped, as Viber does.
    """

    def __init__(
        self,
        sim: Simulator,
        target: Callable[[], WebhookTarget | None],
        keep_without_target: bool = False,
    ) -> None:
        self.sim = sim
        self.target = target
        self.keep_without_target = keep_without_target
        self.items: deque[_Pending] = deque()
        self.delivered: list[dict[str, Any]] = []
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    def push(self, payload: dict[str, Any], delay: float = 0.0) -> None:
        if delay > 0:
            self.sim.later(delay, lambda: self._append(payload))
        else:
            self._append(payload)

    def _append(self, payload: dict[str, Any]) -> None:
        if self.target() is None and not self.keep_without_target:
            return
        self.items.append(_Pending(payload))
        self.wake()

    def wake(self) -> None:
        """New events, or the target changed: let the worker look again."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = self.sim.spawn(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            target = self.target()
            if not self.items or target is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self.items[0]
            ok = await post_webhook(target, item.payload)
            if ok:
                self.items.popleft()
                self.delivered.append(item.payload)
                continue
            item.attempts += 1
            if item.attempts >= self.sim.config.webhook_attempts:
                log.warning("simulator %s gave up delivering one webhook", self.sim.name)
                self.items.popleft()
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.sim.config.webhook_retry_s)


def encode(payload: Any) -> bytes:
    """The exact bytes a provider sends (signatures cover them)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def post_webhook(target: WebhookTarget, payload: dict[str, Any]) -> bool:
    """One delivery attempt: True when our receiver answered 2xx."""
    body = encode(payload)
    headers = {"Content-Type": "application/json", **target.headers(body)}
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(target.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        log.debug("webhook delivery failed: %s", type(exc).__name__)
        return False
    return 200 <= response.status_code < 300


@dataclass
class CallRecord:
    """One API call as the simulator received it (for tests: URL, headers, JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    query: dict[str, str] = field(default_factory=dict)


class Simulator:
    """Base of the provider simulators: faults, webhook queues, clients, control endpoints."""

    name = "sim"
    #: Recent API calls kept for ``GET /_control/calls``.
    max_calls = 500

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or load_config()
        self.rng = random.Random(self.config.seed)
        self.bucket = TokenBucket()
        self.calls: deque[CallRecord] = deque(maxlen=self.max_calls)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._life: asyncio.Task[None] | None = None
        #: Errors the next API calls answer (``POST /_control/errors``), in order.
        self.forced: deque[tuple[int | str, str | None]] = deque()

    # -- to implement ----------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def control_extra_routes(self) -> list[BaseRoute]:
        return []

    def fault_response(self, fault: Fault) -> Response:
        """The provider's own answer to a server error or a rate limit."""
        raise NotImplementedError

    def error_response(self, code: int | str, text: str | None = None) -> Response:
        """The provider's own answer carrying one of its documented error codes (and
        words, for providers whose errors are told apart by their description)."""
        raise NotImplementedError

    async def chatter_once(self) -> None:
        """One spontaneous action of a simulated client (write, subscribe …)."""

    # -- helpers for subclasses ------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator %s task failed: %r", self.name, task.exception())

    def later(self, delay: float, action: Callable[[], Any]) -> None:
        """Run ``action`` (sync, or returning an awaitable) after ``delay`` seconds."""

        async def run() -> None:
            await asyncio.sleep(delay)
            result = action()
            if asyncio.iscoroutine(result):
                await result

        self.spawn(run())

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    async def record(self, request: Request) -> Any:
        """Remember the call and return its JSON body (None when absent or not JSON)."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        self.calls.append(
            CallRecord(
                method=request.method,
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
                query=dict(request.query_params),
            )
        )
        return body

    async def faults(self, account: str) -> Response | None:
        """Latency, then a forced, random or rate-limit fault for this call (or None)."""
        cfg = self.config
        delay = cfg.latency_ms + (self.rng.random() * cfg.jitter_ms if cfg.jitter_ms else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if self.forced:
            return self.error_response(*self.forced.popleft())
        if cfg.fail_next > 0:
            self.config = cfg.updated({"fail_next": cfg.fail_next - 1})
            return self.fault_response(cfg.fail_with)
        if self.chance(cfg.failure_rate):
            return self.fault_response("server_error")
        if not self.bucket.allow(account, cfg.rate_limit_per_sec):
            return self.fault_response("rate_limit")
        return None

    def ensure_life(self) -> None:
        """Start the simulated clients' own activity when it is configured (idempotent)."""
        if self.config.chatter_interval_s <= 0:
            return
        if self._life is None or self._life.done():
            self._life = self.spawn(self._live())

    async def _live(self) -> None:
        while self.config.chatter_interval_s > 0:
            interval = self.config.chatter_interval_s
            await asyncio.sleep(interval * (0.5 + self.rng.random()))
            try:
                await self.chatter_once()
            except Exception:  # noqa: BLE001 - a sandbox hiccup must not stop the demo
                log.exception("simulator %s: simulated client failed", self.name)

    # -- the ASGI app ----------------------------------------------------------------

    def control_routes(self) -> list[BaseRoute]:
        async def config(request: Request) -> Response:
            if request.method == "POST":
                try:
                    patch = await request.json()
                    self.config = self.config.updated(dict(patch))
                except (ValueError, TypeError, ValidationError) as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)
                if self.config.seed is not None and "seed" in patch:
                    self.rng.seed(self.config.seed)
                self.ensure_life()
            return JSONResponse(self.config.model_dump())

        async def calls(request: Request) -> Response:
            if request.method == "DELETE":
                self.calls.clear()
                return JSONResponse({"ok": True})
            return JSONResponse([c.__dict__ for c in self.calls])

        async def errors(request: Request) -> Response:
            try:
                data = await json_body(request)
                queued = [_forced(item) for item in data.get("codes") or []]
            except (ValueError, TypeError) as exc:
                return JSONResponse(
                    {"error": f'send {{"codes": [<code> or {{"code", "text"}}, …]}}: {exc}'},
                    status_code=400,
                )
            self.forced.extend(queued)
            return JSONResponse({"queued": [code for code, _ in self.forced]})

        return [
            Route("/_control/config", config, methods=["GET", "POST"]),
            Route("/_control/calls", calls, methods=["GET", "DELETE"]),
            Route("/_control/errors", errors, methods=["POST"]),
            *self.control_extra_routes(),
        ]

    def asgi(self) -> Starlette:
        app = Starlette(routes=[*self.control_routes(), *self.api_routes()])
        app.state.simulator = self
        return app


def _forced(item: Any) -> tuple[int | str, str | None]:
    code, text = (item.get("code"), item.get("text")) if isinstance(item, dict) else (item, None)
    if isinstance(code, bool) or not isinstance(code, int | str):
        raise ValueError(f"not an error code: {code!r}")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"not an error text: {text!r}")
    return code, text


def bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def json_body(request: Request) -> dict[str, Any]:
    """A control endpoint's JSON object (empty when there is no body)."""
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    return data


#: Names and phrases of the simulated clients (their content, not our interface).
CLIENT_NAMES = (
    ("Анна", "Смирнова"),
    ("Игорь", "Петров"),
    ("Мария", "Иванова"),
    ("Дмитрий", "Козлов"),
    ("Елена", "Новикова"),
    ("Сергей", "Морозов"),
    ("Ольга", "Волкова"),
    ("Алексей", "Соколов"),
)
CLIENT_QUESTIONS = (
    "Здравствуйте! Когда будет готов мой заказ?",
    "Добрый день, не могу войти в личный кабинет.",
    "Подскажите, пожалуйста, как поменять адрес доставки?",
    "Спасибо за помощь!",
    "Можно ли оплатить заказ по счёту?",
    "Привет! Курьер так и не приехал.",
)
CLIENT_REPLIES = (
    "Спасибо, получил(а).",
    "Хорошо, жду.",
    "Понятно, спасибо!",
    "А можно подробнее?",
)
