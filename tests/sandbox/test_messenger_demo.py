"""`make run`'s messenger side: the sandbox file provisions Telegram, Viber and gray WhatsApp
channels, the demo service registers their webhooks through the providers' real calls and
clients start writing — so a fresh install can start a conversation with no accounts, and
gray WhatsApp shows R10 (initiation disabled until a team lead accepts the risk)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, Channel, ContactIdentity
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.entrypoints.demo import DEMO_FILE, SERVICES, prepare
from hde_core.entrypoints.http import HttpServicesService
from hde_core.errors import Refused
from hde_core.sandbox.messenger_demo import MessengerDemoService, public_url
from hde_core.sandbox.sim_greenapi import DEMO_PHONES
from hde_core.sandbox.sim_telegram import DEMO_USER_IDS
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.channel_settings import set_initiation
from hde_core.services.tickets import TicketRequest
from tests.channels.messengers import wait_until
from tests.conftest import make_settings
from tests.staff import seed_staff

CHANNELS = ("telegram", "viber", "whatsapp")


@pytest.fixture
def demo(sqlite_url, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HDE_SIM_CHATTER_INTERVAL_S", "0")  # only the first clients write
    monkeypatch.setenv("HDE_SIM_STATUS_DELAY_S", "0.05")
    port = free_port()
    demo_file = tmp_path / "sandbox.toml"
    demo_file.write_text(
        DEMO_FILE.read_text(encoding="utf-8").replace("127.0.0.1:8787", f"127.0.0.1:{port}"),
        encoding="utf-8",
    )
    settings = make_settings(sqlite_url, data_dir, services_port=port)
    app = prepare(settings, demo_file)
    http = HttpServicesService(app, settings)
    http.start()
    MessengerDemoService(app, settings).start()
    yield app, f"http://127.0.0.1:{port}"
    http.stop()
    app.close()


def identities(app, channel):
    with app.db.reader() as s:
        return set(
            s.scalars(
                select(ContactIdentity.address)
                .join(Channel, Channel.id == ContactIdentity.channel_id)
                .where(Channel.name == channel, ContactIdentity.first_inbound_at.is_not(None))
            )
        )


def test_the_demo_service_runs_after_the_http_server():
    assert SERVICES.index(MessengerDemoService) > SERVICES.index(HttpServicesService)


def test_public_url_defaults_to_the_services_server(sqlite_url, data_dir, monkeypatch):
    monkeypatch.delenv("HDE_PUBLIC_URL", raising=False)
    assert public_url(make_settings(sqlite_url, data_dir, services_port=9999)) == (
        "http://127.0.0.1:9999"
    )
    explicit = make_settings(sqlite_url, data_dir, public_url="https://hde.example.com/")
    assert public_url(explicit) == "https://hde.example.com"


def test_sandbox_messengers_are_connected_with_webhooks_and_first_clients(demo):
    app, base = demo
    with app.db.reader() as s:
        rows = {c.name: c for c in s.scalars(select(Channel).where(Channel.name.in_(CHANNELS)))}
        hooks = s.scalars(select(AuditEvent).where(AuditEvent.event == "settings_changed")).all()
    assert {name: rows[name].connection_status for name in CHANNELS} == dict.fromkeys(
        CHANNELS, "connected"
    )
    assert {
        h.data["url"] for h in hooks if h.data.get("setting") == "webhook" and h.data["ok"]
    } >= {f"{base}/webhooks/{name}" for name in CHANNELS}
    assert wait_until(lambda: {str(i) for i in DEMO_USER_IDS[:2]} <= identities(app, "telegram"))
    assert wait_until(lambda: len(identities(app, "viber")) == 2)
    assert wait_until(lambda: {"+" + p for p in DEMO_PHONES[:2]} <= identities(app, "whatsapp"))
    info = httpx.post(f"{base}/sim/telegram/bot100200300:SANDBOX-telegram-bot-token/getWebhookInfo")
    assert info.json()["result"]["url"] == f"{base}/webhooks/telegram"


def test_demo_clients_can_be_written_to_and_gray_whatsapp_shows_r10(demo):
    app, _ = demo
    seed_staff(app)
    assert wait_until(lambda: str(DEMO_USER_IDS[0]) in identities(app, "telegram"))
    telegram = initiate_ticket(
        app, TicketRequest(channel="telegram", to="@client1", subject="S", body="Добрый день!"), "a"
    )
    assert telegram.status == "sent"
    phone = "+" + DEMO_PHONES[0]
    assert wait_until(lambda: phone in identities(app, "whatsapp"))
    request = TicketRequest(channel="whatsapp", to=phone, subject="S", body="Добрый день!")
    with pytest.raises(Refused) as refused:
        initiate_ticket(app, request, "agent")
    assert [e.code for e in refused.value.errors] == ["initiation_disabled"]
    set_initiation(app, "whatsapp", True, "lead", acknowledge_risk=True)
    assert initiate_ticket(app, request, "agent").status == "sent"


def test_moving_the_services_port_moves_the_webhooks(sqlite_url, data_dir, monkeypatch):
    """Issue 16.9: with HDE_SERVICES_PORT changed, WhatsApp Business webhooks stayed on :8787."""
    monkeypatch.delenv("HDE_PUBLIC_URL", raising=False)
    moved = make_settings(sqlite_url, data_dir, services_port=9911, services_host="0.0.0.0")
    assert moved.public_url == "http://127.0.0.1:9911"  # what wa_demo and `hde channel` use
    behind_proxy = make_settings(
        sqlite_url, data_dir, services_port=9911, public_url=" https://x/ "
    )
    assert behind_proxy.public_url == "https://x"
