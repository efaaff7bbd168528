"""`make run`'s WhatsApp Business side: the sandbox file provisions both channels, the demo
service wires the simulators to our receiver, clients write in and templates are synced —
so a fresh install can start a WhatsApp conversation with no accounts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hde_core.db.models import Channel, ContactIdentity, Price
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.entrypoints.demo import DEMO_FILE, prepare
from hde_core.entrypoints.http import HttpServicesService
from hde_core.sandbox.smtp_sink import free_port
from hde_core.sandbox.wa_demo import DEMO_CLIENTS, WaBusinessDemoService
from hde_core.services.tickets import TicketRequest
from hde_core.services.wa_settings import get_wa_settings
from tests.channels.wa_helpers import wait_until
from tests.conftest import make_settings
from tests.staff import seed_staff

CHANNELS = ("whatsapp-business", "whatsapp-360dialog")


@pytest.fixture
def demo(sqlite_url, data_dir, tmp_path):
    port = free_port()
    demo_file = tmp_path / "sandbox.toml"
    demo_file.write_text(
        DEMO_FILE.read_text(encoding="utf-8").replace("127.0.0.1:8787", f"127.0.0.1:{port}"),
        encoding="utf-8",
    )
    settings = make_settings(
        sqlite_url, data_dir, services_port=port, public_url=f"http://127.0.0.1:{port}"
    )
    app = prepare(settings, demo_file)
    seed_staff(app)
    http = HttpServicesService(app, settings)
    http.start()
    WaBusinessDemoService(app, settings).start()
    yield app
    http.stop()
    app.close()


def test_demo_channels_are_ready_and_clients_have_written(demo):
    app = demo
    for name in CHANNELS:
        settings = get_wa_settings(app, name)
        assert settings.ready, name
        assert settings.default_template == "hde_first_contact:ru"
        assert settings.templates_synced_at is not None
    with app.db.reader() as s:
        assert s.query(Price).count() >= 3

    def written():
        with app.db.reader() as s:
            return {
                (c.name, i.address)
                for i, c in s.execute(
                    select(ContactIdentity, Channel).join(
                        Channel, Channel.id == ContactIdentity.channel_id
                    )
                ).all()
                if i.first_inbound_at is not None
            }

    expected = {(ch, "+" + c.wa_id) for ch in CHANNELS for c in DEMO_CLIENTS}
    wait_until(lambda: expected <= written(), what="the demo clients' messages")


def test_a_ticket_to_a_client_whose_window_closed_starts_with_the_template(demo):
    app = demo
    igor = next(c for c in DEMO_CLIENTS if c.ago_seconds > 24 * 3600)
    anna = next(c for c in DEMO_CLIENTS if c.ago_seconds < 24 * 3600)
    request = TicketRequest(
        channel="whatsapp-business", to="+" + igor.wa_id, subject="Счёт", body="Счёт отправлен."
    )
    result = initiate_ticket(app, request, "agent")
    assert result.action == "template_then_hold"
    assert result.messages[0].status in ("sent", "delivered", "read")
    request.to = "+" + anna.wa_id
    assert initiate_ticket(app, request, "agent").action == "send"
