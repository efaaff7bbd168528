"""What the faces read of the conversation: the tickets list and one ticket's thread.

The list filters by status, channel, campaign, assignee and window (open / closing within
2 hours), counts the tickets per status under the other filters, pages, and orders by the
newest activity (``ix_ticket_status_activity``, ``ix_ticket_last_activity``); an agent's
own tickets come first when the face asks (``mine_first``). The thread is every message of
the ticket in time order — ours with their delivery state, the client's — with the audit
trail and the contact's other channels beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import (
    AuditEvent,
    Campaign,
    Channel,
    Contact,
    ContactIdentity,
    InboundMessage,
    Message,
    Ticket,
    User,
)
from hde_core.domain.channels import ChannelKind
from hde_core.domain.tickets import TicketStatus
from hde_core.domain.window import WINDOW, window_closes_at, window_is_open
from hde_core.errors import NotFound

#: "closing soon" in the window filter.
CLOSING_WITHIN = timedelta(hours=2)
PAGE_SIZE_MAX = 200


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    channel: str | None = None
    campaign: str | None = None
    #: An assignee's login; ``"-"`` for unassigned tickets.
    assignee: str | None = None
    #: ``open`` (the WhatsApp window is open) or ``closing`` (it closes within 2 hours).
    window: str | None = None


@dataclass(frozen=True)
class TicketRow:
    id: int
    subject: str
    status: str
    channel: str
    channel_kind: str
    contact: str
    address: str
    campaign: str | None
    assignee: str | None
    last_activity_at: datetime
    first_reply_at: datetime | None
    window_closes_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("last_activity_at", "first_reply_at", "window_closes_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass
class TicketPage:
    rows: list[TicketRow]
    total: int
    #: Tickets per status under the other filters (the status filter's counts).
    counts: dict[str, int]
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "page": self.page,
            "pages": self.pages,
            "per_page": self.per_page,
            "counts": self.counts,
            "tickets": [r.as_dict() for r in self.rows],
        }


def _conditions(session: Session, f: TicketFilter, now: datetime) -> list[Any]:
    where: list[Any] = []
    if f.channel:
        where.append(Ticket.channel_id == _id_of(session, Channel, Channel.name, f.channel))
    if f.campaign:
        where.append(Ticket.campaign_id == _id_of(session, Campaign, Campaign.key, f.campaign))
    if f.assignee == "-":
        where.append(Ticket.assignee_id.is_(None))
    elif f.assignee:
        where.append(Ticket.assignee_id == _id_of(session, User, User.login, f.assignee))
    if f.window in ("open", "closing"):
        since = now - WINDOW
        window = [ContactIdentity.last_inbound_at > since]
        if f.window == "closing":
            window.append(ContactIdentity.last_inbound_at <= since + CLOSING_WITHIN)
        where.append(Ticket.identity_id.in_(select(ContactIdentity.id).where(and_(*window))))
        where.append(
            Ticket.channel_id.in_(
                select(Channel.id).where(Channel.kind == ChannelKind.WA_BUSINESS.value)
            )
        )
    return where


def _id_of(session: Session, model: Any, column: Any, value: str) -> int:
    found = session.scalar(select(model.id).where(column == value))
    if found is None:
        raise NotFound("conversation.error.filter_unknown", value=value)
    return int(found)


def list_tickets(
    app: App,
    filters: TicketFilter | None = None,
    page: int = 1,
    per_page: int = 50,
    mine_first: str | None = None,
) -> TicketPage:
    """One page of tickets, newest activity first (``mine_first``: a login whose tickets
    lead the list)."""
    f = filters or TicketFilter()
    per_page = max(1, min(per_page, PAGE_SIZE_MAX))
    page = max(1, page)
    now = app.clock.now()
    with app.db.reader() as session:
        where = _conditions(session, f, now)
        counts = {s.value: 0 for s in TicketStatus}
        counts.update(
            {
                str(status): int(n)
                for status, n in session.execute(
                    select(Ticket.status, func.count()).where(*where).group_by(Ticket.status)
                ).all()
            }
        )
        if f.status:
            where.append(Ticket.status == f.status)
            total = counts.get(f.status, 0)
        else:
            total = sum(counts.values())
        order: list[Any] = []
        if mine_first:
            me = session.scalar(select(User.id).where(User.login == mine_first))
            if me is not None:
                order.append(case((Ticket.assignee_id == me, 0), else_=1))
        order += [Ticket.last_activity_at.desc(), Ticket.id.desc()]
        ids = list(
            session.scalars(
                select(Ticket.id)
                .where(*where)
                .order_by(*order)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        )
        rows = _rows(session, ids, now)
    return TicketPage(rows, total, counts, page, per_page)


def _row_query(ids: list[int]) -> Any:
    query = (
        select(Ticket, Channel, ContactIdentity, Contact.name, Campaign.key, User.login)
        .join(Channel, Channel.id == Ticket.channel_id)
        .outerjoin(ContactIdentity, ContactIdentity.id == Ticket.identity_id)
        .outerjoin(Contact, Contact.id == Ticket.contact_id)
        .outerjoin(Campaign, Campaign.id == Ticket.campaign_id)
        .outerjoin(User, User.id == Ticket.assignee_id)
        .where(Ticket.id.in_(ids))
    )
    return query


def _rows(session: Session, ids: list[int], now: datetime) -> list[TicketRow]:
    if not ids:
        return []
    found = {}
    for ticket, channel, identity, name, key, login in session.execute(_row_query(ids)).all():
        last = identity.last_inbound_at if identity else None
        closes = (
            window_closes_at(last)
            if channel.kind == ChannelKind.WA_BUSINESS and window_is_open(last, now)
            else None
        )
        found[ticket.id] = TicketRow(
            id=ticket.id,
            subject=ticket.subject,
            status=ticket.status,
            channel=channel.name,
            channel_kind=channel.kind,
            contact=name or (identity.display_name if identity else "") or "",
            address=identity.address if identity else "",
            campaign=key,
            assignee=login,
            last_activity_at=ticket.last_activity_at,
            first_reply_at=ticket.first_reply_at,
            window_closes_at=closes,
        )
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True)
class ThreadEntry:
    """One message of the thread: ``ours`` (an outbox message) or the client's."""

    at: datetime
    ours: bool
    id: int
    kind: str  # email | text | template | client
    text: str
    status: str | None = None  # ours: queued … read, held, failed
    template: str | None = None
    error: str | None = None
    auto_reply: bool = False
    attachments: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["at"] = self.at.isoformat()
        out["attachments"] = list(self.attachments)
        return out


