"""Fixtures of the inbound email tests: an app with an email channel and a sent email."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hde_core.bootstrap import App
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.sandbox.smtp_sink import SmtpSink
from hde_core.services.tickets import TicketRequest
from tests.services.helpers import provision_email


@dataclass(frozen=True)
class SentEmail:
    ticket_id: int
    message_id: int
    provider_message_id: str  # the Message-ID of our email, "<…@company.com>"


@pytest.fixture
def sent(app: App, tmp_path, smtp_sink: SmtpSink) -> SentEmail:
    """A ticket whose first email went out through a real SMTP server."""
    provision_email(app, tmp_path, smtp_sink.url)
    result = initiate_ticket(
        app,
        TicketRequest(
            channel="email",
            to="anna@client.example",
            subject="Ваш заказ",
            body="Заказ готов к выдаче.",
            fields={"order_id": "A-42"},
            contact_name="Анна",
        ),
        "alice",
    )
    assert result.status == "sent"
    message = result.messages[0]
    assert message.provider_message_id
    return SentEmail(result.ticket_id, message.id, message.provider_message_id)
