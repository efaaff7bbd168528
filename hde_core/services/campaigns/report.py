"""Where a campaign stands: its shown status and its messages per status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import (
    Campaign,
    Channel,
    Message,
    Ticket,
)
from hde_core.domain.campaigns import shown_status
from hde_core.domain.statuses import MessageStatus
from hde_core.errors import NotFound

S = MessageStatus


def by_key(session: Session, key: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.key == key))
    if campaign is None:
        raise NotFound("campaigns.error.not_found", key=key)
    return campaign


@dataclass
@dataclass
class CampaignReport:
    key: str
    name: str
    status: str  # a ShownStatus: launching, interrupted, scheduled, running, paused, …
    created_at: datetime
    created_by: str
    scheduled_at: datetime | None
    channels: list[str]
    rows: int
    eligible: int
    tickets: int
    messages: dict[str, int]
    cancelled_now: int = 0

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    @property
    def unsent(self) -> int:
        return sum(self.messages.get(s, 0) for s in ("queued", "retrying", "held", "sending"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.key,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "channels": self.channels,
            "rows": self.rows,
            "eligible": self.eligible,
            "tickets": self.tickets,
            "messages": self.messages,
            "total_messages": self.total,
            "cancelled_now": self.cancelled_now,
        }


def campaign_report(app: App, key: str) -> CampaignReport:
    now = app.clock.now()
    with app.db.reader() as session:
        c = by_key(session, key)
        counts = {s.value: 0 for s in MessageStatus}
        counts.update(
            dict(
                session.execute(
                    select(Message.status, func.count())
                    .where(Message.campaign_id == c.id)
                    .group_by(Message.status)
                ).all()
            )
        )
        tickets = session.scalar(select(func.count()).where(Ticket.campaign_id == c.id)) or 0
        names = dict(session.execute(select(Channel.id, Channel.name)).all())
        status = shown_status(c.status, c.scheduled_at, c.launch_heartbeat_at, now)
        return CampaignReport(
            key=c.key,
            name=c.name,
            status=status,
            created_at=c.created_at,
            created_by=c.created_by,
            scheduled_at=c.scheduled_at,
            channels=[names.get(i, str(i)) for i in c.channel_ids],
            rows=c.total_rows,
            eligible=c.eligible_rows,
            tickets=int(tickets),
            messages=counts,
        )
