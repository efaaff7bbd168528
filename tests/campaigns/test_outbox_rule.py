"""Issue 13.1: one ticket → messages rule. A list row of a bulk run and the same ticket
made by hand get the same message: kind, status, channel, recipient, identity and payload
(only what names the ticket itself differs: its number, and the email's own Message-ID)."""

from __future__ import annotations

from sqlalchemy import select

from hde_core.db.models import Message
from hde_core.services import campaigns
from hde_core.services.tickets import TicketRequest, create_ticket
from tests.services.helpers import provision_email

LIST = "Email;Имя;order_id\nanna@example.com;Анна;A-1\n".encode()


def comparable(m: Message) -> dict:
    payload = dict(m.payload)
    assert payload.pop("message_id").endswith("@company.com>")  # each email its own
    payload["subject"] = payload["subject"].replace(f"[#{m.ticket_id}]", "[#N]")
    assert payload["headers"] == {"X-HDE-Ticket": str(m.ticket_id)}
    payload.pop("headers")
    return {
        "kind": m.kind,
        "status": m.status,
        "channel_id": m.channel_id,
        "identity_id": m.identity_id,
        "recipient": m.recipient,
        "category": m.category,
        "after_message_id": m.after_message_id,
        "attempts": m.attempts,
        "payload": payload,
    }


def test_a_list_row_and_the_same_ticket_by_hand_get_the_same_message(app, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    result = campaigns.launch(
        app,
        campaigns.SendRequest(
            source=LIST,
            filename="clients.csv",
            channels=["email"],
            subject="Заказ {{ order_id }}",
            body="{{ Имя }}, ваш заказ {{ order_id }} готов.",
        ),
        "lead",
    )
    single = create_ticket(
        app,
        TicketRequest(
            channel="email",
            to="anna@example.com",
            subject="Заказ A-1",
            body="Анна, ваш заказ A-1 готов.",
            fields={"order_id": "A-1"},
            contact_name="Анна",
        ),
        "lead",
    )
    with app.db.reader() as s:
        bulk_msg = s.scalars(select(Message).where(Message.campaign_id.is_not(None))).one()
        hand_msg = s.scalars(select(Message).where(Message.ticket_id == single.ticket_id)).one()
        assert bulk_msg.ticket_id != hand_msg.ticket_id
        assert comparable(bulk_msg) == comparable(hand_msg)
        assert "Hello Анна! Анна, ваш заказ A-1 готов. (order A-1" in hand_msg.payload["text"]
    # the keys differ on purpose: once per campaign and recipient / once per ticket
    assert bulk_msg.idempotency_key.startswith("campaign:")
    assert hand_msg.idempotency_key == f"ticket:{single.ticket_id}:email"
    assert result.messages_created == 1
