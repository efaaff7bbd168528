"""The contacts and identities a bulk run writes to: each (channel, address) found, or
created (merged with a contact known by the same address on a channel of that kind)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hde_core.db.bulk import insert_with_ids, where_in
from hde_core.db.models import (
    Channel,
    Contact,
    ContactIdentity,
)
from hde_core.domain.statuses import MessageStatus
from hde_core.services.campaigns.plan import Plan
from hde_core.services.lists import (
    LoadedList,
    RowVerdict,
)

S = MessageStatus


def identities(
    session: Session, plan: Plan, rows: list[RowVerdict], now: datetime
) -> dict[tuple[int, str], tuple[int, int]]:
    """(channel, address) → (identity id, contact id); new addresses get a contact and an
    identity (merged with a contact known by the same address on a channel of that kind)."""
    wanted: dict[int, set[str]] = {}
    for r in rows:
        wanted.setdefault(r.channel_id or 0, set()).add(r.recipient or "")
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for channel_id, addresses in wanted.items():
        channel = plan.channels[channel_id].channel
        for identity_id, contact_id, address in session.execute(
            where_in(
                session,
                select(
                    ContactIdentity.id, ContactIdentity.contact_id, ContactIdentity.address
                ).where(ContactIdentity.channel_id.in_([channel_id])),
                ContactIdentity.address,
                addresses,
            )
        ):
            out[(channel_id, address)] = (identity_id, contact_id)
        new = sorted(a for a in addresses if (channel_id, a) not in out)
        if not new:
            continue
        # the channels of this kind first, so that the lookup walks the (channel, address)
        # unique index whatever the planner believes about the table's size
        same_kind = list(session.scalars(select(Channel.id).where(Channel.kind == channel.kind)))
        twins = dict(
            session.execute(
                where_in(
                    session,
                    select(ContactIdentity.address, func.min(ContactIdentity.contact_id)).where(
                        ContactIdentity.channel_id.in_(same_kind)
                    ),
                    ContactIdentity.address,
                    new,
                ).group_by(ContactIdentity.address)
            ).all()
        )
        names = {r.recipient: row_name(plan.loaded, r) for r in rows if r.channel_id == channel_id}
        fresh = [a for a in new if a not in twins]
        if fresh:
            contact_ids = insert_with_ids(
                session,
                Contact,
                [
                    {
                        "name": names.get(a) or "",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for a in fresh
                ],
            )
            twins.update(zip(fresh, contact_ids, strict=True))
        identity_ids = insert_with_ids(
            session,
            ContactIdentity,
            [
                {
                    "contact_id": twins[a],
                    "channel_id": channel_id,
                    "address": a,
                    "display_name": names.get(a) or None,
                    "created_at": now,
                }
                for a in new
            ],
        )
        for a, identity_id in zip(new, identity_ids, strict=True):
            out[(channel_id, a)] = (identity_id, twins[a])
    return out


def row_name(loaded: LoadedList, row: RowVerdict) -> str:
    column = loaded.mapping.get("name")
    return (row.values.get(column) or "").strip() if column else ""
