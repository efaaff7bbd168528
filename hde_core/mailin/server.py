"""The inbound SMTP / LMTP endpoint (aiosmtpd) that the MX forwards mail to.

Every accepted message goes through :func:`hde_core.mailin.receive.receive_email`
before the server answers, so "250" means "recorded":

- recorded (a reply, an auto-reply, a bounce) → ``250``;
- malformed (no readable sender, no content) → ``550 5.6.0`` with the reason, and one
  log line; the connection stays usable for the next message;
- no email channel set up → ``550 5.7.1``;
- the database failed → ``451 4.3.0``: the sending server keeps the mail and tries
  again (recording is idempotent, so a retry never stores it twice).

LMTP answers once per recipient after DATA (RFC 2033), with the same outcome.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from hde_core.bootstrap import App
from hde_core.mailin.receive import our_domains, receive_email

log = logging.getLogger("hde.mailin")

#: Largest message taken (bytes); attachments are listed, so they must fit.
DATA_SIZE_LIMIT = 25 * 1024 * 1024
#: Seconds the department domains are remembered between look-ups.
DOMAINS_TTL = 30.0


class MailInHandler:
    def __init__(self, app: App, lmtp: bool = False) -> None:
        self.app = app
        self.lmtp = lmtp
        self._domains: set[str] = set()
        self._domains_at = -DOMAINS_TTL

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Mail for our departments' domains only: not a sink for anyone's spam."""
        now = time.monotonic()
        if now - self._domains_at > DOMAINS_TTL:
            try:
                self._domains = await asyncio.to_thread(our_domains, self.app)
                self._domains_at = now
            except Exception:  # noqa: BLE001 - the database is away: the sender retries
                log.exception("mail-in: could not read the department mailboxes")
                return "451 4.3.0 Temporary failure, try again later"
        domain = address.rsplit("@", 1)[-1].lower()
        if self._domains and domain not in self._domains:
            return "550 5.1.2 Not a domain of ours"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook name
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data or "").encode("utf-8")
        source = "lmtp" if self.lmtp else "smtp"
        try:
            received = await asyncio.to_thread(
                receive_email, self.app, raw, envelope_to=envelope.rcpt_tos, source=source
            )
        except Exception:  # noqa: BLE001 - a database failure: the sender must retry
            log.exception("inbound email (%s) could not be recorded: answered 451", source)
            answer = "451 4.3.0 Temporary failure while recording, try again later"
        else:
            if received.ok:
                answer = "250 2.0.0 Message accepted"
            elif received.kind == "malformed":
                answer = f"550 5.6.0 Message refused: {received.reason}"[:500]
            else:
                answer = "550 5.7.1 No email channel is set up to receive this message"
        if self.lmtp:
            return "\r\n".join([answer] * max(1, len(envelope.rcpt_tos)))
        return answer


class _LmtpController(Controller):
    def factory(self) -> Any:
        return LMTP(self.handler, **self.SMTP_kwargs)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class MailInServer:
    """``hde mail-in`` in a background thread: ``with MailInServer(app, port=0) as s: s.port``."""

    def __init__(
        self, app: App, host: str = "127.0.0.1", port: int = 0, lmtp: bool = False
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.lmtp = lmtp
        cls = _LmtpController if lmtp else Controller
        self.controller = cls(
            MailInHandler(app, lmtp),
            hostname=host,
            port=self.port,
            decode_data=False,
            data_size_limit=DATA_SIZE_LIMIT,
        )

    @property
    def url(self) -> str:
        return f"{'lmtp' if self.lmtp else 'smtp'}://{self.host}:{self.port}"

    def start(self) -> MailInServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailInServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
