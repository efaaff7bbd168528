"""360dialog adapter over real HTTP against its simulator; its webhooks through our receiver,
protected by the token in the registered URL."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Mount

from hde_core.channels.base import ChannelConfig, OutgoingMessage
from hde_core.channels.dialog360 import Dialog360Adapter
from hde_core.db.models import ContactIdentity, InboundMessage
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import Disconnected, ErrorClass, Hold, Retry, Sent
from hde_core.entrypoints.http import build_http_app
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_360dialog import Dialog360Simulator
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.channels import channel_by_name, channel_config
from tests.channels.wa_helpers import ANNA, D360_KEY, D360_SECRET, Sim, provision_360, wait_until


@pytest.fixture(scope="module")
def sim_server():
    app = Starlette(routes=[Mount("/sim/360dialog", app=Dialog360Simulator().asgi())])
    server = HttpServer(app, "127.0.0.1", free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):
    sim = Sim(f"{sim_server.url}/sim/360dialog")
    sim.config(window_error="sync", status_delay_s=0.01, failure_rate=0, fail_next=0)
    sim.user(ANNA, last_inbound_ago_seconds=60)
    sim.clear_calls()
    return sim


def adapter(server, key: str = D360_KEY, secret: str | None = D360_SECRET, **settings):
    return Dialog360Adapter(
        ChannelConfig(
            id=2,
            name="wa360",
            kind=ChannelKind.WA_BUSINESS,
            provider=Provider.DIALOG360,
            api_base=f"{server.url}/sim/360dialog",
            credentials={"api_key": key},
            webhook_secret=secret,
            settings=settings,
        )
    )


def send(a, kind="text", payload=None):
    message = OutgoingMessage(1, kind, ANNA, payload or {"text": "Добрый день!"}, "k")
    return asyncio.run(a.send(message))


def test_text_message_goes_to_messages_with_the_api_key(sim_server, sim):
    assert isinstance(send(adapter(sim_server)), Sent)
    (call,) = sim.sends()
    assert call["path"] == "/sim/360dialog/messages"
    assert call["headers"]["d360-api-key"] == D360_KEY
    assert "authorization" not in call["headers"]
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79123456789",
        "type": "text",
        "text": {"preview_url": False, "body": "Добрый день!"},
    }


def test_template_body_is_meta_s(sim_server, sim):
    payload = {
        "template_name": "hde_first_contact",
        "language": "ru",
        "params": {"1": "Анна", "2": "7"},
    }
    assert isinstance(send(adapter(sim_server), "template", payload), Sent)
    assert sim.sends()[0]["json"]["template"]["name"] == "hde_first_contact"


@pytest.mark.parametrize(
    ("setup", "kind", "error_class"),
    [
        ({"key": "invalid-key"}, Disconnected, ErrorClass.AUTH),
        ({"fault": "rate_limit"}, Retry, ErrorClass.RATE_LIMITED),
        ({"fault": "server_error"}, Retry, ErrorClass.TRANSIENT),
        ({"code": 131047}, Hold, ErrorClass.WINDOW_CLOSED),
        ({"code": 130429}, Retry, ErrorClass.RATE_LIMITED),
    ],
)
def test_errors_map_to_their_class(sim_server, sim, setup, kind, error_class):
    if "fault" in setup:
        sim.config(fail_next=1, fail_with=setup["fault"])
    if "code" in setup:
        sim.force(setup["code"])
    outcome = send(adapter(sim_server, key=setup.get("key", D360_KEY)))
    assert isinstance(outcome, kind), outcome
    if isinstance(outcome, Retry):
        assert outcome.error_class == error_class
    assert outcome.text


def test_templates_are_paged_and_statuses_upper_cased(sim_server, sim):
    sim.config(template_page_size=4)
    try:
        templates = asyncio.run(adapter(sim_server).list_templates())
    finally:
        sim.config(template_page_size=5)
    assert len(templates) == 9
    by_name = {(t.name, t.language): t for t in templates}
    assert by_name[("autumn_sale", "ru")].status == "PENDING"  # listed as "submitted"
    assert by_name[("hde_first_contact", "ru")].status == "APPROVED"
    assert by_name[("order_update", "ru")].parameter_format == "NAMED"
    pages = [c for c in sim.calls() if c["path"].endswith("/v1/configs/templates")]
    assert [c["query"]["offset"] for c in pages] == ["0", "4", "8"]


def test_connection_check(sim_server, sim):
    assert asyncio.run(adapter(sim_server).check_connection()).ok
    bad = asyncio.run(adapter(sim_server, key="invalid").check_connection())
    assert not bad.ok and "api_key" in bad.detail


def test_register_webhook_sends_the_secret_in_a_header_not_the_url(sim_server, sim):
    check = asyncio.run(adapter(sim_server).register_webhook("https://hde.example/webhooks/wa360"))
    assert check.ok
    registered = httpx.get(
        f"{sim.base}/v1/configs/webhook", headers={"D360-API-KEY": D360_KEY}
    ).json()
    assert registered["url"] == "https://hde.example/webhooks/wa360"  # no ?token= to log
    assert registered["headers"] == {"X-HDE-Webhook-Token": D360_SECRET}


def test_register_webhook_can_still_put_the_secret_in_the_url(sim_server, sim):
    legacy = adapter(sim_server, webhook_token_in_url=True)
    assert asyncio.run(legacy.register_webhook("https://hde.example/webhooks/wa360")).ok
    registered = httpx.get(
        f"{sim.base}/v1/configs/webhook", headers={"D360-API-KEY": D360_KEY}
    ).json()["url"]
    assert parse_qs(urlsplit(registered).query)["token"] == [D360_SECRET]
    without = asyncio.run(adapter(sim_server, secret=None).register_webhook("https://x/y"))
    assert not without.ok and "webhook_secret" in without.detail


# -- through our receiver -----------------------------------------------------------------


@pytest.fixture
def world(app, tmp_path):
    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    provision_360(app, tmp_path, server.url)
    with app.db.reader() as s:
        config = channel_config(s, app.secrets, channel_by_name(s, "wa360"))
    registered = asyncio.run(
        Dialog360Adapter(config).register_webhook(f"{server.url}/webhooks/wa360")
    )
    assert registered.ok
    yield server, Sim(f"{server.url}/sim/360dialog")
    server.stop()


def _inbound_count(app):
    with app.db.reader() as s:
        return s.scalar(select(func.count()).select_from(InboundMessage))


def test_client_message_arrives_through_the_registered_url(app, world):
    server, sim = world
    sim.write(ANNA, "Здравствуйте, это Анна", account=D360_KEY)
    with app.db.reader() as s:
        who = s.scalar(select(ContactIdentity).where(ContactIdentity.address == ANNA))
        assert who is not None and who.last_inbound_at is not None


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ("", {}, 401),
        ("?token=wrong", {}, 401),
        (f"?token={D360_SECRET}", {}, 200),
        ("", {"X-HDE-Webhook-Token": D360_SECRET}, 200),
    ],
)
def test_webhook_token_is_required(app, world, query, headers, expected):
    server, _ = world
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"profile": {"name": "A"}, "wa_id": "79123456789"}],
                            "messages": [
                                {
                                    "from": "79123456789",
                                    "id": "wamid.t1",
                                    "timestamp": "1764150000",
                                    "type": "text",
                                    "text": {"body": "hi"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    response = httpx.post(f"{server.url}/webhooks/wa360{query}", json=body, headers=headers)
    assert response.status_code == expected
    assert _inbound_count(app) == (1 if expected == 200 else 0)


def test_status_webhooks_follow_a_send(app, world):
    server, sim = world
    sim.config(status_delay_s=0.01)
    sim.user(ANNA, last_inbound_ago_seconds=60)
    sim.write(ANNA, "hi", account=D360_KEY)
    with app.db.reader() as s:
        config = channel_config(s, app.secrets, channel_by_name(s, "wa360"))
    sent = asyncio.run(
        Dialog360Adapter(config).send(OutgoingMessage(1, "text", ANNA, {"text": "x"}, "k"))
    )
    assert isinstance(sent, Sent)
    delivered = wait_until(
        lambda: [
            p
            for p in sim.get("/_control/webhooks").get(D360_KEY, [])
            if p["entry"][0]["changes"][0]["value"].get("statuses", [{}])[0].get("status") == "read"
        ],
        what="the read status webhook",
    )
    assert (
        delivered[0]["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        == sent.provider_message_id
    )
