"""A per-ticket reply address (``support+t<ticket>@…``), when the email channel asks for it."""

from __future__ import annotations

import smtplib
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select, update

from hde_core.bootstrap import App
from hde_core.db.models import Channel, InboundMessage
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.domain.outbox import plus_address
from hde_core.mailin.server import MailInServer
from hde_core.sandbox.smtp_sink import SmtpSink, wait_for_mail
from hde_core.services.tickets import TicketRequest
from tests.mailin import mails
from tests.services.helpers import provision_email


def test_plus_address() -> None:
    assert plus_address("support@hde.example", 12) == "support+t12@hde.example"
    assert plus_address("support+sales@hde.example", 12) == "support+t12@hde.example"


def send_ticket(app: App, sink: SmtpSink) -> tuple[int, str, str]:
    result = initiate_ticket(
        app,
        TicketRequest(
            channel="email",
            to="anna@client.example",
            subject="Заказ",
            body="Готов.",
            fields={"order_id": "A-1"},
        ),  # fmt: skip
        "alice",
    )
    (mail,) = wait_for_mail(sink.directory, 1)
    headers = message_from_bytes(mail.path.read_bytes(), policy=policy.default)
    return result.ticket_id, str(headers["Reply-To"]), mail.message_id


@pytest.mark.process
def test_replies_go_to_the_ticket_address_and_name_the_ticket(
    app: App, tmp_path, smtp_sink: SmtpSink
) -> None:
    provision_email(app, tmp_path, smtp_sink.url)
    with app.db.transaction() as s:
        s.execute(
            update(Channel)
            .where(Channel.name == "email")
            .values(settings={"reply_plus_address": True})
        )
    ticket_id, reply_to, message_id = send_ticket(app, smtp_sink)
    assert reply_to == f"support+t{ticket_id}@company.com"
    with MailInServer(app) as server, smtplib.SMTP(server.host, server.port) as client:
        # a mail program that dropped In-Reply-To: the address still names the ticket
        client.sendmail(
            "anna@client.example", [reply_to], mails.reply(to=reply_to, in_reply_to=None)
        )
    with app.db.reader() as s:
        row = s.scalars(select(InboundMessage)).one()
    assert row.raw["ticket_hint"] == ticket_id
    assert message_id  # our email had its Message-ID as ever


@pytest.mark.process
def test_the_mailbox_itself_by_default(app: App, tmp_path, smtp_sink: SmtpSink) -> None:
    provision_email(app, tmp_path, smtp_sink.url)
    _, reply_to, _ = send_ticket(app, smtp_sink)
    assert reply_to == "support@company.com"


@pytest.mark.process
def test_a_plus_address_that_is_not_ours_names_no_ticket(
    app: App, tmp_path, smtp_sink: SmtpSink
) -> None:
    provision_email(app, tmp_path, smtp_sink.url)
    raw = mails.reply(to="support@company.com", headers={"Cc": "boss+t7@client.example"})
    with MailInServer(app) as server, smtplib.SMTP(server.host, server.port) as client:
        client.sendmail("anna@client.example", ["support@company.com"], raw)
    with app.db.reader() as s:
        row = s.scalars(select(InboundMessage)).one()
    assert row.raw["ticket_hint"] is None
