"""Delivery, message by message: a campaign's recipients with their status and the
provider's error in plain words, its statuses over time, a ticket at a glance, and
Excel-safe exports of any of these lists.

Like :mod:`hde_core.services.dashboards`, every figure is computed by the database;
lists are read a page at a time (the campaign's index, ``LIMIT``/``OFFSET``), and an
export streams the same query in chunks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from hde_core.bootstrap import App
from hde_core.db.models import Campaign, Channel, Contact, ContactIdentity, Message, Ticket
from hde_core.domain.campaigns import shown_status
from hde_core.domain.statuses import MessageStatus
from hde_core.i18n import catalogue, t
from hde_core.lists.report import write_table

S = MessageStatus


def explain_error(
    error_class: str | None, code: str | None, text: str | None, lang: str | None = None
) -> str:
    """The provider's error for people: what it means (per error class, or per code for our
    own codes that say more, such as ``template_failed``), then its own words."""
    if not (error_class or code or text):
        return ""
    own = f"campaigns_page.error_code.{code}"
    if code and own in catalogue("en"):
        meaning = t(own, lang=lang)
    else:
        meaning = t(f"campaigns_page.error_class.{error_class or 'unknown'}", lang=lang)
    detail = " ".join(p for p in (code or "", text or "") if p).strip()
    return f"{meaning} ({detail})" if detail else meaning


@dataclass(frozen=True)
class RecipientRow:
    message_id: int
    ticket_id: int
    channel: str
    recipient: str
    contact: str
    kind: str
    status: str
    attempts: int
    error_class: str | None
    error_code: str | None
    error_text: str | None
    updated_at: datetime

    def error(self, lang: str | None = None) -> str:
        return explain_error(self.error_class, self.error_code, self.error_text, lang)


@dataclass
class RecipientPage:
    total: int
    rows: list[RecipientRow]


def _matching_ids(
    campaign_id: int, statuses: Sequence[str], channel: str | None, search: str | None
) -> Any:
    """``SELECT messages.id`` of the campaign's messages that match the filters, joining the
    channel and the contact only when a filter needs them (counting stays index-only)."""
    q = select(Message.id).where(Message.campaign_id == campaign_id)
    if statuses:
        q = q.where(Message.status.in_(list(statuses)))
    if channel:
        q = q.join(Channel, Channel.id == Message.channel_id).where(Channel.name == channel)
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        q = (
            q.outerjoin(ContactIdentity, ContactIdentity.id == Message.identity_id)
            .outerjoin(Contact, Contact.id == ContactIdentity.contact_id)
            .where(
                or_(func.lower(Message.recipient).like(like), func.lower(Contact.name).like(like))
            )
        )
    return q


def _details(ids: Any) -> Any:
    """The page's rows with their channel and contact, for the ids the subquery picked."""
    return (
        select(
            Message.id,
            Message.ticket_id,
            Channel.name,
            Message.recipient,
            func.coalesce(ContactIdentity.display_name, Contact.name),
            Message.kind,
            Message.status,
            Message.attempts,
            Message.error_class,
            Message.error_code,
            Message.error_text,
            Message.updated_at,
        )
        .select_from(Message)
        .join(Channel, Channel.id == Message.channel_id)
        .outerjoin(ContactIdentity, ContactIdentity.id == Message.identity_id)
        .outerjoin(Contact, Contact.id == ContactIdentity.contact_id)
        .where(Message.id.in_(ids))
        .order_by(Message.id)
    )


