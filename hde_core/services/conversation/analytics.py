"""Replies per campaign and channel (issue 17.6): the number a team lead judges an
outreach by.

A ticket counts as *replied* once its client's first (not automatic) message arrived
(``tickets.first_reply_at``, stamped by :mod:`.attach`). The funnel is per ticket — one
client — not per message (a template and its held content are one contact): ``sent``
(handed to the provider), ``delivered``, ``read``, ``replied``; a client who replied has
passed every stage before it (Telegram bots get no read receipts). The rate is replied
over sent. The time to first reply runs from the ticket's first message handed over.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select

from hde_core.bootstrap import App
from hde_core.db.models import (
    Campaign,
    Channel,
    ContactIdentity,
    InboundMessage,
    Message,
    Ticket,
    User,
)
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import TicketStatus
from hde_core.errors import NotFound
from hde_core.i18n import t
from hde_core.lists.report import write_table

S = MessageStatus

#: How far a message got, as a number (failed and unsent: 0).
_STAGE = case(
    (Message.status == S.READ.value, 3),
    (Message.status == S.DELIVERED.value, 2),
    (Message.status.in_((S.SENT.value, S.UNCERTAIN.value)), 1),
    else_=0,
)


@dataclass
class ReplyStats:
    channel: str  # a channel's name, or "" for the whole campaign
    tickets: int
    sent: int
    delivered: int
    read: int
    replied: int
    #: Median seconds from our first message to the client's first reply (None: no reply).
    median_reply_seconds: float | None

    @property
    def rate(self) -> float | None:
        """Replied over sent (None when nothing was sent yet)."""
        return self.replied / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rate": self.rate}


def _campaign_id(app: App, key: str) -> int:
    with app.db.reader() as session:
        found = session.scalar(select(Campaign.id).where(Campaign.key == key))
    if found is None:
        raise NotFound("conversation.error.no_campaign", key=key)
    return int(found)


def campaign_replies(app: App, key: str) -> list[ReplyStats]:
    """Per channel of the campaign, then one line for the whole campaign (channel "")."""
    campaign_id = _campaign_id(app, key)
    per_ticket = (
        select(
            Message.ticket_id.label("ticket_id"),
            func.max(_STAGE).label("stage"),
            func.min(Message.sent_at).label("first_sent"),
        )
        .where(Message.campaign_id == campaign_id)
        .group_by(Message.ticket_id)
        .subquery()
    )
    replied = Ticket.first_reply_at.is_not(None)
    stage = case((replied, 4), else_=func.coalesce(per_ticket.c.stage, 0))
    with app.db.reader() as session:
        rows = session.execute(
            select(
                Channel.name,
                func.count(),
                func.sum(case((stage >= 1, 1), else_=0)),
                func.sum(case((stage >= 2, 1), else_=0)),
                func.sum(case((stage >= 3, 1), else_=0)),
                func.sum(case((stage >= 4, 1), else_=0)),
            )
            .select_from(Ticket)
            .join(Channel, Channel.id == Ticket.channel_id)
            .outerjoin(per_ticket, per_ticket.c.ticket_id == Ticket.id)
            .where(Ticket.campaign_id == campaign_id)
            .group_by(Channel.name)
            .order_by(Channel.name)
        ).all()
        delays: dict[str, list[float]] = {}
        for name, first_sent, first_reply in session.execute(
            select(Channel.name, per_ticket.c.first_sent, Ticket.first_reply_at)
            .select_from(Ticket)
            .join(Channel, Channel.id == Ticket.channel_id)
            .join(per_ticket, per_ticket.c.ticket_id == Ticket.id)
            .where(Ticket.campaign_id == campaign_id, replied)
        ).all():
            if first_sent is not None and first_reply is not None:
                seconds = max(0.0, (first_reply - first_sent).total_seconds())
                delays.setdefault(str(name), []).append(seconds)
    out = [
        ReplyStats(
            str(name),
            int(n),
            int(s or 0),
            int(d or 0),
            int(r or 0),
            int(rep or 0),
            statistics.median(delays[str(name)]) if delays.get(str(name)) else None,
        )
        for name, n, s, d, r, rep in rows
    ]
    everything = [x for values in delays.values() for x in values]
    out.append(
        ReplyStats(
            "",
            sum(x.tickets for x in out),
            sum(x.sent for x in out),
            sum(x.delivered for x in out),
            sum(x.read for x in out),
            sum(x.replied for x in out),
            statistics.median(everything) if everything else None,
        )
    )
    return out


#: Columns of the "who replied" export.
EXPORT_COLUMNS = (
    "ticket",
    "channel",
    "recipient",
    "contact",
    "first_sent_at",
    "first_reply_at",
    "minutes_to_reply",
    "reply",
    "status",
    "assignee",
)


def replied_rows(app: App, key: str) -> list[list[str]]:
    """Who replied to the campaign, one row per ticket in reply order (:data:`EXPORT_COLUMNS`)."""
    campaign_id = _campaign_id(app, key)
    first_sent = (
        select(Message.ticket_id.label("ticket_id"), func.min(Message.sent_at).label("sent"))
        .where(Message.campaign_id == campaign_id)
        .group_by(Message.ticket_id)
        .subquery()
    )
    out: list[list[str]] = []
    with app.db.reader() as session:
        rows = session.execute(
            select(Ticket, Channel.name, ContactIdentity, first_sent.c.sent, User.login)
            .join(Channel, Channel.id == Ticket.channel_id)
            .outerjoin(ContactIdentity, ContactIdentity.id == Ticket.identity_id)
            .outerjoin(first_sent, first_sent.c.ticket_id == Ticket.id)
            .outerjoin(User, User.id == Ticket.assignee_id)
            .where(Ticket.campaign_id == campaign_id, Ticket.first_reply_at.is_not(None))
            .order_by(Ticket.first_reply_at, Ticket.id)
        ).all()
        for ticket, channel, identity, sent, login in rows:
            text = session.scalar(
                select(InboundMessage.text)
                .where(InboundMessage.ticket_id == ticket.id, InboundMessage.auto_reply.is_(False))
                .order_by(InboundMessage.received_at, InboundMessage.id)
                .limit(1)
            )
            minutes = f"{(ticket.first_reply_at - sent).total_seconds() / 60:.1f}" if sent else ""
            out.append(
                [
                    str(ticket.id),
                    str(channel),
                    identity.address if identity else "",
                    (identity.display_name or "") if identity else "",
                    sent.isoformat() if sent else "",
                    ticket.first_reply_at.isoformat(),
                    minutes,
                    text or "",
                    ticket.status,
                    login or "",
                ]
            )
    return out


def export_replied(app: App, key: str, path: Path, lang: str | None = None) -> int:
    """Write who replied to ``path`` (``.csv`` or ``.xlsx``, Excel-safe: the list report
    writer). Returns the number of rows."""
    rows = replied_rows(app, key)
    header = [t(f"conversation.export.{c}", lang=lang) for c in EXPORT_COLUMNS]
    write_table(path, header, rows)
    return len(rows)


@dataclass(frozen=True)
class ReplyOverview:
    #: Client messages (not automatic) received since midnight UTC.
    replies_today: int
    #: Tickets whose client replied and that wait for an agent.
    waiting: int


def reply_overview(app: App, now: datetime | None = None) -> ReplyOverview:
    now = now or app.clock.now()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with app.db.reader() as session:
        today = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(
                InboundMessage.received_at >= start,
                InboundMessage.received_at < start + timedelta(days=1),
                InboundMessage.auto_reply.is_(False),
                InboundMessage.ticket_id.is_not(None),
            )
        )
        waiting = session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.status == TicketStatus.REPLIED.value)
        )
    return ReplyOverview(int(today or 0), int(waiting or 0))
