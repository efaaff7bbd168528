"""What a provider answered, in one vocabulary for every adapter (SPEC §3).

Adapters never return a bare bool: they return one of the outcome classes
below, and the dispatcher decides what to store from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hde_core.domain.statuses import MessageStatus


class ErrorClass(StrEnum):
    RATE_LIMITED = "rate_limited"  # retry after the provider's delay
    TRANSIENT = "transient"  # network, 5xx: retry with capped backoff
    WINDOW_CLOSED = "window_closed"  # hold until the client writes
    NOT_REACHABLE = "not_reachable"  # no account / blocked / unsubscribed: fail (maybe opt-out)
    TEMPLATE_REJECTED = "template_rejected"
    AUTH = "auth"  # channel disconnected: stop sending on it
    INVALID_REQUEST = "invalid_request"


#: Classes that end the message as ``failed``.
PERMANENT = frozenset(
    {
        ErrorClass.NOT_REACHABLE,
        ErrorClass.TEMPLATE_REJECTED,
        ErrorClass.INVALID_REQUEST,
    }
)


@dataclass(frozen=True)
class Sent:
    provider_message_id: str
    raw: Any = None


@dataclass(frozen=True)
class Retry:
    """Try again later. ``after`` is the provider's own delay in seconds, if it gave one."""

    error_class: ErrorClass
    code: str
    text: str
    after: float | None = None
    #: Pause the whole channel (True) or only this recipient (False) for ``after`` seconds.
    channel_wide: bool = True
    raw: Any = None


@dataclass(frozen=True)
class Hold:
    """Outside the messaging window: keep the message until the client writes."""

    code: str
    text: str
    raw: Any = None


@dataclass(frozen=True)
class Fail:
    error_class: ErrorClass
    code: str
    text: str
    #: The provider says the client does not want our messages: record an opt-out (R15).
    opt_out: bool = False
    raw: Any = None


@dataclass(frozen=True)
class Disconnected:
    """Credentials rejected or account blocked: stop the channel, keep the message."""

    code: str
    text: str
    raw: Any = None


SendOutcome = Sent | Retry | Hold | Fail | Disconnected

#: The message status each outcome leads to (the moves are in
#: :data:`hde_core.domain.statuses.DISPATCH_TRANSITIONS`). A disconnected channel puts the
#: message back in the queue untouched.
OUTCOME_STATUS: dict[type, MessageStatus] = {
    Sent: MessageStatus.SENT,
    Retry: MessageStatus.RETRYING,
    Hold: MessageStatus.HELD,
    Fail: MessageStatus.FAILED,
    Disconnected: MessageStatus.QUEUED,
}


def outcome_status(outcome: SendOutcome) -> MessageStatus:
    try:
        return OUTCOME_STATUS[type(outcome)]
    except KeyError:
        raise TypeError(f"unknown outcome {outcome!r}") from None


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    detail: str = ""  # plain words: the account name when ok, the provider's error otherwise
    info: dict[str, Any] = field(default_factory=dict)
    #: Not ok only because the server could not be reached now (a network error, a timeout):
    #: a transient outage, not a configuration or credential problem.
    transient: bool = False
