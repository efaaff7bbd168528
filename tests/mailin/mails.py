"""Realistic inbound emails for the tests: replies, auto-replies, bounces (as bytes)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

OUR_ID = "<174000.1.abc@hde.example>"


def reply(
    *,
    sender: str = "Анна Петрова <anna@client.example>",
    to: str = "support@hde.example",
    in_reply_to: str | None = OUR_ID,
    references: str | None = None,
    text: str = "Да, удобно завтра в 10.\n\n-- \nАнна\n",
    html: str | None = None,
    subject: str = "Re: Ваша заявка",
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="client.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references or in_reply_to:
        msg["References"] = references or in_reply_to or ""
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        msg.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return msg.as_bytes(policy=policy.SMTP)


def out_of_office(in_reply_to: str = OUR_ID) -> bytes:
    return reply(
        subject="Автоответ: Ваша заявка",
        text="Я в отпуске до 14 декабря. По срочным вопросам пишите коллеге.",
        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
        in_reply_to=in_reply_to,
    )


def bounce(
    original_id: str = OUR_ID,
    recipient: str = "nobody@client.example",
    diagnostic: str = "smtp; 550 5.1.1 <nobody@client.example>: Recipient address rejected: User unknown",
    action: str = "failed",
) -> bytes:
    """A DSN as Postfix writes it (RFC 3464): text, delivery-status, the original headers."""
    return (
        "From: MAILER-DAEMON@mx.hde.example (Mail Delivery System)\r\n"
        "To: support@hde.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.hde.example')}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUND"\r\n'
        "\r\n"
        "--BOUND\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.hde.example.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n"
        "--BOUND\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.hde.example\r\n"
        "Arrival-Date: Mon,  7 Dec 2026 10:00:00 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {'5.1.1' if action == 'failed' else '4.4.1'}\r\n"
        "Remote-MTA: dns; mx.client.example\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n"
        "--BOUND\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: HDE <support@hde.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Ваша заявка\r\n"
        f"Message-ID: {original_id}\r\n"
        "\r\n"
        "--BOUND--\r\n"
    ).encode()
