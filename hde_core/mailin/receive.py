"""One received email → recorded events, whichever way it came in (SMTP, LMTP, IMAP).

The email channel an email belongs to: the channel of our message it answers (or,
for a bounce, of the message that bounced), else the email channel of the
department whose mailbox it was sent to, else the first email channel. Recording
is :func:`hde_core.services.webhooks.record_events`, so an email fetched twice is
stored once (inbound rows are unique per channel and Message-ID) and a bounce
only moves its message forward.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Department, Message
from hde_core.domain import events as ev
from hde_core.domain.channels import ChannelKind
from hde_core.mailin.parse import Malformed, ParsedMail, parse_email, ticket_hint
from hde_core.services.webhooks import record_events

log = logging.getLogger("hde.mailin")

#: How often recording is tried again after losing a race to another receiver.
RACE_RETRIES = 2


@dataclass(frozen=True)
class Received:
    """What became of one email: ``ok`` False means refused (``reason`` says why)."""

    ok: bool
    kind: str  # reply | auto_reply | bounce | bounce_delayed | malformed | no_channel
    message_id: str = ""
    reason: str = ""
    counts: Counter[str] = field(default_factory=Counter)


def _base_address(address: str) -> str:
    """``support+t12@hde.example`` → ``support@hde.example`` (plus-addressing)."""
    local, _, domain = address.strip().lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def our_domains(app: App) -> set[str]:
    """The domains of the department mailboxes (what ``hde mail-in`` accepts mail for)."""
    with app.db.reader() as session:
        return {
            _base_address(m).rsplit("@", 1)[-1] for m in session.scalars(select(Department.mailbox))
        }


def _email_channels(session: Session) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel).where(Channel.kind == ChannelKind.EMAIL.value).order_by(Channel.id)
        )
    )


def resolve_channel(session: Session, parsed: ParsedMail) -> int | None:
    channels = _email_channels(session)
    if not channels:
        return None
    ids: list[str] = []
    for event in parsed.events:
        if isinstance(event, ev.InboundMessage):
            ids.extend(event.reply_to)
        elif isinstance(event, ev.StatusUpdate):
            ids.append(event.provider_message_id)
    if ids:
        channel_id = session.scalar(
            select(Message.channel_id)
            .where(
                Message.channel_id.in_([c.id for c in channels]),
                Message.provider_message_id.in_(ids[:50]),
            )
            .limit(1)
        )
        if channel_id is not None:
            return int(channel_id)
    # the first recipient that is a department mailbox (the envelope's come first)
    departments = {_base_address(d.mailbox): d.id for d in session.scalars(select(Department))}
    channel_of = {c.department_id: c.id for c in reversed(channels)}
    for address in parsed.recipients:
        department_id = departments.get(_base_address(address))
        if department_id in channel_of:
            return channel_of[department_id]
    enabled = [c for c in channels if c.enabled]
    return (enabled or channels)[0].id


def _only_our_hints(session: Session, parsed: ParsedMail) -> list[ev.WebhookEvent]:
    """A ticket number counts only from one of our department mailboxes (``support+t12@``),
    not from some other ``+t12`` address in the To or Cc line."""
    if not any(isinstance(e, ev.InboundMessage) and e.ticket_hint for e in parsed.events):
        return parsed.events
    ours = {_base_address(m) for m in session.scalars(select(Department.mailbox))}
    hint = ticket_hint(a for a in parsed.recipients if _base_address(a) in ours)
    return [
        replace(e, ticket_hint=hint, raw={**e.raw, "ticket_hint": hint})
        if isinstance(e, ev.InboundMessage) and isinstance(e.raw, dict)
        else e
        for e in parsed.events
    ]


def receive_email(
    app: App, raw: bytes, *, envelope_to: Iterable[str] = (), source: str = "smtp"
) -> Received:
    """Parse ``raw`` and record what it means. Never raises for a bad email: a malformed
    one is refused with one log line (and the caller moves on to the next)."""
    try:
        parsed = parse_email(raw, app.clock.now(), envelope_to)
    except Malformed as exc:
        log.warning("inbound email (%s, %d bytes) refused: %s", source, len(raw), exc)
        return Received(False, "malformed", reason=str(exc))
    with app.db.reader() as session:
        channel_id = resolve_channel(session, parsed)
        events = _only_our_hints(session, parsed)
    if channel_id is None:
        log.warning("inbound email %s (%s) refused: no email channel", parsed.message_id, source)
        return Received(False, "no_channel", parsed.message_id, "no email channel")
    counts: Counter[str] = Counter()
    for attempt in range(RACE_RETRIES + 1):
        try:
            counts = record_events(app, channel_id, events) if events else Counter()
            break
        except IntegrityError:
            # another receiver stored the same new client a moment ago: now it exists
            if attempt == RACE_RETRIES:
                raise
            log.info("inbound email %s: raced another receiver, recording again", parsed.message_id)
    log.info("inbound email %s (%s, %s): %s", parsed.message_id, source, parsed.kind, dict(counts))
    return Received(True, parsed.kind, parsed.message_id, counts=counts)
