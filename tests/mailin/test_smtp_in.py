"""`hde mail-in` over real SMTP and LMTP (aiosmtpd), recording into SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import smtplib
import socket

import pytest
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Department, InboundMessage, Message
from hde_core.mailin.server import MailInServer
from tests.mailin import mails
from tests.mailin.conftest import SentEmail

pytestmark = pytest.mark.process


def inbound_rows(app: App) -> list[InboundMessage]:
    with app.db.reader() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def send(server: MailInServer, raw: bytes, rcpt: str = "support@company.com") -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.sendmail("anna@client.example", [rcpt], raw)


def test_a_reply_over_smtp_is_stored_with_what_finds_its_ticket(app: App, sent: SentEmail) -> None:
    raw = mails.reply(
        in_reply_to=sent.provider_message_id,
        text="Спасибо, заберу завтра.\n\n7 дек. 2026 г., в 10:15, First line <support@company.com>:\n> Заказ готов\n",
        attachment=("фото.pdf", b"x" * 300),
    )
    with MailInServer(app) as server:
        send(server, raw)
    (row,) = inbound_rows(app)
    assert row.text == "Спасибо, заберу завтра."
    assert row.raw["source"] == "email"
    assert row.raw["attachments"] == [{"name": "фото.pdf", "type": "application/pdf", "size": 300}]
    assert "Заказ готов" in row.raw["original"]
    with app.db.reader() as s:
        ours = s.get(Message, sent.message_id)
        assert ours is not None
        # the reply names our email exactly as we stored its Message-ID
        assert row.channel_id == ours.channel_id
        assert row.raw["reply_to"][0] == sent.provider_message_id == ours.provider_message_id


def test_the_same_email_delivered_twice_is_stored_once(app: App, sent: SentEmail) -> None:
    raw = mails.reply(in_reply_to=sent.provider_message_id)
    with MailInServer(app) as server:
        send(server, raw)
        send(server, raw)
    assert len(inbound_rows(app)) == 1


def test_a_bounce_fails_our_message_with_the_servers_reason(app: App, sent: SentEmail) -> None:
    with MailInServer(app) as server:
        send(
            server,
            mails.bounce(original_id=sent.provider_message_id, recipient="anna@client.example"),
        )
    with app.db.reader() as s:
        ours = s.get(Message, sent.message_id)
        assert ours is not None
        assert ours.status == "failed"
        assert ours.error_text is not None and "User unknown" in ours.error_text
        assert ours.error_text.startswith("550 5.1.1")
    assert inbound_rows(app) == []  # a bounce is not a reply


def test_an_auto_reply_is_kept_and_marked_not_a_bounce(app: App, sent: SentEmail) -> None:
    with MailInServer(app) as server:
        send(server, mails.out_of_office(in_reply_to=sent.provider_message_id))
    (row,) = inbound_rows(app)
    assert row.raw["auto_reply"] is True
    with app.db.reader() as s:
        ours = s.get(Message, sent.message_id)
        assert ours is not None and ours.status != "failed"


def test_a_malformed_email_is_refused_with_a_log_line_and_the_next_one_goes_through(
    app: App, sent: SentEmail, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hde.mailin")
    with MailInServer(app) as server, smtplib.SMTP(server.host, server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(
                "x@client.example", ["support@company.com"], b"Subject: x\r\n\r\nno sender\r\n"
            )
        assert refused.value.smtp_code == 550
        assert b"no readable sender" in refused.value.smtp_error
        client.sendmail(
            "anna@client.example",
            ["support@company.com"],
            mails.reply(in_reply_to=sent.provider_message_id),
        )
    assert len(inbound_rows(app)) == 1
    assert any("refused: no readable sender" in r.getMessage() for r in caplog.records)


def test_lmtp_answers_once_per_recipient(app: App, sent: SentEmail) -> None:
    """RFC 2033: after the data, one answer line per accepted recipient (smtplib's LMTP
    reads only one, so the conversation is spoken here line by line)."""
    raw = mails.reply(in_reply_to=sent.provider_message_id)
    with (
        MailInServer(app, lmtp=True) as server,
        socket.create_connection((server.host, server.port), timeout=10) as conn,
    ):
        lines = conn.makefile("rb")

        def say(command: bytes) -> bytes:
            conn.sendall(command + b"\r\n")
            return answer()

        def answer() -> bytes:
            while True:
                line = lines.readline()
                if line[3:4] != b"-":
                    return line

        assert answer().startswith(b"220")
        assert say(b"LHLO client.example").startswith(b"250")
        assert say(b"MAIL FROM:<anna@client.example>").startswith(b"250")
        assert say(b"RCPT TO:<support@company.com>").startswith(b"250")
        assert say(b"RCPT TO:<it@company.com>").startswith(b"250")
        assert say(b"DATA").startswith(b"354")
        conn.sendall(raw.rstrip(b"\r\n") + b"\r\n.\r\n")
        assert [answer()[:3], answer()[:3]] == [b"250", b"250"]
        assert say(b"QUIT").startswith(b"221")
    assert len(inbound_rows(app)) == 1


def test_mail_for_a_domain_not_ours_is_refused_at_rcpt(app: App, sent: SentEmail) -> None:
    with MailInServer(app) as server, smtplib.SMTP(server.host, server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("spam@x.example", ["victim@elsewhere.example"], mails.reply())
        assert refused.value.recipients["victim@elsewhere.example"][0] == 550
    assert inbound_rows(app) == []


def test_a_new_email_lands_on_the_channel_of_the_department_it_was_sent_to(
    app: App, sent: SentEmail
) -> None:
    with app.db.transaction() as s:
        it = s.scalars(select(Department).where(Department.name == "IT")).one()
        first = s.scalars(select(Channel).where(Channel.name == "email")).one()
        s.add(Channel(name="email-it", kind="email", provider="smtp", department_id=it.id))
    with MailInServer(app) as server:
        send(server, mails.reply(to="it@company.com", in_reply_to=None), rcpt="it@company.com")
        send(server, mails.reply(in_reply_to=sent.provider_message_id), rcpt="it@company.com")
    with app.db.reader() as s:
        rows = s.execute(
            select(InboundMessage.raw, Channel.name).join(
                Channel, Channel.id == InboundMessage.channel_id
            )
        ).all()
    by_kind = {"reply" if raw["reply_to"] else "new": name for raw, name in rows}
    # the new one by the IT mailbox; the reply by the channel of the email it answers
    assert by_kind == {"new": "email-it", "reply": "email"}
    assert first.name == "email"
