"""The window monitor (R12): whose 24-hour window is open, how long it has left, and which
messages wait for a client to reply.

A window is open while ``last_inbound_at + 24 h`` is in the future, so "closing first"
is "oldest ``last_inbound_at`` first": the list reads the ``last_inbound_at`` index
(revision 0006) in order and stops at the page. Held messages are read off the
``status`` index. Counts are ``count(*)`` in the database; no row is loaded to count it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import aliased

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Contact, ContactIdentity, Message
from hde_core.domain.channels import MESSENGER_KINDS
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.window import WINDOW

#: A window closing sooner than this is highlighted (and counted apart).
CLOSING_SOON = timedelta(hours=2)
_MESSENGERS = sorted(k.value for k in MESSENGER_KINDS)


@dataclass(frozen=True)
class OpenWindow:
    identity_id: int
    channel: str
    kind: str
    contact: str
    address: str
    last_inbound_at: datetime
    closes_at: datetime
    seconds_left: int
    #: Messages to this client held on this channel (waiting for a reply that the window
    #: already brought: they are released within seconds, so normally 0).
    held: int

    @property
    def closing_soon(self) -> bool:
        return self.seconds_left <= CLOSING_SOON.total_seconds()


@dataclass
class WindowPage:
    total: int
    closing_soon: int
    rows: list[OpenWindow]


def _search(search: str | None, *columns: Any) -> list[Any]:
    if not search or not search.strip():
        return []
    like = f"%{search.strip().lower()}%"
    return [or_(*(func.lower(c).like(like) for c in columns))]


def open_windows(
    app: App,
    channels: Sequence[str] = (),
    *,
    closing_within: timedelta | None = None,
    search: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> WindowPage:
    """Open windows on messenger channels, closing first; ``closing_within`` keeps only those
    that close sooner than that."""
    now = app.clock.now()
    opened_after = now - WINDOW
    conditions = [
        ContactIdentity.last_inbound_at > opened_after,
        Channel.kind.in_(_MESSENGERS),
        *_search(search, ContactIdentity.address, Contact.name, ContactIdentity.display_name),
    ]
    if channels:
        conditions.append(Channel.name.in_(list(channels)))
    if closing_within is not None:
        conditions.append(ContactIdentity.last_inbound_at <= opened_after + closing_within)
    soon = ContactIdentity.last_inbound_at <= opened_after + CLOSING_SOON
    counts = (
        select(func.count(), func.sum(case((soon, 1), else_=0)))
        .select_from(ContactIdentity)
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(*conditions)
    )
    held = (
        select(func.count())
        .where(
            Message.identity_id == ContactIdentity.id,
            Message.status == MessageStatus.HELD.value,
        )
        .correlate(ContactIdentity)
        .scalar_subquery()
    )
    q = (
        select(
            ContactIdentity.id,
            Channel.name,
            Channel.kind,
            func.coalesce(ContactIdentity.display_name, Contact.name),
            ContactIdentity.address,
            ContactIdentity.last_inbound_at,
            held,
        )
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(*conditions)
        .order_by(ContactIdentity.last_inbound_at, ContactIdentity.id)
        .offset(offset)
    )
    if limit is not None:
        q = q.limit(limit)
    with app.db.reader() as session:
        total, closing = session.execute(counts).one()
        rows = []
        for iid, channel, kind, name, address, last, n_held in session.execute(q).all():
            closes = last + WINDOW
            rows.append(
                OpenWindow(
                    iid,
                    channel,
                    kind,
                    name or "",
                    address,
                    last,
                    closes,
                    max(0, int((closes - now).total_seconds())),
                    int(n_held or 0),
                )
            )
    return WindowPage(int(total or 0), int(closing or 0), rows)


@dataclass(frozen=True)
class HeldMessage:
    message_id: int
    ticket_id: int
    channel: str
    contact: str
    recipient: str
    held_since: datetime
    #: The template sent before it (WhatsApp Business, window closed), and its status.
    template_status: str | None
    #: The client's window on this channel is open (the message is about to be released).
    window_open: bool


@dataclass
class HeldPage:
    total: int
    rows: list[HeldMessage]


def held_messages(
    app: App,
    channels: Sequence[str] = (),
    *,
    search: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> HeldPage:
    """Messages held until the client replies (R12), longest waiting first.

    The page's ids come from the messages alone (the ``status`` index); only those rows are
    joined to their contact and to the template sent before them.
    """
    now = app.clock.now()
    ids = select(Message.id).where(Message.status == MessageStatus.HELD.value)
    if channels:
        ids = ids.join(Channel, Channel.id == Message.channel_id).where(
            Channel.name.in_(list(channels))
        )
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        ids = (
            ids.outerjoin(ContactIdentity, ContactIdentity.id == Message.identity_id)
            .outerjoin(Contact, Contact.id == ContactIdentity.contact_id)
            .where(
                or_(func.lower(Message.recipient).like(like), func.lower(Contact.name).like(like))
            )
        )
    page = ids.order_by(Message.updated_at, Message.id).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    template = aliased(Message)
    q = (
        select(
            Message.id,
            Message.ticket_id,
            Channel.name,
            func.coalesce(ContactIdentity.display_name, Contact.name),
            Message.recipient,
            Message.updated_at,
            template.status,
            ContactIdentity.last_inbound_at,
        )
        .select_from(Message)
        .join(Channel, Channel.id == Message.channel_id)
        .outerjoin(ContactIdentity, ContactIdentity.id == Message.identity_id)
        .outerjoin(Contact, Contact.id == ContactIdentity.contact_id)
        .outerjoin(template, template.id == Message.after_message_id)
        .where(Message.id.in_(page.scalar_subquery()))
        .order_by(Message.updated_at, Message.id)
    )
    with app.db.reader() as session:
        total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
        rows = (
            [
                HeldMessage(
                    mid,
                    tid,
                    channel,
                    name or "",
                    recipient,
                    since,
                    tstatus,
                    last is not None and last + WINDOW > now,
                )
                for mid, tid, channel, name, recipient, since, tstatus, last in session.execute(q)
            ]
            if limit != 0
            else []
        )
    return HeldPage(int(total), rows)


def window_channels(app: App) -> list[str]:
    """Channels that have windows (messengers), for the filter."""
    with app.db.reader() as session:
        return list(
            session.scalars(
                select(Channel.name).where(Channel.kind.in_(_MESSENGERS)).order_by(Channel.name)
            )
        )
