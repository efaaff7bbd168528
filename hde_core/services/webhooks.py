"""Record what providers told us (webhooks and long polling), in one transaction per call.

- An inbound message is attached to its ticket (:mod:`hde_core.services.conversation.attach`),
  records that the client has written to this channel (R3),
  opens or extends the 24-hour window (R12), lifts an earlier opt-out (the client
  wrote again, R15) unless the message itself is a STOP word, and releases the
  messages held for that client while the window is open.
- A subscription (Viber ``subscribed``) counts as the client reaching out.
- An opt-out is recorded and is final until the client writes again (R15).
- A delivery status moves its message forward only (SPEC §3); one for a provider
  id we do not know yet is kept and applied when the send is recorded.

Redelivered events change nothing: inbound messages are deduplicated by the
provider's id, statuses only move forward.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import fields, replace
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel, ContactIdentity, InboundMessage, Message
from hde_core.domain import events as ev
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.window import window_is_open
from hde_core.services import audit
from hde_core.services.contacts import find_identity, find_or_create_identity, record_opt_out
from hde_core.services.conversation.attach import attach
from hde_core.services.statuses import apply_status

log = logging.getLogger(__name__)

#: A reply that is exactly one of these words is a request not to be contacted (R15).
STOP_WORDS = frozenset({"stop", "стоп", "unsubscribe", "отписаться", "отписка", "не писать"})


def is_stop_word(text: str) -> bool:
    return text.strip().strip(".!").lower() in STOP_WORDS


#: Longest values the columns take (an id or address beyond them is not a real one).
_ID_MAX = 200
_ADDRESS_MAX = 320
_FIELD_MAX = {"display_name": 300, "username": 64, "phone": 20, "error_code": 64, "reason": 200}
_TEXT_MAX = 4000


def _clean(value: Any, depth: int = 0) -> Any:
    """A copy without NUL characters (PostgreSQL stores none, in text or JSON)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if depth > 64:
        return None
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def storable(event: ev.WebhookEvent) -> ev.WebhookEvent | None:
    """The event as the database can keep it: NUL characters removed (a client may send
    one; refusing would make the provider redeliver it for ever), free text and names
    cut to their columns. An id or address longer than any real one drops the event."""
    changes: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name == "raw":
            changes["raw"] = _clean(value)
        elif isinstance(value, str) and not isinstance(value, Enum):
            value = value.replace("\x00", "")
            if f.name in ("provider_message_id", "address", "recipient") and len(value) > (
                _ID_MAX if f.name == "provider_message_id" else _ADDRESS_MAX
            ):
                if f.name == "recipient":
                    value = None
                else:
                    log.warning("webhook event dropped: %s is %d characters", f.name, len(value))
                    return None
            elif f.name in _FIELD_MAX:
                value = value[: _FIELD_MAX[f.name]]
            elif f.name in ("text", "error_text"):
                value = value[:_TEXT_MAX]
            changes[f.name] = value
    return replace(event, **changes)


def record_events(app: App, channel_id: int, events: list[ev.WebhookEvent]) -> Counter[str]:
    """Store every event; returns counts per outcome (for logs and tests)."""
    counts: Counter[str] = Counter()
    events = [e for e in map(storable, events) if e is not None]
    if not events:
        return counts
    now = app.clock.now()
    with app.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        if channel is None:
            return counts
        for event in events:
            if isinstance(event, ev.InboundMessage):
                counts[_inbound(session, channel, event, now, app.settings.lang)] += 1
            elif isinstance(event, ev.Subscribed):
                counts[_subscribed(session, channel, event)] += 1
            elif isinstance(event, ev.OptedOut):
                counts[_opted_out(session, channel, event)] += 1
            elif isinstance(event, ev.StatusUpdate):
                counts[_status(session, channel, event)] += 1
    return counts


def _identity(
    session: Session,
    channel: Channel,
    address: str,
    *,
    name: str | None = None,
    username: str | None = None,
    phone: str | None = None,
) -> ContactIdentity:
    identity = find_or_create_identity(
        session, channel, address, name=name, username=username, phone=phone
    )
    if username and not identity.username:
        identity.username = username.lstrip("@").lower()
    if phone and not identity.phone:
        identity.phone = phone
    if name and not identity.display_name:
        identity.display_name = name
        if not identity.contact.name:
            identity.contact.name = name
    return identity


