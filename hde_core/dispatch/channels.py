"""Which channels may send now, and the limits a claim reads (a plain row per channel)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel
from hde_core.domain.channels import ConnectionStatus
from hde_core.services.channels import recipient_interval


@dataclass(frozen=True)
class ChannelLimits:
    """The channel facts a claim needs, read inside the claim transaction."""

    id: int
    rate: float
    burst: int
    max_attempts: int
    #: Seconds between two messages to one recipient, when the provider has such a rule.
    per_recipient: float | None


#: The channel columns a claim reads (a plain row: loading the ORM object costs more).
_LIMIT_COLUMNS = (
    Channel.id,
    Channel.enabled,
    Channel.connection_status,
    Channel.paused_until,
    Channel.rate_per_sec,
    Channel.burst,
    Channel.max_attempts,
    Channel.settings,
    Channel.provider,
)


def sendable_channel(session: Session, channel_id: int, now: datetime) -> ChannelLimits | None:
    channel = session.execute(select(*_LIMIT_COLUMNS).where(Channel.id == channel_id)).first()
    if (
        channel is None
        or not channel.enabled
        or channel.connection_status == ConnectionStatus.ERROR.value
        or (channel.paused_until is not None and channel.paused_until > now)
    ):
        return None
    return ChannelLimits(
        id=channel.id,
        rate=channel.rate_per_sec,
        burst=channel.burst,
        max_attempts=channel.max_attempts,
        per_recipient=recipient_interval(channel),
    )


def sendable_channels(app: App) -> tuple[list[int], datetime | None]:
    """Channels that may send now, and when the first paused one resumes."""
    now = app.clock.now()
    with app.db.reader() as session:
        rows = session.execute(
            select(Channel.id, Channel.paused_until)
            .where(
                Channel.enabled.is_(True),
                Channel.connection_status != ConnectionStatus.ERROR.value,
            )
            .order_by(Channel.id)
        ).all()
    ready = [cid for cid, paused in rows if paused is None or paused <= now]
    resumes = [paused for _, paused in rows if paused is not None and paused > now]
    return ready, min(resumes) if resumes else None
