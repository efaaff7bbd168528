"""What the console's home page shows: is the core up, and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from hde_core.bootstrap import App
from hde_core.db.migrate import current_heads, script_heads
from hde_core.db.models import Channel, Message, Ticket


@dataclass
class ChannelHealth:
    name: str
    kind: str
    provider: str
    enabled: bool
    sandbox: bool
    status: str
    error: str | None
    checked_at: datetime | None


@dataclass
class Health:
    database: str
    schema_current: bool
    revision: str
    tickets: int
    messages_by_status: dict[str, int] = field(default_factory=dict)
    channels: list[ChannelHealth] = field(default_factory=list)


def masked_database_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def health(app: App) -> Health:
    heads = current_heads(app.db)
    with app.db.reader() as session:
        tickets = session.scalar(select(func.count()).select_from(Ticket)) or 0
        by_status = dict(
            session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
        channels = [
            ChannelHealth(
                c.name,
                c.kind,
                c.provider,
                c.enabled,
                c.is_sandbox,
                c.connection_status,
                c.connection_error,
                c.status_checked_at,
            )
            for c in session.scalars(select(Channel).order_by(Channel.name))
        ]
    return Health(
        database=masked_database_url(app.db.url),
        schema_current=heads == script_heads(),
        revision=", ".join(sorted(heads)) or "—",
        tickets=tickets,
        messages_by_status=by_status,
        channels=channels,
    )
