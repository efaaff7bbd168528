"""The demo's simulated email clients answer our first emails through `hde mail-in`."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import ContactIdentity, InboundMessage, Message
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.mailin.server import MailInServer
from hde_core.sandbox.email_clients import EmailClients, behaviour
from hde_core.sandbox.smtp_sink import SmtpSink
from hde_core.services.tickets import TicketRequest
from tests.services.helpers import provision_email

pytestmark = pytest.mark.process


def test_who_answers_is_decided_by_the_address() -> None:
    assert behaviour("reply.ann@x.example", "<1@h>") == "reply"
    assert behaviour("ooo-boris@x.example", "<1@h>") == "auto_reply"
    assert behaviour("dsn.full@x.example", "<1@h>") == "bounce"
    assert behaviour("silent-reply@x.example", "<1@h>") == "none"
    assert behaviour("anyone@x.example", "<1@h>", probability=0) == "none"
    assert behaviour("anyone@x.example", "<1@h>", probability=1) == "reply"


def test_simulated_clients_reply_auto_reply_and_bounce(
    app: App, tmp_path, smtp_sink: SmtpSink
) -> None:
    provision_email(app, tmp_path, smtp_sink.url)
    with MailInServer(app) as server:
        clients = EmailClients(smtp_sink.directory, server.port, delay=0.1, probability=0)
        clients.start()
        try:
            sent = {}
            for to in ("reply.ann@client.example", "autoreply@client.example",
                       "dsn.full@client.example", "silent@client.example", "plain@client.example"):  # fmt: skip
                result = initiate_ticket(
                    app,
                    TicketRequest(
                        channel="email",
                        to=to,
                        subject="Ваш заказ",
                        body="Готов.",
                        fields={"order_id": "A-1"},
                    ),  # fmt: skip
                    "alice",
                )
                assert result.status == "sent"
                sent[to] = result.messages[0].id
            deadline = time.monotonic() + 30
            while clients.sent < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # nobody else answers
        finally:
            clients.stop()
    assert clients.sent == 3
    with app.db.reader() as s:
        rows = {
            address: row
            for row, address in s.execute(
                select(InboundMessage, ContactIdentity.address).join(
                    ContactIdentity, ContactIdentity.id == InboundMessage.identity_id
                )
            )
        }
        assert set(rows) == {"reply.ann@client.example", "autoreply@client.example"}
        reply = rows["reply.ann@client.example"]
        ours = s.get(Message, sent["reply.ann@client.example"])
        assert ours is not None and reply.raw["reply_to"] == [ours.provider_message_id]
        assert "написал(а)" not in reply.text and reply.text.startswith(
            ("Здравствуйте", "Добрый", "Спасибо")
        )
        assert "написал(а)" in reply.raw["original"]
        assert rows["autoreply@client.example"].raw["auto_reply"] is True
        bounced = s.get(Message, sent["dsn.full@client.example"])
        assert bounced is not None and bounced.status == "failed"
        assert bounced.error_text == "552 5.2.2 <dsn.full@client.example>: Mailbox full"
