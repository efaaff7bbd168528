"""What a provider told us through a webhook (or long polling), in one vocabulary.

Adapters parse provider payloads into these; :mod:`hde_core.services.webhooks`
records them. Every event keeps the raw provider payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hde_core.domain.outcomes import ErrorClass
from hde_core.domain.statuses import MessageStatus


@dataclass(frozen=True)
class InboundMessage:
    """A client wrote to us: records R3 "has written", opens/extends the window (R12)."""

    address: str  # normalised sender address on this channel (chat id, wa_id as E.164, viber id)
    provider_message_id: str
    at: datetime
    text: str = ""
    display_name: str | None = None
    username: str | None = None
    phone: str | None = None
    raw: Any = field(default=None, compare=False)
    #: Provider ids of our messages this one answers, nearest first: Telegram
    #: ``reply_to_message``, WhatsApp ``context.id``, Green-API quoted message id, Viber
    #: ``tracking_data`` round trip, email ``In-Reply-To`` then ``References``.
    reply_to: tuple[str, ...] = ()
    #: The ticket named by a per-ticket reply address (email ``reply+t<N>@…``), if any.
    ticket_hint: int | None = None
    #: An automatic answer (out of office, ``Auto-Submitted``): kept and shown, never
    #: counted as the client's reply and never opens a window.
    auto_reply: bool = False
    #: Email only: the subject, the whole original text when ``text`` is the stripped
    #: reply, and the attachments' names (listed, not lost).
    subject: str | None = None
    original: str | None = None
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subscribed:
    """The client allowed the channel to write (Viber ``subscribed``, Telegram bot unblocked)."""

    address: str
    at: datetime
    display_name: str | None = None
    username: str | None = None
    raw: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class OptedOut:
    """The client unsubscribed, blocked the bot or asked not to be contacted (R15)."""

    address: str
    at: datetime
    reason: str
    raw: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status for one of our messages, found by the provider's message id."""

    provider_message_id: str
    status: MessageStatus  # sent | delivered | read | failed
    at: datetime
    error_code: str | None = None
    error_text: str | None = None
    #: The failure's class, from the provider's error table (the same one the send
    #: path reads): transient failures are retried later, permanent ones fail.
    error_class: ErrorClass | None = None
    #: The failure means the client opted out (WhatsApp 131050 and the like).
    opt_out: bool = False
    #: The failure is "outside the 24-hour window": hold instead of fail.
    window_closed: bool = False
    #: Seconds to wait before a transient failure is retried (the table's pause).
    retry_after: float | None = None
    recipient: str | None = None
    raw: Any = field(default=None, compare=False)


WebhookEvent = InboundMessage | Subscribed | OptedOut | StatusUpdate
