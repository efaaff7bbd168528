"""Shared helpers for the Telegram, Viber and Green-API tests: fixtures of documented
payloads, a simulator on a real port, channel configurations, provisioning."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelConfig, OutgoingMessage, WebhookRequest
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_common import Simulator
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from tests.staff import seed_staff

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
_serial = itertools.count(1)


def fixture(provider: str, name: str) -> Any:
    return json.loads((FIXTURES / provider / f"{name}.json").read_text(encoding="utf-8"))


def fixture_bytes(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / f"{name}.json").read_bytes()


def serial() -> int:
    """A number unique within the test run (fresh bots, tokens, instances)."""
    return next(_serial)


@contextmanager
def running(sim: Simulator) -> Iterator[str]:
    """The simulator alone on a free loopback port; yields its base URL."""
    server = HttpServer(sim.asgi(), "127.0.0.1", free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


def config(
    kind: ChannelKind,
    provider: Provider,
    api_base: str | None,
    credentials: dict[str, str],
    secret: str | None = None,
    settings: dict[str, Any] | None = None,
    name: str = "chan",
) -> ChannelConfig:
    return ChannelConfig(1, name, kind, provider, api_base, credentials, secret, settings or {})


def outgoing(recipient: str, text: str = "Hello", key: str = "ticket:1:text") -> OutgoingMessage:
    return OutgoingMessage(1, "text", recipient, {"text": text}, key)


def hook(body: bytes | Any, **headers: str) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest("POST", {k.lower(): v for k, v in headers.items()}, {}, raw)


def control(base: str, path: str, **payload: Any) -> dict[str, Any]:
    response = httpx.post(f"{base}/_control/{path}", json=payload, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def calls(base: str) -> list[dict[str, Any]]:
    return httpx.get(f"{base}/_control/calls", timeout=10).json()


MESSENGERS_TOML = """
[[channels]]
name = "telegram"
kind = "telegram"
api_base = "{base}/sim/telegram"
credentials = {{ bot_token = "{tg_token}" }}
webhook_secret = "tg-secret-{n}"
sandbox = true

[[channels]]
name = "viber"
kind = "viber"
api_base = "{base}/sim/viber"
credentials = {{ auth_token = "{viber_token}" }}
settings = {{ sender_name = "Support" }}
sandbox = true

[[channels]]
name = "whatsapp"
kind = "whatsapp"
api_base = "{base}/sim/greenapi"
credentials = {{ id_instance = "{instance}", api_token = "{ga_token}" }}
webhook_secret = "ga-secret-{n}"
sandbox = true
"""


@contextmanager
def messengers(app: App, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Receiver + simulators on one real port, and the three channels provisioned on it."""
    from hde_core.entrypoints.http import build_http_app

    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    n = serial()
    info = {
        "url": server.url,
        "n": n,
        "tg_token": f"{7000 + n}:TEST-TOKEN-{n:04d}abcdef",
        "tg_bot_id": 7000 + n,
        "viber_token": f"4fdbb2493ae7ddc2-cd8869c327e2c592-{n:016d}",
        "instance": str(1101000000 + n),
        "ga_token": f"d75b3a66374942c5b3c019c698abc2{n:04d}",
        "telegram": f"{server.url}/sim/telegram",
        "viber": f"{server.url}/sim/viber",
        "greenapi": f"{server.url}/sim/greenapi",
    }
    path = tmp_path / f"messengers-{n}.toml"
    path.write_text(
        MESSENGERS_TOML.format(
            base=server.url,
            **{k: info[k] for k in ("n", "tg_token", "viber_token", "instance", "ga_token")},
        ),
        encoding="utf-8",
    )
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    try:
        yield info
    finally:
        server.stop()


def wait_until(condition: Any, timeout: float = 5.0, interval: float = 0.03) -> Any:
    """Poll ``condition()`` until it returns something truthy (webhooks arrive asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def auth_headers(info: dict[str, Any], channel: str, body: bytes) -> dict[str, str]:
    """The headers the real provider puts on a webhook to ``channel``."""
    from hde_core.channels.base import hmac_sha256_hex

    if channel == "telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": f"tg-secret-{info['n']}"}
    if channel == "viber":
        return {"X-Viber-Content-Signature": hmac_sha256_hex(info["viber_token"], body)}
    return {"Authorization": f"Bearer ga-secret-{info['n']}"}


def post_hook(
    info: dict[str, Any], channel: str, body: bytes | Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{info['url']}/webhooks/{channel}",
        content=raw,
        headers={
            "Content-Type": "application/json",
            **(auth_headers(info, channel, raw) if headers is None else headers),
        },
        timeout=10,
    )


def sim_config(info: dict[str, Any], provider: str, **values: Any) -> None:
    control(info[provider], "config", **values)
