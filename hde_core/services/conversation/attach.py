"""A client's message finds its ticket (SPEC §9, issue 17.1), in the webhook's transaction.

In this order:

1. the ticket a per-ticket reply address names (email ``reply+t<N>@…``: ``ticket_hint``);
2. the ticket of the message it answers (``reply_to``: Telegram ``reply_to_message``,
   WhatsApp ``context.id``, Green-API quoted id, email ``In-Reply-To``/``References`` —
   our ``messages.provider_message_id``; Viber ``tracking_data`` — our idempotency key);
3. the contact's latest open ticket on that channel;
4. a new ticket "from the client".

Only the reply context may re-open a closed ticket, and only one closed within
:data:`REOPEN_WITHIN` (a reply to an old closed ticket starts a new one, as in Zammad's
"follow-up" rule); a guess (step 3) never re-opens one.

A message that is not automatic moves the ticket to ``replied``; the first one stamps
``first_reply_at`` (the campaign counts the ticket as replied) and hands the ticket to
whoever answers the campaign's replies (:mod:`.assign`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hde_core.db.models import Channel, ContactIdentity, InboundMessage, Message, Ticket
from hde_core.domain import events as ev
from hde_core.domain.tickets import Author, Priority, TicketStatus, on_client_message
from hde_core.i18n import t
from hde_core.services import audit
from hde_core.services.conversation.assign import assign_reply

#: A reply (by its context) to a ticket closed longer ago than this starts a new ticket.
REOPEN_WITHIN = timedelta(days=14)

#: Who the audit names for what a client did.
CLIENT = "client"

_SUBJECT_MAX = 200


def _id_forms(value: str) -> set[str]:
    """An email Message-ID is stored with its angle brackets; a header may come without."""
    bare = value.strip().strip("<>")
    return {value, bare, f"<{bare}>"} if bare else {value}


def ticket_by_context(session: Session, channel_id: int, reply_to: Iterable[str]) -> Ticket | None:
    """The ticket of the nearest of our messages this one answers, or None."""
    for ref in reply_to:
        if not ref:
            continue
        forms = _id_forms(ref)
        ticket_id = session.scalar(
            select(Message.ticket_id)
            .where(
                Message.channel_id == channel_id,
                or_(Message.provider_message_id.in_(forms), Message.idempotency_key == ref),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            return session.get(Ticket, ticket_id)
    return None


def latest_open_ticket(session: Session, identity_id: int, channel_id: int) -> Ticket | None:
    return session.scalar(
        select(Ticket)
        .where(
            Ticket.identity_id == identity_id,
            Ticket.channel_id == channel_id,
            Ticket.status != TicketStatus.CLOSED.value,
        )
        .order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
        .limit(1)
    )


def _reopenable(ticket: Ticket, at: datetime) -> bool:
    return ticket.status != TicketStatus.CLOSED or ticket.updated_at >= at - REOPEN_WITHIN


def find_ticket(
    session: Session, channel: Channel, identity: ContactIdentity, event: ev.InboundMessage
) -> Ticket | None:
    """The existing ticket the message belongs to, or None (a new one is due)."""
    if event.ticket_hint is not None:
        hinted = session.get(Ticket, event.ticket_hint)
        if hinted is not None and hinted.channel_id == channel.id:
            return hinted if _reopenable(hinted, event.at) else None
    by_context = ticket_by_context(session, channel.id, event.reply_to)
    if by_context is not None:
        return by_context if _reopenable(by_context, event.at) else None
    return latest_open_ticket(session, identity.id, channel.id)


def _new_ticket(
    session: Session,
    channel: Channel,
    identity: ContactIdentity,
    event: ev.InboundMessage,
    lang: str | None,
) -> Ticket:
    subject = " ".join((event.subject or "").split())[:_SUBJECT_MAX] or t(
        "conversation.from_client_subject", lang=lang
    )
    ticket = Ticket(
        subject=subject,
        body=event.text,
        priority=Priority.NORMAL.value,
        status=TicketStatus.REPLIED.value,
        department_id=channel.department_id,
        channel_id=channel.id,
        contact_id=identity.contact_id,
        identity_id=identity.id,
        author=Author.CLIENT.value,
        created_by=CLIENT,
        send_email=False,
        fields={},
        last_activity_at=event.at,
        created_at=event.at,
        updated_at=event.at,
    )
    session.add(ticket)
    session.flush()
    audit.record(
        session,
        audit.Event.TICKET_CREATED,
        CLIENT,
        at=event.at,
        ticket_id=ticket.id,
        channel_id=channel.id,
        channel=channel.name,
        recipient=identity.address,
        author=ticket.author,
        from_inbound=True,
    )
    return ticket


def attach(
    session: Session,
    channel: Channel,
    identity: ContactIdentity,
    event: ev.InboundMessage,
    row: InboundMessage,
    lang: str | None = None,
) -> Ticket:
    """Put the stored inbound ``row`` into its ticket and move the ticket (see the module)."""
    ticket = find_ticket(session, channel, identity, event)
    if ticket is None:
        ticket = _new_ticket(session, channel, identity, event, lang)
    row.ticket_id = ticket.id
    if event.at > ticket.last_activity_at:
        ticket.last_activity_at = event.at
    before = TicketStatus(ticket.status)
    after = on_client_message(before, event.auto_reply)
    if after != before:
        ticket.status = after.value
        ticket.updated_at = max(ticket.updated_at, event.at)
    first = not event.auto_reply and ticket.first_reply_at is None
    if first:
        ticket.first_reply_at = event.at
        if ticket.assignee_id is None and ticket.campaign_id is not None:
            assign_reply(session, ticket, event.at)
    audit.record(
        session,
        audit.Event.TICKET_REPLIED if not event.auto_reply else audit.Event.AUTO_REPLY_RECEIVED,
        CLIENT,
        at=event.at,
        ticket_id=ticket.id,
        campaign_id=ticket.campaign_id,
        channel_id=channel.id,
        provider_message_id=event.provider_message_id,
        first_reply=first or None,
        reopened=(before == TicketStatus.CLOSED and after != before) or None,
        status=after.value,
    )
    return ticket