def campaign_recipients(
    app: App,
    campaign_id: int,
    *,
    statuses: Sequence[str] = (),
    channel: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RecipientPage:
    """One page of a campaign's messages (one per recipient and part), in send order.

    The page's ids are picked first from the messages alone; only those rows are joined
    to their channel and contact (a deep page does not join everything it skips).
    """
    ids = _matching_ids(campaign_id, statuses, channel, search)
    page_ids = ids.order_by(Message.id).limit(limit).offset(offset)
    with app.db.reader() as session:
        total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
        rows = (
            [RecipientRow(*row) for row in session.execute(_details(page_ids.scalar_subquery()))]
            if limit
            else []
        )
    return RecipientPage(int(total), rows)


def iter_campaign_recipients(
    app: App,
    campaign_id: int,
    *,
    statuses: Sequence[str] = (),
    channel: str | None = None,
    search: str | None = None,
    chunk: int = 5_000,
) -> Iterator[RecipientRow]:
    """Every matching message, read in chunks by id (keyset: no deep OFFSET)."""
    ids = _matching_ids(campaign_id, statuses, channel, search)
    last = 0
    while True:
        chunk_ids = ids.where(Message.id > last).order_by(Message.id).limit(chunk)
        with app.db.reader() as session:
            batch = [
                RecipientRow(*row) for row in session.execute(_details(chunk_ids.scalar_subquery()))
            ]
        yield from batch
        if len(batch) < chunk:
            return
        last = batch[-1].message_id


def statuses_over_time(app: App, campaign_id: int, bucket: str = "hour") -> list[dict[str, Any]]:
    """A campaign's messages per hour (or day) and status, **each message once**: at the
    time it was handed over (or failed, or last changed, for one still waiting), under
    its current status — the furthest it got. The bars add up to the messages.

    Counted by the database over the campaign's index; buckets are UTC.
    """
    bucket = "hour" if bucket == "hour" else "day"
    when = func.coalesce(Message.sent_at, Message.failed_at, Message.updated_at)
    if app.db.is_sqlite:
        fmt = "%Y-%m-%d %H:00:00" if bucket == "hour" else "%Y-%m-%d 00:00:00"
        slot: Any = func.strftime(fmt, when)
    else:
        slot = func.date_trunc(bucket, func.timezone("UTC", when))
    q = (
        select(slot, Message.status, func.count())
        .where(Message.campaign_id == campaign_id)
        .group_by(slot, Message.status)
    )
    out: list[dict[str, Any]] = []
    with app.db.reader() as session:
        rows = session.execute(q).all()
    for at, status, n in rows:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        out.append({"time": at.replace(tzinfo=UTC), "status": status, "count": int(n)})
    out.sort(key=lambda r: (r["time"], r["status"]))
    return out


@dataclass(frozen=True)
class CampaignChoice:
    id: int
    key: str
    name: str
    status: str  # shown: launching, interrupted, scheduled, running, paused, …
    created_at: datetime
    messages: int


def campaign_choices(app: App, limit: int = 200) -> list[CampaignChoice]:
    """Campaigns newest first, with their message counts (for the picker)."""
    counts = (
        select(Message.campaign_id, func.count().label("n"))
        .where(Message.campaign_id.is_not(None))
        .group_by(Message.campaign_id)
        .subquery()
    )
    q = (
        select(
            Campaign.id,
            Campaign.key,
            Campaign.name,
            Campaign.status,
            Campaign.scheduled_at,
            Campaign.launch_heartbeat_at,
            Campaign.created_at,
            func.coalesce(counts.c.n, 0),
        )
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        .limit(limit)
    )
    now = app.clock.now()
    with app.db.reader() as session:
        return [
            CampaignChoice(cid, key, name, shown_status(status, at, heartbeat, now), created, n)
            for cid, key, name, status, at, heartbeat, created, n in session.execute(q).all()
        ]


@dataclass(frozen=True)
class TicketMessage:
    id: int
    channel: str
    kind: str
    recipient: str
    status: str
    provider_message_id: str | None
    error: str


@dataclass(frozen=True)
class TicketSummary:
    id: int
    subject: str
    channel: str
    contact: str
    created_by: str
    created_at: datetime
    campaign: str | None
    messages: list[TicketMessage]


def ticket_summary(app: App, ticket_id: int, lang: str | None = None) -> TicketSummary | None:
    with app.db.reader() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        names = dict(session.execute(select(Channel.id, Channel.name)).all())
        contact = session.get(Contact, ticket.contact_id) if ticket.contact_id else None
        campaign = session.get(Campaign, ticket.campaign_id) if ticket.campaign_id else None
        messages = [
            TicketMessage(
                m.id,
                names.get(m.channel_id, str(m.channel_id)),
                m.kind,
                m.recipient,
                m.status,
                m.provider_message_id,
                explain_error(m.error_class, m.error_code, m.error_text, lang),
            )
            for m in session.scalars(
                select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
            )
        ]
        return TicketSummary(
            ticket.id,
            ticket.subject,
            names.get(ticket.channel_id, ""),
            contact.name if contact else "",
            ticket.created_by,
            ticket.created_at,
            campaign.key if campaign else None,
            messages,
        )


def tickets_of_contacts(
    app: App, contact_ids: Sequence[int], limit: int = 50
) -> list[dict[str, Any]]:
    """The latest tickets of the given contacts (to find a ticket by the client)."""
    if not contact_ids:
        return []
    q = (
        select(Ticket.id, Ticket.subject, Channel.name, Contact.name, Ticket.created_at)
        .join(Channel, Channel.id == Ticket.channel_id)
        .outerjoin(Contact, Contact.id == Ticket.contact_id)
        .where(Ticket.contact_id.in_(list(contact_ids)))
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    with app.db.reader() as session:
        return [
            {"id": tid, "subject": subject, "channel": ch, "contact": name or "", "created_at": at}
            for tid, subject, ch, name, at in session.execute(q).all()
        ]


# -- exports -------------------------------------------------------------------------------


def export_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str = "csv") -> bytes:
    """A table as an Excel-safe ``csv`` (UTF-8 with BOM, ``;``) or ``xlsx`` file's bytes:
    the list reports' writer (:func:`hde_core.lists.report.write_table`), so a cell like
    ``=HYPERLINK(…)`` is shown as text, never run."""
    suffix = ".xlsx" if fmt == "xlsx" else ".csv"
    text_rows = (["" if v is None else str(v) for v in row] for row in rows)
    with tempfile.TemporaryDirectory(prefix="hde-export-") as tmp:
        path = Path(tmp) / f"export{suffix}"
        write_table(path, [str(h) for h in header], text_rows)
        return path.read_bytes()
