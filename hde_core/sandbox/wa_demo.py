"""The demo's WhatsApp Business side (``hde demo`` / ``make run``): a living sandbox.

Runs after the HTTP server (receiver + simulators) has started:

1. points each sandbox WhatsApp Business channel's simulator at our receiver —
   Meta's webhook URL lives in the app dashboard, so the Cloud API simulator gets
   it (and the app secret it signs with) through its control endpoint; 360dialog's
   is registered through its real API (``POST /v1/configs/webhook``);
2. lets a few simulated clients write in (one an hour ago: window open; others a
   day or more ago: window closed), so R3 is satisfied and both window cases show;
3. makes the simulated clients reply to template messages after a while, so held
   messages are released before the viewer's eyes (unless ``HDE_SIM_*`` says otherwise);
4. syncs the templates, which also picks the default template provisioned in the
   channel's ``settings.default_template``.

A failure here is logged and the demo goes on: the rest of the product does not
depend on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import httpx
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelConfig
from hde_core.channels.registry import build_adapter
from hde_core.config import Settings
from hde_core.db.models import Channel
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.services.authz import DEMO
from hde_core.services.channels import channel_config
from hde_core.services.templates import sync_templates

log = logging.getLogger("hde.demo.wa")


@dataclass(frozen=True)
class DemoClient:
    wa_id: str
    name: str
    text: str
    ago_seconds: int


DEMO_CLIENTS = (
    DemoClient("79123456789", "Анна Смирнова", "Здравствуйте! Когда будет готов мой заказ?", 3600),
    DemoClient("79161234567", "Игорь Петров", "Добрый день, не приходит счёт на почту.", 30 * 3600),
    DemoClient(
        "79031112233", "Мария Иванова", "Подскажите, как поменять адрес доставки?", 3 * 86400
    ),
)

#: How the simulated WhatsApp clients behave in the demo (``HDE_SIM_<KEY>`` wins).
DEMO_BEHAVIOUR = {
    "reply_probability": 0.7,
    "reply_delay_s": 20.0,
    "opt_out_probability": 0.05,
    "status_delay_s": 1.5,
    "read_probability": 0.8,
    "failed_status_rate": 0.03,
}


class WaBusinessDemoService:
    name = "wa-business-demo"

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.public_url = settings.public_url.rstrip("/")

    def start(self) -> None:
        with self.app.db.reader() as session:
            channels = session.scalars(
                select(Channel).where(
                    Channel.kind == ChannelKind.WA_BUSINESS.value,
                    Channel.is_sandbox.is_(True),
                    Channel.enabled.is_(True),
                )
            ).all()
            configs = [channel_config(session, self.app.secrets, c) for c in channels]
        for config in configs:
            try:
                self._prepare(config)
            except Exception as exc:  # noqa: BLE001 - the demo goes on without this channel's extras
                log.warning("WhatsApp sandbox channel %s not prepared: %s", config.name, exc)
        if configs:
            for report in sync_templates(self.app, actor=DEMO):
                if report.ok:
                    log.info("templates of %s: %d synced", report.channel, report.total)
                else:
                    log.warning("templates of %s not synced: %s", report.channel, report.error)

    def stop(self) -> None:
        """Nothing to stop: the simulators live in the HTTP server."""

    def _prepare(self, config: ChannelConfig) -> None:
        base = (config.api_base or "").rstrip("/")
        url = f"{self.public_url}/webhooks/{config.name}"
        if config.provider == Provider.META_CLOUD:
            account = config.credential("phone_number_id")
            secret = config.credentials.get("app_secret") or config.webhook_secret
            _post(
                f"{base}/_control/webhook", {"account": account, "url": url, "app_secret": secret}
            )
        else:
            account = config.credential("api_key")
            check = asyncio.run(build_adapter(config).register_webhook(url))
            if not check.ok:
                raise RuntimeError(check.detail)
        behaviour = {
            k: v for k, v in DEMO_BEHAVIOUR.items() if f"HDE_SIM_{k.upper()}" not in os.environ
        }
        _post(f"{base}/_control/config", behaviour)
        today = date.today().isoformat()
        for client in DEMO_CLIENTS:
            _post(
                f"{base}/_control/users/{client.wa_id}/write",
                {
                    "account": account,
                    "text": client.text,
                    "name": client.name,
                    "ago_seconds": client.ago_seconds,
                    # one id per day: restarting the demo the same day records nothing twice
                    "message_id": f"wamid.demo.{config.name}.{client.wa_id}.{today}",
                    "wait": 5,
                },
            )


def _post(url: str, body: Mapping[str, object]) -> None:
    response = httpx.post(url, json=dict(body), timeout=15)
    response.raise_for_status()
