"""The message lifecycle (SPEC §3): which status may follow which.

Statuses only move forward. A late ``delivered`` never overwrites ``read``; a
repeated webhook changes nothing; the dispatcher's own moves are listed in
:data:`DISPATCH_TRANSITIONS`.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    HELD = "held"
    RETRYING = "retrying"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    CANCELLED = "cancelled"


S = MessageStatus

#: Statuses from which the dispatcher may claim a message (when due).
CLAIMABLE = frozenset({S.QUEUED, S.RETRYING})

#: Statuses that will not change any more by themselves.
FINAL = frozenset({S.DELIVERED, S.READ, S.FAILED, S.CANCELLED})

#: Statuses that mean "handed to the provider".
HANDED_OVER = frozenset({S.SENT, S.DELIVERED, S.READ})

#: Moves made by our own code (dispatcher, hold/release, resend, cancel).
DISPATCH_TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    # queued or held content fails when the template it waits for has failed (R12)
    S.QUEUED: frozenset({S.SENDING, S.HELD, S.CANCELLED, S.FAILED}),
    S.RETRYING: frozenset({S.SENDING, S.CANCELLED}),
    S.HELD: frozenset({S.QUEUED, S.CANCELLED, S.FAILED}),
    # queued again: its channel refused the credentials (not an attempt: nothing was sent)
    S.SENDING: frozenset({S.SENT, S.RETRYING, S.HELD, S.FAILED, S.UNCERTAIN, S.QUEUED}),
    S.UNCERTAIN: frozenset({S.QUEUED, S.CANCELLED, S.SENT, S.DELIVERED, S.READ, S.FAILED}),
    S.SENT: frozenset(),
    S.DELIVERED: frozenset(),
    S.READ: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: Progress of a handed-over message as reported by provider webhooks.
_DELIVERY_RANK = {S.SENT: 1, S.DELIVERED: 2, S.READ: 3}


def can_dispatch_move(current: MessageStatus, new: MessageStatus) -> bool:
    return new in DISPATCH_TRANSITIONS[current]


#: Moves out of ``uncertain`` that only a person makes (a team lead's resend, a cancel):
#: the dispatcher records there only what the provider proved (sent) or refused (failed).
BY_HAND_FROM_UNCERTAIN = frozenset({S.QUEUED, S.CANCELLED})


def recordable_from(target: MessageStatus) -> tuple[MessageStatus, ...]:
    """Where a claimed message may be when the dispatcher records a move to ``target``: its
    worker's ``sending``, or ``uncertain`` when the lease ran out while the worker was only
    slow — each only where the table allows (a late ``retrying`` answer, for one, leaves an
    ``uncertain`` message as it is: never resent by itself)."""
    out = [S.SENDING] if can_dispatch_move(S.SENDING, target) else []
    if can_dispatch_move(S.UNCERTAIN, target) and target not in BY_HAND_FROM_UNCERTAIN:
        out.append(S.UNCERTAIN)
    return tuple(out)


def accepts_provider_status(current: MessageStatus, reported: MessageStatus) -> bool:
    """Whether a provider-reported status (webhook) moves the message forward.

    - ``sent → delivered → read`` only forward; a repeat or a step back is ignored.
    - ``failed`` applies only before the message is known delivered.
    - ``delivered``/``read`` after ``failed`` wins: the provider has proof of delivery
      (multi-device WhatsApp sends ``failed`` then ``delivered``).
    - A status for a message we still consider ``sending`` or ``uncertain`` is proof the
      provider accepted it, so it applies.
    """
    if reported not in (S.SENT, S.DELIVERED, S.READ, S.FAILED):
        return False
    if current in (S.SENDING, S.UNCERTAIN):
        return True
    if current == S.FAILED:
        return reported in (S.DELIVERED, S.READ)
    if current not in _DELIVERY_RANK:
        return False
    if reported == S.FAILED:
        return current == S.SENT
    return _DELIVERY_RANK[reported] > _DELIVERY_RANK[current]