@dataclass
class TicketThread:
    ticket: TicketRow
    body: str
    author: str
    created_by: str
    entries: list[ThreadEntry] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    #: The contact's other channels: (channel name, address).
    other_channels: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.as_dict(),
            "body": self.body,
            "author": self.author,
            "created_by": self.created_by,
            "thread": [e.as_dict() for e in self.entries],
            "audit": self.audit,
            "other_channels": [{"channel": c, "address": a} for c, a in self.other_channels],
        }


def _our_text(m: Message) -> str:
    p = m.payload or {}
    if m.kind == "template":
        params = p.get("params") or {}
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        return f"{p.get('template_name', '')}" + (f" ({shown})" if shown else "")
    if m.kind == "email":
        return f"{p.get('subject', '')}\n\n{p.get('text', '')}".strip()
    return str(p.get("text") or "")


def ticket_thread(app: App, ticket_id: int) -> TicketThread:
    """The ticket, its whole thread in time order, its audit trail and the contact's
    other channels. Raises :class:`NotFound`."""
    now = app.clock.now()
    with app.db.reader() as session:
        rows = _rows(session, [ticket_id], now)
        ticket = session.get(Ticket, ticket_id)
        if not rows or ticket is None:
            raise NotFound("conversation.error.no_ticket", id=ticket_id)
        entries = [
            ThreadEntry(
                at=m.sent_at or m.created_at,
                ours=True,
                id=m.id,
                kind=m.kind,
                text=_our_text(m),
                status=m.status,
                template=(m.payload or {}).get("template_name"),
                error=m.error_text,
            )
            for m in session.scalars(select(Message).where(Message.ticket_id == ticket_id))
        ]
        entries += [
            ThreadEntry(
                at=i.received_at,
                ours=False,
                id=i.id,
                kind="client",
                text=i.text,
                auto_reply=i.auto_reply,
                attachments=tuple(i.attachments or ()),
            )
            for i in session.scalars(
                select(InboundMessage).where(InboundMessage.ticket_id == ticket_id)
            )
        ]
        entries.sort(key=lambda e: (e.at, not e.ours, e.id))
        trail = [
            {"at": a.at.isoformat(), "actor": a.actor, "event": a.event, "data": a.data}
            for a in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.ticket_id == ticket_id)
                .order_by(AuditEvent.at, AuditEvent.id)
            )
        ]
        others = []
        if ticket.contact_id is not None:
            others = [
                (str(name), str(address))
                for name, address in session.execute(
                    select(Channel.name, ContactIdentity.address)
                    .join(Channel, Channel.id == ContactIdentity.channel_id)
                    .where(
                        ContactIdentity.contact_id == ticket.contact_id,
                        ContactIdentity.id != ticket.identity_id,
                    )
                    .order_by(Channel.name)
                ).all()
            ]
        return TicketThread(
            rows[0], ticket.body, ticket.author, ticket.created_by, entries, trail, others
        )


def message_status(app: App, message_id: int) -> str | None:
    with app.db.reader() as session:
        return session.scalar(select(Message.status).where(Message.id == message_id))
