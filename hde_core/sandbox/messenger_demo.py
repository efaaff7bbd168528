"""The demo's Telegram, Viber and unofficial WhatsApp side (``hde demo`` / ``make run``).

Runs after the HTTP server (receiver + simulators) has started:

1. sets how the simulated clients behave — they write now and then on their own,
   answer our messages after a while, and sometimes opt out (``HDE_SIM_*`` wins);
2. registers each sandbox channel's webhook through the provider's real call
   (``setWebhook``, ``set_webhook``, ``setSettings``) at ``HDE_PUBLIC_URL`` (default:
   the services server), so the simulators deliver to our receiver with the real
   secret or signature;
3. lets a few clients write at once, so a fresh install has someone to write to;
4. checks every sandbox messenger channel's connection (R14).

The unofficial WhatsApp channel keeps initiation disabled (R10) until a team lead
runs ``hde channel initiation whatsapp --enable --acknowledge-risk``.

A failure here is logged and the demo goes on.
"""

from __future__ import annotations

import logging
import os

import httpx
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.config import Settings
from hde_core.db.models import Channel
from hde_core.domain.channels import Provider
from hde_core.sandbox.sim_common import CLIENT_NAMES
from hde_core.sandbox.sim_greenapi import DEMO_PHONES
from hde_core.sandbox.sim_telegram import DEMO_USER_IDS
from hde_core.sandbox.sim_viber import demo_user_id
from hde_core.services.authz import DEMO
from hde_core.services.channel_checks import check_channels, register_webhooks

log = logging.getLogger("hde.demo.messengers")

#: Simulator mount name of each provider this service brings to life.
SIMULATOR_OF = {
    Provider.TELEGRAM: "telegram",
    Provider.VIBER: "viber",
    Provider.GREEN_API: "greenapi",
}

#: How the simulated clients behave in the demo (an ``HDE_SIM_<KEY>`` variable wins).
DEMO_BEHAVIOUR = {
    "chatter_interval_s": 45.0,
    "reply_probability": 0.6,
    "reply_delay_s": 15.0,
    "opt_out_probability": 0.03,
    "status_delay_s": 1.5,
    "read_probability": 0.8,
}


def services_url(settings: Settings) -> str:
    host = settings.services_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.services_port}"


def public_url(settings: Settings) -> str:
    """``HDE_PUBLIC_URL`` when set, otherwise the services server itself (the setting's rule)."""
    return settings.public_url


class MessengerDemoService:
    name = "messenger-demo"

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _channels(self) -> dict[str, Provider]:
        with self.app.db.reader() as session:
            rows = session.execute(
                select(Channel.name, Channel.provider).where(
                    Channel.is_sandbox.is_(True),
                    Channel.enabled.is_(True),
                    Channel.provider.in_([p.value for p in SIMULATOR_OF]),
                )
            ).all()
        return {name: Provider(provider) for name, provider in rows}

    def start(self) -> None:
        try:
            self._start()
        except Exception:  # noqa: BLE001 - the demo goes on without living messengers
            log.exception("the messenger sandbox could not be set up")

    def _start(self) -> None:
        channels = self._channels()
        if not channels:
            return
        base = services_url(self.settings)
        behaviour = {
            k: v for k, v in DEMO_BEHAVIOUR.items() if f"HDE_SIM_{k.upper()}" not in os.environ
        }
        with httpx.Client(timeout=10.0) as http:
            for provider in set(channels.values()):
                http.post(f"{base}/sim/{SIMULATOR_OF[provider]}/_control/config", json=behaviour)
            for result in register_webhooks(
                self.app, public_url(self.settings), sorted(channels), actor=DEMO
            ):
                if not result.ok:
                    log.warning("webhook of %s not registered: %s", result.channel, result.detail)
            self._first_clients(http, base, channels)
        for check in check_channels(self.app, sorted(channels), actor=DEMO):
            log.info("sandbox channel %s: %s", check.channel, check.detail)

    def _first_clients(self, http: httpx.Client, base: str, channels: dict[str, Provider]) -> None:
        """Two clients per channel write at once (the simulators then keep it going)."""
        for provider in set(channels.values()):
            sim = f"{base}/sim/{SIMULATOR_OF[provider]}/_control"
            for i, text in enumerate(("/start", "Здравствуйте! Есть вопрос по заказу.")):
                first, last = CLIENT_NAMES[i]
                if provider == Provider.TELEGRAM:
                    payload = {"text": "/start", "first_name": first, "last_name": last}
                    payload["username"] = f"client{i + 1}"
                    http.post(f"{sim}/users/{DEMO_USER_IDS[i]}/write", json=payload)
                elif provider == Provider.VIBER:
                    payload = {"text": text, "name": f"{first} {last}"}
                    http.post(f"{sim}/users/{demo_user_id(i)}/write", json=payload)
                else:
                    payload = {"text": text, "name": f"{first} {last}"}
                    http.post(f"{sim}/contacts/{DEMO_PHONES[i]}/write", json=payload)

    def stop(self) -> None:
        """The simulators stop with the HTTP server."""
