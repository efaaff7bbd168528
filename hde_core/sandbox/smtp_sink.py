"""A local SMTP server (aiosmtpd) that keeps what it receives, for the demo and the tests.

Every accepted message is written to ``<data>/sandbox/mail/`` as an ``.eml``
file so that ``hde sandbox mail`` and the console can list it. Like a real
server it can refuse: a recipient whose local part starts with ``bounce`` gets
``550 5.1.1``, ``tempfail`` gets ``451 4.3.0``, ``authfail`` makes the whole
session answer ``535`` (handy to show each outcome in the sandbox).
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

REFUSALS = {
    "bounce": "550 5.1.1 Mailbox unavailable: no such user here",
    "tempfail": "451 4.3.0 Temporary local problem, try again later",
    "authfail": "535 5.7.8 Authentication credentials invalid",
}


def mail_dir(data_dir: Path) -> Path:
    return data_dir / "sandbox" / "mail"


class SinkHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.received = 0  # mails kept since start (the demo's summary line reads it)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local = address.split("@", 1)[0].lower()
        for prefix, answer in REFUSALS.items():
            if local.startswith(prefix):
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
        header = (
            f"X-Sandbox-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sandbox-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(header + raw)
        tmp.rename(self.directory / name)  # readers never see half a message
        self.received += 1
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """Runs the sink in a background thread: ``with SmtpSink(dir) as sink: sink.port``."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.directory = directory
        self.host = host
        self.port = port or free_port(host)
        self.handler = SinkHandler(directory)
        self.controller = Controller(self.handler, hostname=host, port=self.port, decode_data=False)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class MailSummary:
    """At most one line per ``every`` seconds saying how many mails arrived since the last
    line (nothing when none did): the terminal of ``make run`` stays readable while a
    campaign of thousands of emails goes through the sink."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.reported = 0
        self.last: float | None = None

    def line(self, received: int, now: float) -> str | None:
        if self.last is None:
            self.last = now
        if now - self.last < self.every or received == self.reported:
            return None
        new, self.reported, self.last = received - self.reported, received, now
        return f"sandbox SMTP sink: {new} more mail(s), {received} since start"


@dataclass(frozen=True)
class SinkMail:
    path: Path
    received_at: datetime
    mail_from: str
    rcpt_to: str
    from_header: str
    to_header: str
    subject: str
    message_id: str
    text: str
    html: str

    @classmethod
    def load(cls, path: Path) -> SinkMail:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        text_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        stamp = path.name.split("-", 1)[0]
        return cls(
            path=path,
            received_at=datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC),
            mail_from=str(msg.get("X-Sandbox-Mail-From", "")),
            rcpt_to=str(msg.get("X-Sandbox-Rcpt-To", "")),
            from_header=str(msg.get("From", "")),
            to_header=str(msg.get("To", "")),
            subject=str(msg.get("Subject", "")),
            message_id=str(msg.get("Message-ID", "")),
            text=text_part.get_content() if text_part is not None else "",
            html=html_part.get_content() if html_part is not None else "",
        )


def list_mail(directory: Path, limit: int | None = None) -> list[SinkMail]:
    """Received messages, newest first."""
    if not directory.exists():
        return []
    files = sorted(directory.glob("*.eml"), reverse=True)
    if limit is not None:
        files = files[:limit]
    return [SinkMail.load(p) for p in files]


def wait_for_mail(directory: Path, count: int, timeout: float = 10.0) -> list[SinkMail]:
    """Test helper: wait until ``count`` messages arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = list_mail(directory)
        if len(mails) >= count:
            return mails
        time.sleep(0.05)
    return list_mail(directory)
