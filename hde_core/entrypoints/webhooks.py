"""The webhook receiver (``hde webhooks``): ``/webhooks/<channel name>``.

One fixed pipeline for every provider: verify → parse → record → answer 2xx fast.

- unknown channel → 404; body over the limit → 413;
- bad or missing signature → 401 and nothing recorded;
- a body the adapter cannot parse → 400;
- a failure while recording → 500, so the provider delivers again (recording is
  idempotent, so a redelivery is harmless).

GET requests are answered by the adapter's handshake (Meta's ``hub.challenge``).
"""

from __future__ import annotations

import json
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
from hde_core.services.webhooks import record_events

log = logging.getLogger("hde.webhooks")

MAX_BODY = 1024 * 1024  # providers send small JSON documents
CACHE_SECONDS = 5.0


class _Adapters:
    """Channel name → (channel id, adapter), re-read every few seconds so new secrets apply."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._cache: dict[str, tuple[float, int, ChannelAdapter] | None] = {}

    def get(self, name: str) -> tuple[int, ChannelAdapter] | None:
        now = time.monotonic()
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
        if not adapter.verify_webhook(hook):
            log.warning("webhook for channel %s refused: bad or missing signature", name)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            events = adapter.parse_webhook(hook)
        except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            log.warning("webhook for channel %s refused: malformed body (%s)", name, exc)
            return JSONResponse({"error": "malformed body"}, status_code=400)
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
        uvicorn.run(create_webhook_app(app), host=host, port=port, log_level="warning")
    finally:
        app.close()


def register(cli: click.Group) -> None:
    cli.add_command(webhooks_cmd)