def _mark_written(identity: ContactIdentity, at: datetime, extends_window: bool) -> None:
    if identity.first_inbound_at is None or at < identity.first_inbound_at:
        identity.first_inbound_at = at
    if extends_window and (identity.last_inbound_at is None or at > identity.last_inbound_at):
        identity.last_inbound_at = at


def _inbound(
    session: Session,
    channel: Channel,
    event: ev.InboundMessage,
    now: datetime,
    lang: str | None = None,
) -> str:
    if session.scalar(
        select(InboundMessage.id).where(
            InboundMessage.channel_id == channel.id,
            InboundMessage.provider_message_id == event.provider_message_id,
        )
    ):
        return "duplicate"
    identity = _identity(
        session,
        channel,
        event.address,
        name=event.display_name,
        username=event.username,
        phone=event.phone,
    )
    row = InboundMessage(
        channel_id=channel.id,
        identity_id=identity.id,
        provider_message_id=event.provider_message_id,
        text=event.text[:4000],
        received_at=event.at,
        raw=event.raw if isinstance(event.raw, dict) else {},
        auto_reply=event.auto_reply,
        subject=event.subject,
        original=event.original,
        attachments=[name.replace("\x00", "")[:300] for name in event.attachments],
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another receiver stored the same message a moment ago
        return "duplicate"
    # An automatic answer (out of office) is not the client writing: no window (R12).
    _mark_written(identity, event.at, extends_window=not event.auto_reply)
    attach(session, channel, identity, event, row, lang)
    audit.record(
        session,
        audit.Event.INBOUND_RECEIVED,
        "provider",
        at=event.at,
        channel_id=channel.id,
        identity_id=identity.id,
        provider_message_id=event.provider_message_id,
    )
    if event.auto_reply:
        return "auto_reply"
    if is_stop_word(event.text):
        record_opt_out(
            session, identity.id, event.at, f"client wrote: {event.text.strip()[:50]}", "provider"
        )
        return "opted_out"
    if identity.opted_out_at is not None and event.at > identity.opted_out_at:
        identity.opted_out_at = None  # R15: they wrote to us again
        identity.opt_out_reason = None
    if window_is_open(identity.last_inbound_at, now):
        release_held(session, identity.id, now)
    return "inbound"


def release_held(session: Session, identity_id: int, now: datetime) -> int:
    """The client replied: messages held for the window go back to the queue (R12)."""
    held = list(
        session.scalars(
            select(Message).where(
                Message.identity_id == identity_id, Message.status == MessageStatus.HELD.value
            )
        )
    )
    if not held:
        return 0
    session.execute(
        update(Message)
        .where(Message.id.in_([m.id for m in held]), Message.status == MessageStatus.HELD.value)
        # The window is open now: the content no longer waits for its template (which may
        # have failed, and would otherwise keep it queued for ever).
        .values(
            status=MessageStatus.QUEUED.value,
            next_attempt_at=None,
            after_message_id=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    for m in held:
        audit.record(
            session,
            audit.Event.MESSAGE_RELEASED,
            "provider",
            at=now,
            ticket_id=m.ticket_id,
            message_id=m.id,
            campaign_id=m.campaign_id,
            channel_id=m.channel_id,
        )
    return len(held)


def _subscribed(session: Session, channel: Channel, event: ev.Subscribed) -> str:
    identity = _identity(
        session, channel, event.address, name=event.display_name, username=event.username
    )
    _mark_written(identity, event.at, extends_window=False)
    if identity.opted_out_at is not None and event.at > identity.opted_out_at:
        identity.opted_out_at = None
        identity.opt_out_reason = None
    return "subscribed"


def _opted_out(session: Session, channel: Channel, event: ev.OptedOut) -> str:
    identity = find_identity(session, channel.id, event.address) or _identity(
        session, channel, event.address
    )
    return (
        "opted_out"
        if record_opt_out(session, identity.id, event.at, event.reason, "provider")
        else "duplicate"
    )


def _status(session: Session, channel: Channel, event: ev.StatusUpdate) -> str:
    details: dict[str, Any] = {
        "error_code": event.error_code,
        "error_text": event.error_text,
        "error_class": event.error_class.value if event.error_class else None,
        "opt_out": event.opt_out or None,
        "window_closed": event.window_closed or None,
        "retry_after": event.retry_after,
    }
    changed = apply_status(
        session,
        channel.id,
        event.provider_message_id,
        event.status,
        event.at,
        details,
        keep_if_unknown=True,
    )
    return "status" if changed is not None else "status_unchanged"
