"""Simulated email clients for the demo: some answer our first emails, by real SMTP.

Watches the sandbox SMTP sink (every email we send lands there) and, for a first
email (one that answers nothing: no ``In-Reply-To``), lets its recipient answer
after a short delay by sending a reply to ``hde mail-in`` — with ``In-Reply-To`` and
``References`` naming our ``Message-ID``, the quoted history under an
"… написал(а):" line and a signature, as a real mail client writes it. Who answers
is decided by the recipient's address, so a demo can show each case on purpose:

- a local part with ``autoreply`` or ``ooo`` → an out-of-office auto-reply;
- ``dsn`` → a delivery failure report (a bounce) from the "remote" server;
- ``noreply`` or ``silent`` → no answer ever;
- ``reply`` → always a reply;
- anyone else → a reply with the demo's reply probability (``HDE_SIM_REPLY_PROBABILITY``,
  shared with the messenger simulators; one in three when unset), stable per Message-ID.

Each recipient answers once per run, so an agent's answer is not answered again.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path

from hde_core.clock import utcnow
from hde_core.sandbox.smtp_sink import SinkMail, list_mail

log = logging.getLogger("hde.sandbox.email")

REPLIES = [
    "Здравствуйте! Да, всё верно, спасибо.",
    "Добрый день. Удобно завтра после 14:00.",
    "Спасибо, получил. Подскажите, пожалуйста, сроки?",
]


def behaviour(address: str, message_id: str, probability: float = 1 / 3) -> str:
    """What the client at ``address`` does with our email: reply, auto_reply, bounce, none."""
    local = address.split("@", 1)[0].lower()
    if "noreply" in local or "silent" in local:
        return "none"
    if "autoreply" in local or "ooo" in local:
        return "auto_reply"
    if local.startswith("dsn"):
        return "bounce"
    if "reply" in local:
        return "reply"
    digest = hashlib.sha256(message_id.encode()).digest()
    return "reply" if int.from_bytes(digest[:4]) / 2**32 < probability else "none"


def _quoted(mail: SinkMail) -> str:
    stamp = mail.received_at.strftime("%d.%m.%Y, %H:%M")
    quoted = "\n".join("> " + line for line in (mail.text or "").strip().splitlines())
    return f"{stamp}, {mail.from_header} написал(а):\n{quoted}\n"


def reply_for(mail: SinkMail, kind: str, reply_to: str = "") -> tuple[str, str, bytes]:
    """(envelope sender, envelope recipient, message) of the client's answer to ``mail``:
    to its ``Reply-To`` when it has one (a per-ticket address), else to its sender."""
    _, client = parseaddr(mail.to_header)
    _, ours = parseaddr(reply_to or mail.from_header)
    msg = EmailMessage()
    msg["Message-ID"] = make_msgid(domain=client.rsplit("@", 1)[-1] or "client.example")
    msg["Date"] = format_datetime(utcnow())
    msg["In-Reply-To"] = mail.message_id
    msg["References"] = mail.message_id
    subject = mail.subject if mail.subject.lower().startswith("re:") else f"Re: {mail.subject}"
    if kind == "bounce":
        return _bounce(mail, client, ours)
    msg["From"] = formataddr(("", client))
    msg["To"] = ours
    if kind == "auto_reply":
        msg["Subject"] = f"Автоответ: {mail.subject}"
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content("Я в отпуске до конца недели и отвечу, когда вернусь.")
    else:
        msg["Subject"] = subject
        digest = hashlib.sha256(mail.message_id.encode()).digest()
        text = REPLIES[digest[1] % len(REPLIES)]
        msg.set_content(f"{text}\n\n{_quoted(mail)}\n-- \nОтправлено из демо-почты\n")
    return client, ours, msg.as_bytes(policy=policy.SMTP)


def _bounce(mail: SinkMail, client: str, ours: str) -> tuple[str, str, bytes]:
    host = "mx." + (client.rsplit("@", 1)[-1] or "client.example")
    raw = (
        f"From: MAILER-DAEMON@{host} (Mail Delivery System)\r\n"
        f"To: {ours}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain=host)}\r\n"
        f"Date: {format_datetime(utcnow())}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {host}\r\n\r\n"
        f"Final-Recipient: rfc822; {client}\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        f"Diagnostic-Code: smtp; 552 5.2.2 <{client}>: Mailbox full\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {ours}\r\nTo: {client}\r\nMessage-ID: {mail.message_id}\r\n"
        "\r\n--B--\r\n"
    ).encode()
    return "", ours, raw


class EmailClients:
    """The simulated clients, in a background thread: ``EmailClients(dir, port).start()``."""

    def __init__(
        self,
        directory: Path,
        mail_in_port: int,
        host: str = "127.0.0.1",
        delay: float = 8.0,
        probability: float = 1 / 3,
    ) -> None:
        self.probability = probability
        self.directory = directory
        self.host = host
        self.port = mail_in_port
        self.delay = delay
        self.stop_event = threading.Event()
        self.answered: set[str] = set()
        self.seen: set[str] = set()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="sandbox-email", daemon=True)

    def start(self) -> EmailClients:
        # what was there before this run (an earlier demo) is not answered now
        self.seen = (
            {p.name for p in self.directory.glob("*.eml")} if self.directory.exists() else set()
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        due: list[tuple[float, SinkMail, str, str]] = []
        while not self.stop_event.wait(0.3):
            try:
                for mail in list_mail(self.directory, limit=200):
                    if mail.path.name in self.seen:
                        continue
                    self.seen.add(mail.path.name)
                    headers = message_from_bytes(mail.path.read_bytes(), policy=policy.default)
                    kind = self._decide(mail, "In-Reply-To" in headers)
                    if kind != "none":
                        reply_to = str(headers.get("Reply-To", "") or "")
                        due.append((time.monotonic() + self.delay, mail, kind, reply_to))
            except (OSError, ValueError):
                log.exception("sandbox email clients: could not read the sink")
            now = time.monotonic()
            for item in [d for d in due if d[0] <= now]:
                due.remove(item)
                self._answer(item[1], item[2], item[3])

    def _decide(self, mail: SinkMail, answers_something: bool) -> str:
        if answers_something:
            return "none"  # an answer in a conversation, not a first email
        _, client = parseaddr(mail.to_header)
        if not client or client.lower() in self.answered:
            return "none"
        kind = behaviour(client, mail.message_id, self.probability)
        if kind != "none":
            self.answered.add(client.lower())
        return kind

    def _answer(self, mail: SinkMail, kind: str, reply_to: str) -> None:
        sender, recipient, raw = reply_for(mail, kind, reply_to)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                smtp.sendmail(sender, [recipient], raw)
            self.sent += 1
            log.info("sandbox client %s sent a %s to %s", mail.to_header, kind, recipient)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("sandbox client %s could not answer: %s", mail.to_header, exc)
