"""The shared base of every channel adapter.

An adapter is a small module that fills in a few hooks; the base owns the fixed
pipeline and the HTTP mechanics (after django-anymail):

    build request → call → parse → classify into a typed outcome

Adding a provider means: subclass :class:`HttpAdapter`, declare the class
attributes, implement ``build_send_request`` and ``parse_send_response`` (plus
``check_connection`` and the webhook hooks), and add it to
:mod:`hde_core.channels.registry`. Provider answers are translated through
mapping tables, never if-chains, with an explicit "unknown → transient" default.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from hde_core import __version__
from hde_core.channels.errors import Classified, ErrorTable, outcome_for
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.events import WebhookEvent
from hde_core.domain.limits import text_problem
from hde_core.domain.outcomes import (
    ConnectionCheck,
    ErrorClass,
    Fail,
    Retry,
    SendOutcome,
)

USER_AGENT = f"HDE-Outreach/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


@dataclass(frozen=True)
class ChannelConfig:
    """A snapshot of a channel with its credentials decrypted. Never logged, never stored."""

    id: int
    name: str
    kind: ChannelKind
    provider: Provider
    api_base: str | None
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def credential(self, key: str) -> str:
        from hde_core.errors import ConfigError

        value = self.credentials.get(key)
        if not value:
            raise ConfigError("error.channel_credential_missing", channel=self.name, credential=key)
        return str(value)


@dataclass(frozen=True)
class OutgoingMessage:
    """What the dispatcher hands to an adapter."""

    id: int
    kind: str  # email | text | template
    recipient: str  # normalised address on this channel
    payload: Mapping[str, Any]
    idempotency_key: str
    #: Per-message secrets resolved at send time (e.g. the department's SMTP URL); not stored.
    transport: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """An incoming webhook as the receiver saw it: the raw body is what signatures cover."""

    method: str
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class TemplateInfo:
    """A WhatsApp Business template as listed by the provider."""

    name: str
    language: str
    category: str
    status: str  # upper case: APPROVED, PENDING, REJECTED, PAUSED, DISABLED …
    components: list[Any]
    parameter_format: str = "POSITIONAL"
    external_id: str | None = None


class ChannelAdapter(ABC):
    """What every provider can do. Class attributes describe the provider (after apprise)."""

    provider: ClassVar[Provider]
    kind: ClassVar[ChannelKind]
    #: Longest text the provider accepts.
    max_text_length: ClassVar[int] = 4096
    #: Defaults for the channel's shared rate limit (messages per second, burst).
    default_rate_per_sec: ClassVar[float] = 1.0
    default_burst: ClassVar[int] = 1
    #: Minimum seconds between two messages to the same recipient, if the provider has one.
    per_recipient_interval: ClassVar[float | None] = None
    supports_templates: ClassVar[bool] = False
    supports_webhook_registration: ClassVar[bool] = False
    #: The provider tells us when a message reached the client / was read (status webhooks).
    #: Without them a message stays ``sent``, and the console says "no delivery data"
    #: instead of showing 0 % delivered.
    reports_delivery: ClassVar[bool] = False
    reports_read: ClassVar[bool] = False
    #: The credentials a channel of this provider needs, in the order a form asks for them.
    credential_fields: ClassVar[tuple[str, ...]] = ()
    #: Webhooks can only be verified with the channel's webhook secret (False: the
    #: provider signs them with a credential, or the adapter takes no webhooks).
    webhook_needs_secret: ClassVar[bool] = True
    #: The provider's documented errors (:mod:`hde_core.channels.errors`); unknown codes
    #: are transient. Read for the send answer and for ``failed`` status webhooks alike.
    error_table: ClassVar[ErrorTable] = ErrorTable(())
    #: The answer to a signed webhook the adapter cannot use: 400, or 200 (ignored) for a
    #: provider that would otherwise redeliver the same payload for days.
    malformed_webhook_status: ClassVar[int] = 400

    def __init__(self, config: ChannelConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._http = http

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = new_http_client()
        return self._http

    @abstractmethod
    async def send(self, message: OutgoingMessage) -> SendOutcome: ...

    # -- limits and errors: one place for every provider ---------------------------

    @classmethod
    def text_problem(cls, text: str) -> str | None:
        """Why ``text`` cannot be sent on this provider (a reason code), or None."""
        return text_problem(text, cls.max_text_length)

    def refuse_text(self, message: OutgoingMessage) -> Fail | None:
        """Text the provider would refuse fails before any call (the same check lists run)."""
        if message.kind != "text":
            return None
        text = message.payload.get("text")
        text = text if isinstance(text, str) else ""
        problem = self.text_problem(text)
        if problem is None:
            return None
        from hde_core.channels.words import t

        return Fail(
            ErrorClass.INVALID_REQUEST,
            problem,
            t("channels.text_length", length=len(text), limit=self.max_text_length),
        )

    def error_words(self, classified: Classified) -> str:
        """The plain text stored with a refused message (adapters may add advice)."""
        return classified.text

    def error_outcome(self, classified: Classified, raw: Any = None) -> SendOutcome:
        """A classified provider error as a typed outcome (the one mapping)."""
        return outcome_for(classified, raw=raw, text=self.error_words(classified))

    @abstractmethod
    async def check_connection(self) -> ConnectionCheck: ...

    async def register_webhook(self, url: str) -> ConnectionCheck:
        return ConnectionCheck(False, "webhook registration is not supported by this provider")

    async def list_templates(self) -> list[TemplateInfo]:
        raise NotImplementedError(f"{self.provider} has no message templates")

    # -- webhooks: verify → parse (the receiver records and answers) --------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """Constant-time check of the provider's signature or shared secret."""
        return False

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        return []

    def handshake(self, request: WebhookRequest) -> tuple[int, str] | None:
        """Answer a provider's verification GET (Meta ``hub.challenge``), or None."""
        return None

    def webhook_reply(self, request: WebhookRequest, events: list[WebhookEvent]) -> Any:
        """The JSON body to answer a webhook with (None: ``{"ok": true}``)."""
        return None


