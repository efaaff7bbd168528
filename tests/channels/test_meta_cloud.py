"""Meta WhatsApp Cloud API adapter over real HTTP against the simulator, and its webhooks
through our receiver: exact requests, answers, every error class, signatures, handshake."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Mount

from hde_core.channels.base import ChannelConfig, OutgoingMessage, WebhookRequest
from hde_core.channels.meta_cloud import MetaCloudAdapter
from hde_core.channels.wa_webhooks import parse_webhook_body, signature_header
from hde_core.db.models import ContactIdentity, InboundMessage, Message, Ticket
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.events import InboundMessage as InboundEvent
from hde_core.domain.events import StatusUpdate
from hde_core.domain.outcomes import Disconnected, ErrorClass, Fail, Hold, Retry, Sent
from hde_core.domain.statuses import MessageStatus as S
from hde_core.entrypoints.http import build_http_app
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_meta import MetaSimulator
from hde_core.sandbox.smtp_sink import free_port
from tests.channels.wa_helpers import (
    ANNA,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    WABA_ID,
    Sim,
    fixture,
    provision_meta,
    signed_post,
)

WAMID = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


@pytest.fixture(scope="module")
def sim_server():
    app = Starlette(routes=[Mount("/sim/meta", app=MetaSimulator().asgi())])
    server = HttpServer(app, "127.0.0.1", free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):
    sim = Sim(f"{sim_server.url}/sim/meta")
    sim.config(window_error="sync", status_delay_s=0.01, failure_rate=0, fail_next=0)
    sim.user(ANNA, last_inbound_ago_seconds=60)  # the window is open unless a test closes it
    sim.clear_calls()
    return sim


def adapter(server, token: str = "sandbox-token", **settings) -> MetaCloudAdapter:
    config = ChannelConfig(
        id=1,
        name="wa",
        kind=ChannelKind.WA_BUSINESS,
        provider=Provider.META_CLOUD,
        api_base=f"{server.url}/sim/meta",
        credentials={
            "access_token": token,
            "phone_number_id": PHONE_NUMBER_ID,
            "waba_id": WABA_ID,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
        },
        settings=settings,
    )
    return MetaCloudAdapter(config)


def send(a: MetaCloudAdapter, kind: str, payload: dict, transport: dict | None = None):
    message = OutgoingMessage(1, kind, ANNA, payload, "key-1", transport=transport or {})
    return asyncio.run(a.send(message))


def test_text_message_is_the_documented_request(sim_server, sim):
    outcome = send(adapter(sim_server), "text", {"text": "Ваш заказ готов."})
    assert isinstance(outcome, Sent) and outcome.provider_message_id.startswith("wamid.")
    (call,) = sim.sends()
    assert call["method"] == "POST"
    assert call["path"] == f"/sim/meta/v23.0/{PHONE_NUMBER_ID}/messages"
    assert call["headers"]["authorization"] == "Bearer sandbox-token"
    assert call["headers"]["content-type"] == "application/json"
    assert call["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79123456789",
        "type": "text",
        "text": {"preview_url": False, "body": "Ваш заказ готов."},
    }


def test_positional_template_sends_parameters_in_numeric_order(sim_server, sim):
    payload = {
        "template_name": "hde_first_contact",
        "language": "ru",
        "params": {"2": "1024", "1": "Анна"},  # key order as PostgreSQL JSONB may give it
        "parameter_format": "POSITIONAL",
    }
    assert isinstance(send(adapter(sim_server), "template", payload), Sent)
    assert sim.sends()[0]["json"]["template"] == {
        "name": "hde_first_contact",
        "language": {"code": "ru"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Анна"}, {"type": "text", "text": "1024"}],
            }
        ],
    }


def test_named_template_names_each_parameter(sim_server, sim):
    payload = {
        "template_name": "order_update",
        "language": "ru",
        "params": {"order_id": "A-17", "customer_name": "Анна"},
        "parameter_format": "NAMED",
    }
    assert isinstance(send(adapter(sim_server), "template", payload), Sent)
    params = sim.sends()[0]["json"]["template"]["components"][0]["parameters"]
    assert sorted(params, key=lambda p: p["parameter_name"]) == [
        {"type": "text", "parameter_name": "customer_name", "text": "Анна"},
        {"type": "text", "parameter_name": "order_id", "text": "A-17"},
    ]


def test_api_version_is_a_setting(sim_server, sim):
    send(adapter(sim_server, api_version="v21.0"), "text", {"text": "hi"})
    assert sim.sends()[0]["path"] == f"/sim/meta/v21.0/{PHONE_NUMBER_ID}/messages"


# code → (outcome type, error class, channel-wide pause?, pause seconds, opt-out)
ERROR_TABLE = [
    (130429, Retry, ErrorClass.RATE_LIMITED, True, 5.0, False),
    (131056, Retry, ErrorClass.RATE_LIMITED, False, 6.0, False),
    (131048, Retry, ErrorClass.RATE_LIMITED, True, 60.0, False),
    (4, Retry, ErrorClass.RATE_LIMITED, True, 60.0, False),
    (80007, Retry, ErrorClass.RATE_LIMITED, True, 60.0, False),
    (131000, Retry, ErrorClass.TRANSIENT, True, None, False),
    (2, Retry, ErrorClass.TRANSIENT, True, None, False),
    (987654, Retry, ErrorClass.TRANSIENT, True, None, False),  # unknown: retried, capped
    (131047, Hold, ErrorClass.WINDOW_CLOSED, None, None, False),
    (131026, Fail, ErrorClass.NOT_REACHABLE, None, None, False),
    (131050, Fail, ErrorClass.NOT_REACHABLE, None, None, True),
    (132000, Fail, ErrorClass.TEMPLATE_REJECTED, None, None, False),
    (132001, Fail, ErrorClass.TEMPLATE_REJECTED, None, None, False),
    (132015, Fail, ErrorClass.TEMPLATE_REJECTED, None, None, False),
    (131009, Fail, ErrorClass.INVALID_REQUEST, None, None, False),
    (190, Disconnected, ErrorClass.AUTH, None, None, False),
    (0, Disconnected, ErrorClass.AUTH, None, None, False),
    (10, Disconnected, ErrorClass.AUTH, None, None, False),
    (200, Disconnected, ErrorClass.AUTH, None, None, False),
    (131031, Disconnected, ErrorClass.AUTH, None, None, False),
]


@pytest.mark.parametrize(
    ("code", "kind", "error_class", "channel_wide", "pause", "opt_out"), ERROR_TABLE
)
def test_each_error_code_maps_to_its_class(
    sim_server, sim, code, kind, error_class, channel_wide, pause, opt_out
):
    sim.force(code)
    outcome = send(adapter(sim_server), "text", {"text": "hi"})
    assert isinstance(outcome, kind), outcome
    assert outcome.code == str(code)
    assert outcome.text  # the provider's words, kept for the audit trail
    if isinstance(outcome, Retry):
        assert (outcome.error_class, outcome.channel_wide, outcome.after) == (
            error_class,
            channel_wide,
            pause,
        )
    if isinstance(outcome, Fail):
        assert (outcome.error_class, outcome.opt_out) == (error_class, opt_out)


def test_free_form_outside_the_window_is_held_not_failed(sim_server, sim):
    sim.user(ANNA, last_inbound_ago_seconds=25 * 3600)
    outcome = send(adapter(sim_server), "text", {"text": "hi"})
    assert isinstance(outcome, Hold) and outcome.code == "131047"
    # a template is allowed outside the window
    template = {"template_name": "hello_world", "language": "en_US", "params": {}}
    assert isinstance(send(adapter(sim_server), "template", template), Sent)


def test_expired_token_disconnects_the_channel(sim_server, sim):
    outcome = send(adapter(sim_server, token="expired-token"), "text", {"text": "hi"})
    assert isinstance(outcome, Disconnected) and outcome.code == "190"


@pytest.mark.process  # connects to a closed port
def test_network_failure_is_transient():
    dead = adapter(type("S", (), {"url": f"http://127.0.0.1:{free_port()}"})())
    outcome = send(dead, "text", {"text": "hi"})
    assert isinstance(outcome, Retry) and outcome.error_class == ErrorClass.TRANSIENT


def test_a_template_no_longer_approved_is_not_handed_over(sim_server, sim):
    payload = {
        "template_name": "hde_first_contact",
        "language": "ru",
        "params": {"1": "A", "2": "1"},
    }
    outcome = send(adapter(sim_server), "template", payload, {"template_status": "PAUSED"})
    assert isinstance(outcome, Fail) and outcome.error_class == ErrorClass.TEMPLATE_REJECTED
    assert "PAUSED" in outcome.text
    assert sim.sends() == []


def test_paused_template_at_the_provider_is_rejected(sim_server, sim):
    payload = {"template_name": "feedback_request", "language": "ru", "params": {"1": "A"}}
    outcome = send(adapter(sim_server), "template", payload)
    assert isinstance(outcome, Fail) and outcome.code == "132015"


def test_connection_check_uses_the_phone_number_endpoint(sim_server, sim):
    check = asyncio.run(adapter(sim_server).check_connection())
    assert check.ok and "HDE Sandbox" in check.detail
    call = sim.calls()[-1]
    assert call["path"] == f"/sim/meta/v23.0/{PHONE_NUMBER_ID}"
    bad = asyncio.run(adapter(sim_server, token="invalid").check_connection())
    assert not bad.ok and "access token" in bad.detail


def test_template_listing_follows_the_cursor_pages(sim_server, sim):
    sim.config(template_page_size=2)
    try:
        templates = asyncio.run(adapter(sim_server).list_templates())
    finally:
        sim.config(template_page_size=5)
    assert len(templates) == 9
    assert {t.status for t in templates} == {
        "APPROVED",
        "PENDING",
        "REJECTED",
        "PAUSED",
        "DISABLED",
    }
    pages = [c for c in sim.calls() if c["path"].endswith("/message_templates")]
    assert len(pages) == 5
    assert all(c["path"] == f"/sim/meta/v23.0/{WABA_ID}/message_templates" for c in pages)
    assert "after" not in pages[0]["query"] and all("after" in c["query"] for c in pages[1:])
    named = next(t for t in templates if t.name == "order_update")
    assert named.parameter_format == "NAMED"


# -- webhooks (parsing) -------------------------------------------------------------------


def test_inbound_message_parses_to_an_e164_address():
    (event,) = parse_webhook_body(fixture("inbound_text.json"))
    assert isinstance(event, InboundEvent)
    assert (event.address, event.display_name, event.phone) == (ANNA, "Анна Смирнова", ANNA)
    assert event.text.startswith("Здравствуйте")
    assert int(event.at.timestamp()) == 1764150000


def test_button_reply_text_is_kept():
    (event,) = parse_webhook_body(fixture("inbound_button.json"))
    assert event.text == "Да, слушаю"


@pytest.mark.parametrize(
    ("name", "status", "code", "window_closed", "opt_out"),
    [
        ("status_sent.json", S.SENT, None, False, False),
        ("status_delivered.json", S.DELIVERED, None, False, False),
        ("status_read.json", S.READ, None, False, False),
        ("status_failed_131047.json", S.FAILED, "131047", True, False),
        ("status_failed_131050.json", S.FAILED, "131050", False, True),
        ("status_failed_131026.json", S.FAILED, "131026", False, False),
    ],
)
def test_statuses_parse(name, status, code, window_closed, opt_out):
    (event,) = parse_webhook_body(fixture(name))
    assert isinstance(event, StatusUpdate)
    assert (event.provider_message_id, event.status, event.error_code) == (WAMID, status, code)
    assert (event.window_closed, event.opt_out, event.recipient) == (window_closed, opt_out, ANNA)


def test_value_errors_are_not_events():
    assert parse_webhook_body(fixture("value_errors.json")) == []


def test_signature_covers_the_raw_body():
    a = adapter(type("S", (), {"url": "http://x"})())
    body = json.dumps(fixture("inbound_text.json")).encode()
    good = signature_header(APP_SECRET, body)
    assert a.verify_webhook(WebhookRequest("POST", {"x-hub-signature-256": good}, {}, body))
    assert not a.verify_webhook(
        WebhookRequest("POST", {"x-hub-signature-256": good}, {}, body + b" ")
    )
    assert not a.verify_webhook(WebhookRequest("POST", {}, {}, body))


# -- webhooks through our receiver --------------------------------------------------------


@pytest.fixture
def receiver(app, tmp_path):
    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    provision_meta(app, tmp_path, server.url)
    yield server
    server.stop()


def _counts(app):
    with app.db.reader() as s:
        return (
            s.scalar(select(func.count()).select_from(InboundMessage)),
            s.scalar(select(func.count()).select_from(ContactIdentity)),
        )


def test_signed_inbound_is_recorded_with_its_window(app, receiver):
    body = json.dumps(fixture("inbound_text.json")).encode()
    assert signed_post(f"{receiver.url}/webhooks/wa", body).status_code == 200
    with app.db.reader() as s:
        who = s.scalar(select(ContactIdentity).where(ContactIdentity.address == ANNA))
        assert who is not None and who.display_name == "Анна Смирнова"
        assert int(who.last_inbound_at.timestamp()) == 1764150000


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_bad_signature_is_401_and_nothing_is_recorded(app, receiver, secret):
    body = json.dumps(fixture("inbound_text.json")).encode()
    url = f"{receiver.url}/webhooks/wa"
    if secret is None:
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        response = signed_post(url, body, secret)
    assert response.status_code == 401
    assert _counts(app) == (0, 0)


def test_redelivered_inbound_is_recorded_once(app, receiver):
    body = json.dumps(fixture("inbound_text.json")).encode()
    for _ in range(3):
        assert signed_post(f"{receiver.url}/webhooks/wa", body).status_code == 200
    assert _counts(app) == (1, 1)


def test_signed_but_malformed_body_is_ignored_with_200(app, receiver):
    # Meta redelivers a webhook that is not answered 200 for days: log it, record nothing
    assert signed_post(f"{receiver.url}/webhooks/wa", b'{"object": "page"}').status_code == 200
    assert _counts(app) == (0, 0)


def _sent_message(app, channel_name="wa"):
    with app.db.transaction() as s:
        from hde_core.services.channels import channel_by_name
        from hde_core.services.contacts import find_or_create_identity

        channel = channel_by_name(s, channel_name)
        who = find_or_create_identity(s, channel, ANNA)
        ticket = Ticket(
            subject="s", body="b", channel_id=channel.id, created_by="t", identity_id=who.id
        )
        s.add(ticket)
        s.flush()
        m = Message(
            ticket_id=ticket.id,
            channel_id=channel.id,
            identity_id=who.id,
            recipient=ANNA,
            kind="text",
            status=S.SENT.value,
            payload={"text": "b"},
            idempotency_key=f"t{ticket.id}",
            provider_message_id=WAMID,
        )
        s.add(m)
        s.flush()
        return m.id


def _post_fixture(receiver, name):
    body = json.dumps(fixture(name)).encode()
    assert signed_post(f"{receiver.url}/webhooks/wa", body).status_code == 200


def test_out_of_order_statuses_only_move_forward(app, receiver):
    mid = _sent_message(app)
    _post_fixture(receiver, "status_read.json")
    _post_fixture(receiver, "status_delivered.json")  # late: changes nothing
    _post_fixture(receiver, "status_read.json")  # redelivered: changes nothing
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert m.status == S.READ.value
        assert int(m.read_at.timestamp()) == 1764150110
        assert int(m.delivered_at.timestamp()) == 1764150110  # "read" implies delivered


def test_failed_131047_holds_the_message(app, receiver):
    mid = _sent_message(app)
    _post_fixture(receiver, "status_failed_131047.json")
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert (m.status, m.error_class, m.error_code) == (S.HELD.value, "window_closed", "131047")


def test_failed_131050_fails_and_records_the_opt_out(app, receiver):
    mid = _sent_message(app)
    _post_fixture(receiver, "status_failed_131050.json")
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert (m.status, m.error_code) == (S.FAILED.value, "131050")
        who = s.get(ContactIdentity, m.identity_id)
        assert who.opted_out_at is not None


def test_hub_challenge_handshake(app, receiver):
    url = f"{receiver.url}/webhooks/wa"
    ok = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = httpx.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    )
    assert wrong.status_code == 403
    assert httpx.get(url).status_code == 405


def test_a_missing_credential_is_a_plain_connection_error():
    config = ChannelConfig(1, "wa", ChannelKind.WA_BUSINESS, Provider.META_CLOUD, "http://x", {})
    check = asyncio.run(MetaCloudAdapter(config).check_connection())
    assert not check.ok and "phone_number_id" in check.detail


# -- limits, checked before any call (issue 15.4) -----------------------------------------


def test_text_over_4096_characters_is_refused_before_the_call(sim_server, sim):
    outcome = send(adapter(sim_server), "text", {"text": "я" * 4097})
    assert isinstance(outcome, Fail) and outcome.code == "text_too_long"
    assert outcome.error_class == ErrorClass.INVALID_REQUEST
    assert sim.sends() == []  # the provider never saw it (it would answer 100)
    assert isinstance(send(adapter(sim_server), "text", {"text": "я" * 4096}), Sent)


def test_the_simulator_refuses_a_parameter_with_a_line_break_like_meta(sim_server, sim):
    body = {
        "messaging_product": "whatsapp",
        "to": ANNA.lstrip("+"),
        "type": "template",
        "template": {
            "name": "hde_first_contact",
            "language": {"code": "ru"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Анна\nСмирнова"},
                        {"type": "text", "text": "1"},
                    ],
                }
            ],
        },
    }
    answer = httpx.post(
        f"{sim_server.url}/sim/meta/v23.0/{PHONE_NUMBER_ID}/messages",
        json=body,
        headers={"Authorization": "Bearer sandbox-token"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 132018


def test_template_parameters_are_normalised_as_meta_asks(sim_server, sim):
    """An Excel cell with line breaks, tabs and runs of spaces still sends (132018)."""
    payload = {
        "template_name": "hde_first_contact",
        "language": "ru",
        "params": {"1": "Анна\r\nСмирнова\tИвановна", "2": "A      17\n"},
        "parameter_format": "POSITIONAL",
    }
    assert isinstance(send(adapter(sim_server), "template", payload), Sent)
    params = sim.sends()[0]["json"]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Анна Смирнова Ивановна", "A    17"]


def _failed_with(code: int) -> bytes:
    body = fixture("status_failed_131026.json")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]["code"] = code
    return json.dumps(body).encode()


def test_failed_131049_by_webhook_is_retried_hours_later_not_failed(app, receiver):
    """Issue 15.2: a webhook failure reads the same table as the send call."""
    mid = _sent_message(app)
    assert signed_post(f"{receiver.url}/webhooks/wa", _failed_with(131049)).status_code == 200
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert (m.status, m.error_class, m.error_code) == ("retrying", "transient", "131049")
        waited = m.next_attempt_at.timestamp() - 1764150120
        assert waited == 6 * 3600  # Meta chose not to deliver: hours, as the send path waits
        assert s.get(ContactIdentity, m.identity_id).opted_out_at is None


def test_failed_132001_by_webhook_is_template_rejected(app, receiver):
    mid = _sent_message(app)
    assert signed_post(f"{receiver.url}/webhooks/wa", _failed_with(132001)).status_code == 200
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert (m.status, m.error_class) == ("failed", "template_rejected")


def test_a_transient_webhook_failure_out_of_attempts_fails(app, receiver):
    mid = _sent_message(app)
    with app.db.transaction() as s:
        s.get(Message, mid).attempts = 8  # the channel's max_attempts
    assert signed_post(f"{receiver.url}/webhooks/wa", _failed_with(131000)).status_code == 200
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert (m.status, m.error_class, m.error_code) == ("failed", "transient", "131000")
