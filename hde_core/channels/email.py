"""Email over real SMTP (aiosmtplib).

The department decides the sender mailbox and its SMTP server (R5): the
dispatcher resolves the department's SMTP URL into ``message.transport``.

SMTP URL forms::

    smtp://host:25                      plain, STARTTLS if the server offers it
    smtp://user:pass@host:587?starttls=required
    smtps://user:pass@host:465          TLS from the first byte
    ...?verify=false                    do not verify the server certificate (lab only)
    ...?timeout=30                      seconds

Server answers are mapped through a table: 4xx → transient (retry), 5xx →
permanent with the server's own text; authentication failures disconnect the
channel.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from hde_core.channels.base import ChannelAdapter, OutgoingMessage
from hde_core.clock import utcnow
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.outcomes import (
    ConnectionCheck,
    Disconnected,
    ErrorClass,
    Fail,
    Retry,
    SendOutcome,
    Sent,
)
from hde_core.errors import ConfigError
from hde_core.security.masking import mask_url

_TRUE = {"1", "true", "yes", "on", "required"}


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # None: use STARTTLS if offered
    verify: bool
    timeout: float

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError("error.smtp_url_invalid", url=mask_smtp_url(url)) from exc
        scheme = parts.scheme.lower()
        if scheme not in {"smtp", "smtps", "smtp+starttls"} or not parts.hostname:
            raise ConfigError("error.smtp_url_invalid", url=mask_smtp_url(url))
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        use_tls = scheme == "smtps"
        start_tls: bool | None = None
        if scheme == "smtp+starttls" or query.get("starttls") in _TRUE:
            start_tls = True
        elif query.get("starttls") in {"0", "false", "no", "off"}:
            start_tls = False
        if use_tls:
            start_tls = False
        try:
            timeout = float(query.get("timeout", "30"))
        except ValueError as exc:
            raise ConfigError("error.smtp_url_invalid", url=mask_smtp_url(url)) from exc
        return cls(
            hostname=parts.hostname,
            port=port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=start_tls,
            verify=query.get("verify", "true") not in {"0", "false", "no", "off"},
            timeout=timeout,
        )

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "hostname": self.hostname,
            "port": self.port,
            "use_tls": self.use_tls,
            "start_tls": self.start_tls,
            "timeout": self.timeout,
            "validate_certs": self.verify,
        }
        if not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            kwargs["tls_context"] = context
            kwargs.pop("validate_certs")
        if self.username:
            kwargs["username"] = self.username
            kwargs["password"] = self.password or ""
        return kwargs


mask_smtp_url = mask_url  # the password hidden, for messages and the console


def new_message_id(mailbox: str) -> str:
    return make_msgid(domain=_message_id_domain(mailbox))


@functools.lru_cache(maxsize=256)
def _message_id_domain(mailbox: str) -> str:
    domain = mailbox.rsplit("@", 1)[-1] if "@" in mailbox else "hde.local"
    return domain.encode("idna").decode("ascii")


def build_mime(message: OutgoingMessage) -> EmailMessage:
    """A UTF-8 text + HTML message with Message-ID and Reply-To."""
    p = message.payload
    mime = EmailMessage()
    mime["From"] = formataddr((p.get("from_name") or "", p["from_addr"]))
    mime["To"] = message.recipient
    mime["Subject"] = p["subject"]
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = p["message_id"]
    if p.get("reply_to"):
        mime["Reply-To"] = p["reply_to"]
    for name, value in (p.get("headers") or {}).items():
        mime[name] = value
    mime.set_content(p.get("text") or "", charset="utf-8")
    if p.get("html"):
        mime.add_alternative(p["html"], subtype="html", charset="utf-8")
    return mime


#: SMTP reply codes → error class. Anything else: 4xx transient, 5xx invalid request.
SMTP_CODES: dict[int, ErrorClass] = {
    421: ErrorClass.TRANSIENT,
    450: ErrorClass.TRANSIENT,
    451: ErrorClass.TRANSIENT,
    452: ErrorClass.TRANSIENT,
    530: ErrorClass.AUTH,
    534: ErrorClass.AUTH,
    535: ErrorClass.AUTH,
    538: ErrorClass.AUTH,
    550: ErrorClass.NOT_REACHABLE,
    551: ErrorClass.NOT_REACHABLE,
    553: ErrorClass.NOT_REACHABLE,
    552: ErrorClass.INVALID_REQUEST,
    554: ErrorClass.INVALID_REQUEST,
}


def classify_smtp(code: int, text: str) -> SendOutcome:
    error_class = SMTP_CODES.get(code) or (
        ErrorClass.TRANSIENT if 400 <= code < 500 else ErrorClass.INVALID_REQUEST
    )
    detail = f"{code} {text}".strip()
    if error_class == ErrorClass.AUTH:
        return Disconnected(str(code), detail)
    if error_class == ErrorClass.TRANSIENT:
        return Retry(ErrorClass.TRANSIENT, str(code), detail)
    return Fail(error_class, str(code), detail)


#: Errors that mean "the server is not there just now", whatever its configuration.
_UNREACHABLE = (
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    TimeoutError,
    aiosmtplib.SMTPConnectTimeoutError,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPServerDisconnected,
)


def _unreachable(exc: BaseException) -> bool:
    """True when the error, or what caused it, is a refused/reset connection or a timeout."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _UNREACHABLE) and not isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class EmailAdapter(ChannelAdapter):
    provider: ClassVar[Provider] = Provider.SMTP
    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    max_text_length: ClassVar[int] = 1_000_000
    credential_fields: ClassVar[tuple[str, ...]] = ("smtp_url",)
    default_rate_per_sec: ClassVar[float] = 5.0
    default_burst: ClassVar[int] = 5

    def _target(self, message: OutgoingMessage | None = None) -> SmtpTarget:
        url = (
            message.transport.get("smtp_url") if message else None
        ) or self.config.credentials.get("smtp_url")
        if not url:
            raise ConfigError("error.smtp_url_missing", channel=self.config.name)
        return SmtpTarget.parse(url)

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        target = self._target(message)
        mime = build_mime(message)
        try:
            await aiosmtplib.send(mime, **target.client_kwargs())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return classify_smtp(first.code, first.message)
        except aiosmtplib.SMTPAuthenticationError as exc:
            return Disconnected(str(exc.code), f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError) as exc:
            return Retry(ErrorClass.TRANSIENT, "network", str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            return classify_smtp(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Retry(ErrorClass.TRANSIENT, "network", f"{type(exc).__name__}: {exc}")
        return Sent(message.payload["message_id"])

    async def check_connection(self) -> ConnectionCheck:
        try:
            target = self._target()
        except ConfigError as exc:
            return ConnectionCheck(False, exc.message())
        client = aiosmtplib.SMTP(**target.client_kwargs())
        try:
            await client.connect()
            await client.noop()
            await client.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            return ConnectionCheck(False, f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # a server down or unreachable for now (sending retries, rows queue) is not a
            # configuration the server refused (TLS, an unknown host, a bad answer)
            return ConnectionCheck(
                False, f"{type(exc).__name__}: {exc}", transient=_unreachable(exc)
            )
        return ConnectionCheck(True, f"{target.hostname}:{target.port}")
