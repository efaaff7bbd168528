"""Telegram, Viber and Green-API webhooks through the real receiver over HTTP: documented
payloads with good and bad signatures, redelivery, out-of-order statuses, opt-outs."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, ContactIdentity, InboundMessage, Message
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.services.channel_checks import register_webhooks
from hde_core.services.tickets import TicketRequest
from tests.channels.messengers import (
    control,
    fixture,
    fixture_bytes,
    messengers,
    post_hook,
    sim_config,
    wait_until,
)

#: (channel, a documented inbound payload, the address it records)
INBOUND = [
    ("telegram", ("telegram", "update_start"), "1111111"),
    ("viber", ("viber", "message"), "xy5/5y6O81+/kbWHpLhBoA=="),
    ("whatsapp", ("greenapi", "incoming_text"), "+79123456789"),
]


@pytest.fixture
def env(app, tmp_path):
    with messengers(app, tmp_path) as info:
        yield info


def count(app, model, **where):
    with app.db.reader() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


def identity(app, address):
    with app.db.reader() as s:
        return s.scalar(select(ContactIdentity).where(ContactIdentity.address == address))


@pytest.mark.parametrize(("channel", "payload", "address"), INBOUND)
def test_a_signed_inbound_message_records_that_the_client_wrote(
    app, env, channel, payload, address
):
    response = post_hook(env, channel, fixture_bytes(*payload))
    assert response.status_code == 200
    who = identity(app, address)
    assert who is not None and who.first_inbound_at is not None
    assert count(app, InboundMessage) == 1


@pytest.mark.parametrize(("channel", "payload", "address"), INBOUND)
@pytest.mark.parametrize("forgery", ["wrong", "missing"])
def test_a_bad_or_missing_signature_is_401_and_records_nothing(
    app, env, channel, payload, address, forgery
):
    body = fixture_bytes(*payload)
    headers = (
        {}
        if forgery == "missing"
        else {
            "X-Telegram-Bot-Api-Secret-Token": "guess",
            "X-Viber-Content-Signature": "0" * 64,
            "Authorization": "Bearer guess",
        }
    )
    assert post_hook(env, channel, body, headers).status_code == 401
    assert identity(app, address) is None
    assert count(app, InboundMessage) == 0


def test_a_viber_signature_over_other_bytes_is_refused(app, env):
    body = fixture_bytes("viber", "message")
    from tests.channels.messengers import auth_headers

    headers = auth_headers(env, "viber", body)
    tampered = body.replace(b"incoming msg", b"incoming MSG")
    assert post_hook(env, "viber", tampered, headers).status_code == 401


@pytest.mark.parametrize(("channel", "payload", "address"), INBOUND)
def test_redelivery_records_the_message_once(app, env, channel, payload, address):
    body = fixture_bytes(*payload)
    assert post_hook(env, channel, body).status_code == 200
    assert post_hook(env, channel, body).status_code == 200
    assert count(app, InboundMessage) == 1
    assert count(app, AuditEvent, event="inbound_received") == 1


@pytest.mark.parametrize(
    ("channel", "status"),
    # Green-API redelivers every minute for a day until it gets 200: a bad body is ignored
    [("telegram", 400), ("viber", 400), ("whatsapp", 200)],
)
def test_a_malformed_body_is_refused_or_ignored(app, env, channel, status):
    body = b'{"neither": "update nor callback"}'
    assert post_hook(env, channel, body).status_code == status
    assert post_hook(env, channel, b"not json at all").status_code == status
    assert count(app, InboundMessage) == 0


@pytest.mark.parametrize(
    ("channel", "start", "stop", "address"),
    [
        ("telegram", "update_start", "update_blocked", "1111111"),
        ("viber", "subscribed", "unsubscribed", "01234567890A="),
    ],
)
def test_blocking_the_bot_or_unsubscribing_is_an_opt_out(app, env, channel, start, stop, address):
    provider = "telegram" if channel == "telegram" else "viber"
    assert post_hook(env, channel, fixture_bytes(provider, start)).status_code == 200
    assert post_hook(env, channel, fixture_bytes(provider, stop)).status_code == 200
    who = identity(app, address)
    assert who.opted_out_at is not None
    assert post_hook(env, channel, fixture_bytes(provider, stop)).status_code == 200  # again
    assert count(app, AuditEvent, event="opted_out") == 1


def test_telegram_unblock_lifts_the_opt_out(app, env):
    for name in ("update_start", "update_blocked", "update_unblocked"):
        assert post_hook(env, "telegram", fixture_bytes("telegram", name)).status_code == 200
    assert identity(app, "1111111").opted_out_at is None


def test_a_stop_word_on_whatsapp_is_an_opt_out(app, env):
    data = fixture("greenapi", "incoming_text")
    data["messageData"]["textMessageData"]["textMessage"] = "СТОП"
    assert post_hook(env, "whatsapp", json.dumps(data).encode()).status_code == 200
    assert identity(app, "+79123456789").opted_out_at is not None


def _sent_message(app, env, channel, to, sim_write):
    """A real message on ``channel``: the client writes through the simulator (its webhook
    reaches our receiver), then a ticket is initiated and sent to the simulator."""
    assert all(r.ok for r in register_webhooks(app, env["url"], [channel], actor="test"))
    sim_write()
    assert wait_until(lambda: identity(app, to) is not None)
    if channel == "whatsapp":
        from hde_core.services.channel_settings import set_initiation

        set_initiation(app, "whatsapp", True, "lead", acknowledge_risk=True)
    result = initiate_ticket(
        app, TicketRequest(channel=channel, to=to, subject="Заказ", body="Заказ готов"), "agent"
    )
    assert result.status == "sent", result.messages
    return result.messages[-1]


def _status(app, message_id):
    with app.db.reader() as s:
        return s.get(Message, message_id).status


def test_viber_statuses_out_of_order_only_move_forward(app, env):
    sim_config(env, "viber", status_delay_s=3600)  # the simulator's own statuses stay away
    user = "oooUser0001AA=="
    message = _sent_message(
        app, env, "viber", user, lambda: control(env["viber"], f"users/{user}/write", text="Hi")
    )
    token = int(message.provider_message_id)
    seen = fixture("viber", "seen") | {"message_token": token, "user_id": user}
    delivered = fixture("viber", "delivered") | {"message_token": token, "user_id": user}
    failed = fixture("viber", "failed") | {"message_token": token, "user_id": user}
    for payload in (seen, delivered, seen, failed):
        assert post_hook(env, "viber", payload).status_code == 200
    assert _status(app, message.id) == "read"
    assert count(app, AuditEvent, event="status_read", message_id=message.id) == 1
    assert count(app, AuditEvent, event="status_delivered", message_id=message.id) == 0


def test_green_api_statuses_out_of_order_only_move_forward(app, env):
    sim_config(env, "greenapi", status_delay_s=3600)
    phone = "+79123456701"
    message = _sent_message(
        app,
        env,
        "whatsapp",
        phone,
        lambda: control(
            env["greenapi"], f"contacts/{phone}/write", instance=env["instance"], text="Привет"
        ),
    )
    chat, id_message = message.provider_message_id.split("_", 1)
    assert chat == "79123456701@c.us"

    def status(name):
        data = fixture("greenapi", f"status_{name}")
        return data | {"chatId": chat, "idMessage": id_message}

    for name in ("read", "delivered", "sent", "read"):
        assert post_hook(env, "whatsapp", status(name)).status_code == 200
    assert _status(app, message.id) == "read"
    assert count(app, AuditEvent, event="status_read", message_id=message.id) == 1


def test_green_api_no_account_fails_the_message_and_opts_out(app, env):
    sim_config(env, "greenapi", status_delay_s=3600)
    phone = "+79123456702"
    message = _sent_message(
        app,
        env,
        "whatsapp",
        phone,
        lambda: control(env["greenapi"], f"contacts/{phone}/write", instance=env["instance"]),
    )
    chat, id_message = message.provider_message_id.split("_", 1)
    payload = fixture("greenapi", "status_noAccount") | {"chatId": chat, "idMessage": id_message}
    assert post_hook(env, "whatsapp", payload).status_code == 200
    assert _status(app, message.id) == "failed"
    assert identity(app, phone).opted_out_at is not None
