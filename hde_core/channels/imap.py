"""A department mailbox over IMAP (imapclient): the URL, and a logged-in connection.

IMAP URL forms (like the SMTP URL of :mod:`hde_core.channels.email`)::

    imap://user:pass@host:143/INBOX     plain, STARTTLS if the server offers it
    imap://user:pass@host/INBOX?starttls=required
    imaps://user:pass@host:993/INBOX    TLS from the first byte
    ...?verify=false                    do not verify the server certificate (lab only)
    ...?timeout=30                      seconds

The path is the folder to read (``INBOX`` when empty).
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from imapclient import IMAPClient

from hde_core.errors import ConfigError
from hde_core.security.masking import mask_url

_TRUE = {"1", "true", "yes", "on", "required"}
_FALSE = {"0", "false", "no", "off"}


mask_imap_url = mask_url  # the password hidden, for messages, logs and the console


@dataclass(frozen=True)
class ImapTarget:
    hostname: str
    port: int
    username: str
    password: str
    folder: str
    use_tls: bool
    start_tls: bool | None  # None: use STARTTLS if offered
    verify: bool
    timeout: float

    @classmethod
    def parse(cls, url: str) -> ImapTarget:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
            query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
            timeout = float(query.get("timeout", "30"))
        except ValueError as exc:
            raise ConfigError("mailin.imap_url_invalid", url=mask_imap_url(url)) from exc
        scheme = parts.scheme.lower()
        if scheme not in {"imap", "imaps"} or not parts.hostname or not parts.username:
            raise ConfigError("mailin.imap_url_invalid", url=mask_imap_url(url))
        use_tls = scheme == "imaps"
        start_tls: bool | None = None
        if query.get("starttls") in _TRUE:
            start_tls = True
        elif query.get("starttls") in _FALSE or use_tls:
            start_tls = False
        return cls(
            hostname=parts.hostname,
            port=port or (993 if use_tls else 143),
            username=unquote(parts.username),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.strip("/")) or "INBOX",
            use_tls=use_tls,
            start_tls=start_tls,
            verify=query.get("verify", "true") not in _FALSE,
            timeout=timeout,
        )

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self) -> IMAPClient:
        """A logged-in client (the caller logs out). Raises imapclient's / OSError's errors."""
        client = IMAPClient(
            self.hostname,
            port=self.port,
            ssl=self.use_tls,
            ssl_context=self._ssl_context() if self.use_tls else None,
            timeout=self.timeout,
        )
        try:
            if not self.use_tls and (
                self.start_tls or (self.start_tls is None and b"STARTTLS" in client.capabilities())
            ):
                client.starttls(self._ssl_context())
            client.login(self.username, self.password)
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        return client
