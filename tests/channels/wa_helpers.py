"""WhatsApp Business test support: one real HTTP server (receiver + simulators), a
provisioned channel pointing at the simulator, and the simulator's control calls."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.channels.wa_webhooks import signature_header
from hde_core.db.models import Channel
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from tests.staff import seed_staff

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers" / "meta"

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
D360_KEY = "d360-key-for-tests"
D360_SECRET = "d360-webhook-secret"

#: Numbers that phonenumbers accepts (E.164 and wa_id forms).
ANNA = "+79123456789"
IGOR = "+79161234567"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def provision_meta(
    app: App, tmp: Path, base_url: str, name: str = "wa", extra: str = "", settings: str = ""
) -> int:
    text = f"""
[[channels]]
name = "{name}"
kind = "wa_business"
provider = "meta_cloud"
api_base = "{base_url}/sim/meta"
sandbox = true
{extra}
[channels.credentials]
access_token = "sandbox-token"
phone_number_id = "{PHONE_NUMBER_ID}"
waba_id = "{WABA_ID}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
[channels.settings]
per_recipient_interval = 0
{settings}
"""
    return _provision(app, tmp, name, text)


def provision_360(app: App, tmp: Path, base_url: str, name: str = "wa360", extra: str = "") -> int:
    text = f"""
[[channels]]
name = "{name}"
kind = "wa_business"
provider = "360dialog"
api_base = "{base_url}/sim/360dialog"
webhook_secret = "{D360_SECRET}"
sandbox = true
{extra}
[channels.credentials]
api_key = "{D360_KEY}"
[channels.settings]
per_recipient_interval = 0
"""
    return _provision(app, tmp, name, text)


def _provision(app: App, tmp: Path, name: str, text: str) -> int:
    path = tmp / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    with app.db.reader() as s:
        channel_id = s.scalar(select(Channel.id).where(Channel.name == name))
    assert channel_id is not None
    return channel_id


class Sim:
    """The control side of a WhatsApp simulator, over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, body: Any = None) -> Any:
        response = httpx.post(f"{self.base}{path}", json=body or {}, timeout=15)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.base}{path}", timeout=15).json()

    def config(self, **patch: Any) -> Any:
        return self.post("/_control/config", patch)

    def webhook(self, url: str, app_secret: str | None = APP_SECRET, account: str = "*") -> None:
        self.post("/_control/webhook", {"url": url, "app_secret": app_secret, "account": account})

    def write(self, wa_id: str, text: str = "Здравствуйте!", **extra: Any) -> Any:
        answer = self.post(f"/_control/users/{wa_id.lstrip('+')}/write", {"text": text, **extra})
        assert answer["delivered"], "the simulator could not deliver the inbound webhook"
        return answer

    def user(self, wa_id: str, **state: Any) -> Any:
        return self.post(f"/_control/users/{wa_id.lstrip('+')}", state)

    def force(self, *codes: int) -> None:
        self.post("/_control/errors", {"codes": list(codes)})

    def template_status(self, name: str, language: str, status: str) -> None:
        self.post(f"/_control/templates/{name}/{language}", {"status": status})

    def calls(self) -> list[dict[str, Any]]:
        return self.get("/_control/calls")

    def sends(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["path"].endswith("/messages")]

    def clear_calls(self) -> None:
        httpx.delete(f"{self.base}/_control/calls")


def signed_post(url: str, body: bytes, secret: str = APP_SECRET) -> httpx.Response:
    return httpx.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature_header(secret, body),
        },
    )


def wait_until(predicate: Callable[[], Any], timeout: float = 8.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