#: Timestamps a provider may plausibly send (2000-01-01 … 2100-01-01, in seconds).
_EARLIEST, _LATEST = 946_684_800, 4_102_444_800


def unix_time(value: Any, per_second: int = 1) -> datetime:
    """A provider's Unix timestamp (seconds, or ``per_second=1000`` for milliseconds).

    Anything that is not a plausible time (a bool, a huge number, text) raises
    ``ValueError``, so a hostile or broken payload is refused as malformed instead
    of failing with ``OverflowError``/``OSError`` deep inside ``datetime``.
    """
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ValueError(f"not a timestamp: {value!r}")
    try:
        number = int(value) if not isinstance(value, float) else int(value)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc
    seconds = number / per_second
    if not _EARLIEST <= seconds <= _LATEST:
        raise ValueError(f"timestamp out of range: {value!r}")
    return datetime.fromtimestamp(seconds, UTC)


def constant_time_equals(a: str | bytes | None, b: str | bytes | None) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    return hmac.compare_digest(a, b)


def hmac_sha256_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def new_http_client(
    client_class: type[httpx.AsyncClient] = httpx.AsyncClient, **kwargs: Any
) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    kwargs.setdefault("headers", {"User-Agent": USER_AGENT})
    kwargs.setdefault("limits", httpx.Limits(max_connections=200, max_keepalive_connections=50))
    return client_class(**kwargs)


class HttpAdapter(ChannelAdapter):
    """Adapters that speak JSON over HTTP: the base runs the call and maps network trouble."""

    #: Default base URL of the real service; a channel's ``api_base`` overrides it.
    default_api_base: ClassVar[str] = ""

    @property
    def api_base(self) -> str:
        return (self.config.api_base or self.default_api_base).rstrip("/")

    @abstractmethod
    def build_send_request(self, message: OutgoingMessage) -> HttpCall: ...

    @abstractmethod
    def parse_send_response(self, response: httpx.Response, body: Any) -> SendOutcome: ...

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        refused = self.refuse_text(message)
        if refused is not None:
            return refused
        call = self.build_send_request(message)
        outcome = await self.call(call)
        if isinstance(outcome, Retry):
            return outcome
        response, body = outcome
        return self.parse_send_response(response, body)

    async def call(self, call: HttpCall) -> tuple[httpx.Response, Any] | Retry:
        """Run one HTTP call. Network trouble becomes a transient :class:`Retry`."""
        try:
            response = await self.http.request(
                call.method,
                call.url,
                json=call.json,
                headers=dict(call.headers),
                params=call.params,
            )
        except httpx.TimeoutException as exc:
            return Retry(
                ErrorClass.TRANSIENT, "timeout", f"{type(exc).__name__}: no answer in time"
            )
        except httpx.TransportError as exc:
            return Retry(ErrorClass.TRANSIENT, "network", f"{type(exc).__name__}: {exc}")
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        return response, body


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
