"""The webhook receiver (``hde webhooks``): ``/webhooks/<channel name>``.

One fixed pipeline for every provider: verify → parse → record → answer 2xx fast.

- unknown channel (or a name no channel can have) → 404; body over the limit → 413;
- a POST that is not ``application/json`` → 415;
- bad or missing signature → 401 and nothing recorded;
- a signed body the adapter cannot use (not JSON, too deep, out-of-range
  timestamps, wrong types) → one log line, nothing recorded, and the adapter's
  ``malformed_webhook_status``: 400, or 200 where the provider would otherwise
  redeliver the same payload for days (Meta, 360dialog, Green-API; see
  docs/adding-a-provider.md);
- a failure while recording → 500, so the provider delivers again (recording is
  idempotent, so a redelivery is harmless).

GET requests are answered by the adapter's handshake (Meta's ``hub.challenge``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import click
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hde_core.bootstrap import App, bootstrap, configure_logging
from hde_core.channels.base import ChannelAdapter, WebhookRequest
from hde_core.channels.registry import build_adapter
from hde_core.db.models import Channel
from hde_core.services.channels import channel_config
from hde_core.services.credentials import require_readable
from hde_core.services.webhooks import record_events

log = logging.getLogger("hde.webhooks")

MAX_BODY = 1024 * 1024  # providers send small JSON documents
CACHE_SECONDS = 5.0
#: Channel names the receiver looks up (the console allows no more, nor control characters).
MAX_NAME = 100
#: Unknown names are remembered too (a miss costs a query); the memo is bounded.
MAX_CACHED = 1000
#: What a parser may raise on a hostile body: all mean "malformed", never a 500.
MALFORMED = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    OverflowError,
    OSError,
    RecursionError,
    UnicodeDecodeError,
)


class _Adapters:
    """Channel name → (channel id, adapter), re-read every few seconds so new secrets apply."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._cache: dict[str, tuple[float, int, ChannelAdapter] | None] = {}

    def get(self, name: str) -> tuple[int, ChannelAdapter] | None:
        now = time.monotonic()
        if len(self._cache) > MAX_CACHED:
            self._cache.clear()
        hit = self._cache.get(name, ...)
        if hit is not ... and (hit is None or hit[0] > now):
            return None if hit is None else (hit[1], hit[2])
        with self.app.db.reader() as session:
            channel = session.scalar(select(Channel).where(Channel.name == name))
            if channel is None:
                self._cache[name] = None
                return None
            config = channel_config(session, self.app.secrets, channel)
        adapter = build_adapter(config)
        self._cache[name] = (now + CACHE_SECONDS, config.id, adapter)
        return config.id, adapter


def _plausible_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and name.isprintable()


def _is_json(content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


async def _read_body(request: Request) -> bytes | None:
    """The raw body (signatures cover the exact bytes), or None when it is over the limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_routes(app: App) -> list[Route]:
    """The receiver's route, to serve alone (:func:`create_webhook_app`) or beside the simulators."""
    adapters = _Adapters(app)

    async def receive(request: Request) -> Response:
        name = request.path_params["name"]
        if not _plausible_name(name):
            return JSONResponse({"error": "unknown channel"}, status_code=404)
        found = await run_in_threadpool(adapters.get, name)
        if found is None:
            return JSONResponse({"error": "unknown channel"}, status_code=404)
        channel_id, adapter = found
        body = await _read_body(request)
        if body is None:
            return JSONResponse({"error": "body too large"}, status_code=413)
        hook = WebhookRequest(
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=body,
        )
        if request.method == "GET":
            answer = adapter.handshake(hook)
            if answer is None:
                return PlainTextResponse("method not allowed", status_code=405)
            return PlainTextResponse(answer[1], status_code=answer[0])
        if not _is_json(request.headers.get("content-type")):
            return JSONResponse({"error": "send application/json"}, status_code=415)
        if not adapter.verify_webhook(hook):
            log.warning("webhook for channel %s refused: bad or missing signature", name)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            events = adapter.parse_webhook(hook)
        except MALFORMED as exc:
            status = adapter.malformed_webhook_status
            log.warning(
                "webhook for channel %s ignored (answered %d): malformed body (%s: %.200s)",
                name,
                status,
                type(exc).__name__,
                exc,
            )
            return JSONResponse({"error": "malformed body"}, status_code=status)
        try:
            counts = await run_in_threadpool(record_events, app, channel_id, events)
        except Exception:
            log.exception("webhook for channel %s could not be recorded", name)
            return JSONResponse({"error": "internal error, deliver again"}, status_code=500)
        reply: Any = adapter.webhook_reply(hook, events)
        log.debug("webhook %s: %s", name, dict(counts))
        return JSONResponse(reply if reply is not None else {"ok": True})

    return [Route("/webhooks/{name}", receive, methods=["GET", "POST"])]


def create_webhook_app(app: App) -> Starlette:
    return Starlette(routes=webhook_routes(app))


@click.command("webhooks")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, type=int, show_default=True)
def webhooks_cmd(host: str, port: int) -> None:
    """Run the webhook receiver at /webhooks/<channel name>."""
    import uvicorn

    configure_logging()
    app = bootstrap()
    try:
        require_readable(app)  # a wrong HDE_SECRET_KEY would answer 500 to every webhook
        uvicorn.run(create_webhook_app(app), host=host, port=port, log_level="warning")
    finally:
        app.close()


def register(cli: click.Group) -> None:
    cli.add_command(webhooks_cmd)
