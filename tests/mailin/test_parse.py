"""Parsing inbound email: what a reply, an auto-reply and a bounce each become."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hde_core.domain import events as ev
from hde_core.domain.statuses import MessageStatus
from hde_core.mailin.parse import Malformed, parse_email
from tests.mailin import mails

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_reply_names_our_message_with_its_angle_brackets_and_shows_only_the_new_text() -> None:
    raw = mails.reply(
        references="<older@hde.example> " + mails.OUR_ID,
        text="Да, удобно завтра в 10.\n\nпн, 7 дек. 2026 г. в 10:15, HDE <support@hde.example>:\n> Здравствуйте!\n> Когда вам удобно?\n",
    )
    parsed = parse_email(raw, NOW)
    assert parsed.kind == "reply"
    (event,) = parsed.events
    assert isinstance(event, ev.InboundMessage)
    assert event.address == "anna@client.example"
    assert event.display_name == "Анна Петрова"
    assert event.reply_to == (mails.OUR_ID, "<older@hde.example>")
    assert event.text == "Да, удобно завтра в 10."
    assert "Когда вам удобно?" in (event.original or "")
    assert event.provider_message_id.startswith("<") and event.provider_message_id.endswith(">")
    assert event.auto_reply is False
    assert event.subject == "Re: Ваша заявка"


def test_attachments_are_listed_by_name_and_size() -> None:
    parsed = parse_email(mails.reply(attachment=("договор.pdf", b"%PDF" + b"x" * 2044)), NOW)
    (event,) = parsed.events
    assert isinstance(event, ev.InboundMessage)
    assert event.attachments == ("договор.pdf",)
    assert event.raw["attachments"] == [
        {"name": "договор.pdf", "type": "application/pdf", "size": 2048}
    ]


def test_an_html_only_reply_is_shown_as_text_without_the_quoted_part() -> None:
    msg = mails.reply(text="ignored")
    html = (
        "<html><head><style>p{color:red}</style></head><body><div>Спасибо,&nbsp;получили!</div>"
        '<div class="gmail_quote"><blockquote>Здравствуйте! Ваш заказ готов.</blockquote></div>'
        "</body></html>"
    )
    from email import message_from_bytes, policy

    m = message_from_bytes(msg, policy=policy.default)
    m.set_content(html, subtype="html")
    (event,) = parse_email(m.as_bytes(), NOW).events
    assert isinstance(event, ev.InboundMessage)
    assert event.text == "Спасибо, получили!"
    assert "Ваш заказ готов" in (event.original or "")


def test_a_per_ticket_reply_address_gives_the_ticket_hint() -> None:
    (event,) = parse_email(mails.reply(to="support+t4711@hde.example"), NOW).events
    assert isinstance(event, ev.InboundMessage)
    assert event.ticket_hint == 4711
    (plain,) = parse_email(mails.reply(), NOW).events
    assert isinstance(plain, ev.InboundMessage) and plain.ticket_hint is None


@pytest.mark.parametrize(
    "headers, subject",
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: Ваша заявка"),
        ({"X-Autoreply": "yes"}, "Re: Ваша заявка"),
        ({"Precedence": "auto_reply"}, "Re: Ваша заявка"),
        ({}, "Out of Office: Ваша заявка"),
        ({}, "Автоответ: Ваша заявка"),
        ({}, "Automatic reply: Ваша заявка"),
    ],
)
def test_auto_replies_are_marked(headers: dict[str, str], subject: str) -> None:
    parsed = parse_email(mails.reply(headers=headers, subject=subject), NOW)
    (event,) = parsed.events
    assert isinstance(event, ev.InboundMessage)
    assert event.auto_reply is True and parsed.kind == "auto_reply"


def test_auto_submitted_no_is_a_person() -> None:
    (event,) = parse_email(mails.reply(headers={"Auto-Submitted": "no"}), NOW).events
    assert isinstance(event, ev.InboundMessage) and event.auto_reply is False


def test_a_bounce_fails_the_original_message_with_the_servers_reason() -> None:
    parsed = parse_email(mails.bounce(), NOW)
    assert parsed.kind == "bounce"
    (event,) = parsed.events
    assert isinstance(event, ev.StatusUpdate)
    assert event.provider_message_id == mails.OUR_ID
    assert event.status == MessageStatus.FAILED
    assert event.error_code == "5.1.1"
    assert event.error_text == (
        "550 5.1.1 <nobody@client.example>: Recipient address rejected: User unknown"
    )
    assert event.recipient == "nobody@client.example"


def test_a_delayed_dsn_changes_nothing() -> None:
    parsed = parse_email(mails.bounce(action="delayed"), NOW)
    assert parsed.events == [] and parsed.kind == "bounce_delayed"


def test_a_message_without_message_id_gets_a_stable_one() -> None:
    raw = b"From: a@client.example\r\nTo: support@hde.example\r\nSubject: hi\r\n\r\nhello\r\n"
    first = parse_email(raw, NOW)
    assert first.message_id == parse_email(raw, NOW).message_id
    assert first.message_id.startswith("<")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"just some bytes that are not an email at all",
        b"From: not an address\r\nSubject: x\r\n\r\nbody\r\n",
        b"To: support@hde.example\r\nSubject: x\r\n\r\nno sender\r\n",
    ],
)
def test_malformed_email_is_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(Malformed) as info:
        parse_email(raw, NOW)
    assert str(info.value)


QMAIL_BOUNCE = (
    "From: MAILER-DAEMON@mx.client.example\r\n"
    "To: support@hde.example\r\n"
    "Subject: failure notice\r\n"
    "Message-ID: <qmail-1@mx.client.example>\r\n"
    "\r\n"
    "Hi. This is the qmail-send program at mx.client.example.\r\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
    "\r\n"
    "<nobody@client.example>:\r\n"
    "Remote host said: 550 5.1.1 <nobody@client.example>: User unknown\r\n"
    "\r\n"
    "--- Below this line is a copy of the message.\r\n"
    "\r\n"
    "From: HDE <support@hde.example>\r\n"
    f"Message-ID: {mails.OUR_ID}\r\n"
    "Subject: Ваша заявка\r\n"
    "\r\n"
    "Здравствуйте!\r\n"
).encode()


def test_a_plain_text_bounce_fails_the_message_it_quotes() -> None:
    parsed = parse_email(QMAIL_BOUNCE, NOW)
    assert parsed.kind == "bounce"
    (event,) = parsed.events
    assert isinstance(event, ev.StatusUpdate)
    assert event.provider_message_id == mails.OUR_ID
    assert event.error_text == "550 5.1.1 <nobody@client.example>: User unknown"


def test_a_daemon_message_without_a_quoted_id_is_an_auto_reply() -> None:
    raw = QMAIL_BOUNCE.replace(f"Message-ID: {mails.OUR_ID}".encode(), b"X-Nothing: 1")
    parsed = parse_email(raw, NOW)
    (event,) = parsed.events
    assert isinstance(event, ev.InboundMessage) and event.auto_reply is True
