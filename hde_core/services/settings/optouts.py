"""Who asked not to be written to, on which channel (R15): a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from hde_core.bootstrap import App
from hde_core.db.models import (
    Channel,
    Contact,
    ContactIdentity,
)

# -- opt-outs (R15) -------------------------------------------------------------------------


@dataclass(frozen=True)
class OptOutRow:
    channel: str
    address: str
    contact: str
    opted_out_at: datetime
    reason: str


@dataclass
class OptOutPage:
    total: int
    rows: list[OptOutRow]


def list_opt_outs(
    app: App,
    channel: str | None = None,
    search: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> OptOutPage:
    """Who must not be written to (newest first), read off the partial index of opt-outs."""
    conditions: list[Any] = [ContactIdentity.opted_out_at.is_not(None)]
    if channel:
        conditions.append(Channel.name == channel)
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        conditions.append(
            or_(func.lower(ContactIdentity.address).like(like), func.lower(Contact.name).like(like))
        )
    base = (
        select(ContactIdentity.id)
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(*conditions)
    )
    q = (
        select(
            Channel.name,
            ContactIdentity.address,
            func.coalesce(ContactIdentity.display_name, Contact.name),
            ContactIdentity.opted_out_at,
            ContactIdentity.opt_out_reason,
        )
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(*conditions)
        .order_by(ContactIdentity.opted_out_at.desc(), ContactIdentity.id.desc())
        .offset(offset)
    )
    if limit is not None:
        q = q.limit(limit)
    with app.db.reader() as session:
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = [
            OptOutRow(ch, address, name or "", at, reason or "")  # type: ignore[arg-type]
            for ch, address, name, at, reason in session.execute(q).all()
        ]
    return OptOutPage(int(total), rows)
