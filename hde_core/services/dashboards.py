"""Aggregates for the console's overview and delivery pages.

Every figure is computed by the database (GROUP BY over indexed columns), never by
loading rows into Python: the pages must stay fast on a million messages and
five million audit events (see ``bench/dashboards.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.sql import ColumnElement

from hde_core.bootstrap import App
from hde_core.channels.registry import adapter_class
from hde_core.db.models import Campaign, Channel, ContactIdentity, Message, Ticket
from hde_core.domain.channels import MESSENGER_KINDS
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.window import WINDOW
from hde_core.errors import ConfigError

S = MessageStatus
HANDED = (S.SENT.value, S.DELIVERED.value, S.READ.value)


def receipts(provider: str) -> tuple[bool, bool]:
    """Whether a provider reports delivery and reading (its adapter says so): without
    reports a 0 % would be a lie, so the console says "no delivery data" instead."""
    try:
        adapter = adapter_class(provider)
    except ConfigError:
        return False, False
    return adapter.reports_delivery, adapter.reports_read


@dataclass(frozen=True)
class ChannelRates:
    channel_id: int
    channel: str
    kind: str
    handed_over: int  # sent + delivered + read
    delivered: int  # delivered + read ("read" implies delivered)
    read: int
    failed: int
    reports_delivery: bool = True
    reports_read: bool = True

    @property
    def delivery_rate(self) -> float | None:
        """None: nothing handed over yet, or the channel cannot report delivery."""
        if not self.reports_delivery:
            return None
        return self.delivered / self.handed_over if self.handed_over else None

    @property
    def read_rate(self) -> float | None:
        if not self.reports_read:
            return None
        return self.read / self.handed_over if self.handed_over else None


@dataclass(frozen=True)
class ChannelHealthRow:
    channel_id: int
    channel: str
    kind: str
    enabled: bool
    status: str
    error: str | None
    checked_at: datetime | None
    paused_until: datetime | None
    open_windows: int
    held: int


@dataclass(frozen=True)
class UncertainRow:
    message_id: int
    ticket_id: int
    channel: str
    recipient: str
    since: datetime


@dataclass
class Overview:
    tickets_today: int
    tickets_week: int
    statuses_today: dict[str, int] = field(default_factory=dict)
    statuses_week: dict[str, int] = field(default_factory=dict)
    rates: list[ChannelRates] = field(default_factory=list)
    health: list[ChannelHealthRow] = field(default_factory=list)
    uncertain: list[UncertainRow] = field(default_factory=list)
    uncertain_total: int = 0

    @property
    def held_total(self) -> int:
        return sum(h.held for h in self.health)

    @property
    def open_windows_total(self) -> int:
        return sum(h.open_windows for h in self.health)


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def overview(app: App, uncertain_limit: int = 50) -> Overview:
    now = app.clock.now()
    today = _day_start(now)
    week = today - timedelta(days=6)
    with app.db.reader() as s:
        tickets_today = (
            s.scalar(select(func.count()).select_from(Ticket).where(Ticket.created_at >= today))
            or 0
        )
        tickets_week = (
            s.scalar(select(func.count()).select_from(Ticket).where(Ticket.created_at >= week)) or 0
        )

        def statuses(since: datetime) -> dict[str, int]:
            rows = s.execute(
                select(Message.status, func.count())
                .where(Message.created_at >= since)
                .group_by(Message.status)
            ).all()
            return {status: n for status, n in rows}

        rates = _rates(s, week)
        health = _health(s, now)
        uncertain_q = (
            select(
                Message.id, Message.ticket_id, Channel.name, Message.recipient, Message.updated_at
            )
            .join(Channel, Channel.id == Message.channel_id)
            .where(Message.status == S.UNCERTAIN.value)
            .order_by(Message.updated_at)
            .limit(uncertain_limit)
        )
        uncertain = [UncertainRow(*row) for row in s.execute(uncertain_q).all()]
        uncertain_total = (
            s.scalar(
                select(func.count()).select_from(Message).where(Message.status == S.UNCERTAIN.value)
            )
            or 0
        )
        return Overview(
            tickets_today=tickets_today,
            tickets_week=tickets_week,
            statuses_today=statuses(today),
            statuses_week=statuses(week),
            rates=rates,
            health=health,
            uncertain=uncertain,
            uncertain_total=uncertain_total,
        )


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _rates(s: Any, since: datetime) -> list[ChannelRates]:
    q = (
        select(
            Channel.id,
            Channel.name,
            Channel.kind,
            Channel.provider,
            _count_if(Message.status.in_(HANDED)),
            _count_if(Message.status.in_((S.DELIVERED.value, S.READ.value))),
            _count_if(Message.status == S.READ.value),
            _count_if(Message.status == S.FAILED.value),
        )
        .join(Message, Message.channel_id == Channel.id)
        .where(Message.created_at >= since)
        .group_by(Channel.id, Channel.name, Channel.kind, Channel.provider)
        .order_by(Channel.name)
    )
    return [
        ChannelRates(
            cid, name, kind, int(h or 0), int(d or 0), int(r or 0), int(f or 0), *receipts(prov)
        )
        for cid, name, kind, prov, h, d, r, f in s.execute(q).all()
    ]


def _health(s: Any, now: datetime) -> list[ChannelHealthRow]:
    windows = dict(
        s.execute(
            select(ContactIdentity.channel_id, func.count())
            .where(ContactIdentity.last_inbound_at > now - WINDOW)
            .group_by(ContactIdentity.channel_id)
        ).all()
    )
    held = dict(
        s.execute(
            select(Message.channel_id, func.count())
            .where(Message.status == S.HELD.value)
            .group_by(Message.channel_id)
        ).all()
    )
    rows = []
    for c in s.scalars(select(Channel).order_by(Channel.name)):
        rows.append(
            ChannelHealthRow(
                c.id,
                c.name,
                c.kind,
                c.enabled,
                c.connection_status,
                c.connection_error,
                c.status_checked_at,
                c.paused_until if c.paused_until and c.paused_until > now else None,
                windows.get(c.id, 0) if c.kind in MESSENGER_KINDS else 0,
                held.get(c.id, 0),
            )
        )
    return rows


# -- delivery analytics (charts) ----------------------------------------------------------


def funnel(
    app: App, campaign_id: int | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """queued → sent → delivered → read counts per channel (for a campaign or a period).

    Each stage counts the messages that reached it or a later one. ``reports_delivery`` and
    ``reports_read`` say whether the channel can tell (email and Telegram cannot: their
    funnel ends at "sent").
    """
    conditions = []
    if campaign_id is not None:
        conditions.append(Message.campaign_id == campaign_id)
    if since is not None:
        conditions.append(Message.created_at >= since)
    q = (
        select(
            Channel.name,
            Channel.provider,
            func.count(),
            _count_if(Message.status.in_(HANDED)),
            _count_if(Message.status.in_((S.DELIVERED.value, S.READ.value))),
            _count_if(Message.status == S.READ.value),
            _count_if(Message.status == S.FAILED.value),
        )
        .join(Channel, Channel.id == Message.channel_id)
        .where(*conditions)
        .group_by(Channel.name, Channel.provider)
        .order_by(Channel.name)
    )
    with app.db.reader() as s:
        rows = s.execute(q).all()
    out = []
    for name, provider, total, h, d, r, f in rows:
        delivery, reading = receipts(provider)
        out.append(
            {
                "channel": name,
                "queued": int(total),
                "sent": int(h or 0),
                "delivered": int(d or 0),
                "read": int(r or 0),
                "failed": int(f or 0),
                "reports_delivery": delivery,
                "reports_read": reading,
            }
        )
    return out


def statuses_by_day(
    app: App, days: int = 30, campaign_id: int | None = None
) -> list[dict[str, Any]]:
    """Messages created per day and their current status (for a stacked chart)."""
    since = _day_start(app.clock.now()) - timedelta(days=days - 1)
    day = cast(Message.created_at, Date) if not app.db.is_sqlite else func.date(Message.created_at)
    conditions = [Message.created_at >= since]
    if campaign_id is not None:
        conditions.append(Message.campaign_id == campaign_id)
    q = (
        select(day, Message.status, func.count())
        .where(*conditions)
        .group_by(day, Message.status)
        .order_by(day)
    )
    with app.db.reader() as s:
        return [
            {"day": str(d), "status": status, "count": n} for d, status, n in s.execute(q).all()
        ]


def failure_reasons(
    app: App, since: datetime | None = None, campaign_id: int | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    conditions = [Message.status == S.FAILED.value]
    if since is not None:
        conditions.append(Message.created_at >= since)
    if campaign_id is not None:
        conditions.append(Message.campaign_id == campaign_id)
    q = (
        select(Message.error_class, Message.error_code, func.min(Message.error_text), func.count())
        .where(*conditions)
        .group_by(Message.error_class, Message.error_code)
        .order_by(func.count().desc())
        .limit(limit)
    )
    with app.db.reader() as s:
        return [
            {"error_class": ec or "unknown", "code": code or "", "example": text or "", "count": n}
            for ec, code, text, n in s.execute(q).all()
        ]


def delivery_times(
    app: App, since: datetime | None = None, campaign_id: int | None = None
) -> list[dict[str, Any]]:
    """Average seconds from sent to delivered and to read, per channel (``None`` where
    nothing was reported; ``reports_delivery`` says whether the channel ever can)."""
    if app.db.is_sqlite:

        def seconds(later: Any, earlier: Any) -> Any:
            return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    else:

        def seconds(later: Any, earlier: Any) -> Any:
            return func.extract("epoch", later - earlier)

    conditions: list[ColumnElement[bool]] = [Message.sent_at.is_not(None)]
    if since is not None:
        conditions.append(Message.created_at >= since)
    if campaign_id is not None:
        conditions.append(Message.campaign_id == campaign_id)
    q = (
        select(
            Channel.name,
            Channel.provider,
            func.avg(seconds(Message.delivered_at, Message.sent_at)),
            func.avg(seconds(Message.read_at, Message.sent_at)),
        )
        .join(Channel, Channel.id == Message.channel_id)
        .where(*conditions)
        .group_by(Channel.name, Channel.provider)
        .order_by(Channel.name)
    )
    with app.db.reader() as s:
        rows = s.execute(q).all()
    return [
        {
            "channel": name,
            "to_delivered_s": float(d) if d is not None else None,
            "to_read_s": float(r) if r is not None else None,
            "reports_delivery": receipts(provider)[0],
        }
        for name, provider, d, r in rows
    ]


def campaigns_summary(app: App, limit: int = 50) -> list[dict[str, Any]]:
    q = (
        select(
            Campaign.id,
            Campaign.key,
            Campaign.name,
            Campaign.status,
            Campaign.created_at,
            Message.status,
            func.count(),
        )
        .outerjoin(Message, Message.campaign_id == Campaign.id)
        .group_by(
            Campaign.id,
            Campaign.key,
            Campaign.name,
            Campaign.status,
            Campaign.created_at,
            Message.status,
        )
        .order_by(Campaign.created_at.desc())
    )
    out: dict[int, dict[str, Any]] = {}
    with app.db.reader() as s:
        for cid, key, name, status, created, msg_status, n in s.execute(q).all():
            row = out.setdefault(
                cid,
                {
                    "id": cid,
                    "key": key,
                    "name": name,
                    "status": status,
                    "created_at": created,
                    "counts": {},
                },
            )
            if msg_status:
                row["counts"][msg_status] = n
    return list(out.values())[:limit]
