"""Sandbox clients answer (issue 17.8): a simulated client of each messenger replies to our
first message, quoting it, through a signed webhook to the real receiver — and the reply
lands in the ticket it quotes, even one closed a moment ago (only the reply context may
re-open a ticket), so `make run` shows replies in their tickets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hde_core.db.models import InboundMessage, Ticket
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.services.channel_checks import register_webhooks
from hde_core.services.conversation.assign import set_status
from hde_core.services.tickets import TicketRequest
from tests.channels.messengers import control, messengers, sim_config, wait_until

QUICK = {"reply_probability": 1.0, "quote_probability": 1.0, "reply_delay_s": 0.5}


@pytest.fixture
def env(app, tmp_path):
    with messengers(app, tmp_path) as info:
        yield info


def client_writes(env, channel, to):
    if channel == "telegram":
        control(env["telegram"], f"users/{to}/write", bot_id=env["tg_bot_id"], text="/start")
    elif channel == "viber":
        control(env["viber"], f"users/{to}/write", text="Здравствуйте")
    else:
        control(env["greenapi"], f"contacts/{to}/write", instance=env["instance"], text="Привет")


def greeting(app):
    with app.db.reader() as s:
        return s.scalar(select(InboundMessage.ticket_id).order_by(InboundMessage.id).limit(1))


def attached(app, ticket_id):
    with app.db.reader() as s:
        return s.scalars(select(InboundMessage).where(InboundMessage.ticket_id == ticket_id)).all()


@pytest.mark.parametrize(
    ("channel", "sim", "to"),
    [
        ("telegram", "telegram", "555777"),
        ("viber", "viber", "oooQuote0001A=="),
        ("whatsapp", "greenapi", "+79123456788"),
    ],
)
def test_a_simulated_client_answers_quoting_our_message_into_its_ticket(app, env, channel, sim, to):
    assert all(r.ok for r in register_webhooks(app, env["url"], [channel], actor="test"))
    client_writes(env, channel, to)  # the greeting starts a ticket of its own
    assert wait_until(lambda: greeting(app), timeout=10)
    if channel == "whatsapp":
        from hde_core.services.channel_settings import set_initiation

        set_initiation(app, "whatsapp", True, "lead", acknowledge_risk=True)
    sim_config(env, sim, **QUICK)
    result = initiate_ticket(
        app, TicketRequest(channel=channel, to=to, subject="Заказ", body="Заказ готов"), "agent"
    )
    assert result.status == "sent", result.messages
    set_status(app, "agent", result.ticket_id, "closed")  # closed before the answer comes
    assert wait_until(lambda: attached(app, result.ticket_id), timeout=15)
    with app.db.reader() as s:
        assert s.get(Ticket, result.ticket_id).status == "replied"
        assert s.get(Ticket, greeting(app)).status == "replied"  # untouched by the answer
    assert len(attached(app, greeting(app))) == 1
