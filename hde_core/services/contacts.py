"""Contacts and their identities per channel: lookup, creation, inbound marks, opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.db.models import Channel, Contact, ContactIdentity
from hde_core.services import audit


def find_identity(
    session: Session,
    channel_id: int,
    address: str,
    *,
    by_username: bool = False,
    by_phone: bool = False,
) -> ContactIdentity | None:
    stmt = select(ContactIdentity).where(ContactIdentity.channel_id == channel_id)
    if by_username:
        stmt = stmt.where(ContactIdentity.username == address.lstrip("@").lower())
    elif by_phone:
        stmt = stmt.where(ContactIdentity.phone == address)
    else:
        stmt = stmt.where(ContactIdentity.address == address)
    return session.scalars(stmt.limit(1)).first()


def find_or_create_identity(
    session: Session,
    channel: Channel,
    address: str,
    *,
    name: str | None = None,
    username: str | None = None,
    phone: str | None = None,
) -> ContactIdentity:
    """The identity for ``address`` on ``channel``; a new contact is merged by address if the
    same address is already known on another channel of the same kind."""
    identity = find_identity(session, channel.id, address)
    if identity is not None:
        return identity
    twin = session.scalars(
        select(ContactIdentity)
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .where(ContactIdentity.address == address, Channel.kind == channel.kind)
        .limit(1)
    ).first()
    if twin is not None:
        contact_id = twin.contact_id
    else:
        contact = Contact(name=name or "")
        session.add(contact)
        session.flush()
        contact_id = contact.id
    identity = ContactIdentity(
        contact_id=contact_id,
        channel_id=channel.id,
        address=address,
        username=username.lstrip("@").lower() if username else None,
        phone=phone,
        display_name=name,
    )
    session.add(identity)
    session.flush()
    return identity


def record_opt_out(
    session: Session,
    identity_id: int,
    now: datetime,
    reason: str,
    actor: str,
    ids: dict[str, Any] | None = None,
) -> bool:
    """R15: the client is never messaged again on this channel until they write again."""
    identity = session.get(ContactIdentity, identity_id)
    if identity is None or identity.opted_out_at is not None:
        return False
    identity.opted_out_at = now
    identity.opt_out_reason = reason[:200]
    extra = dict(ids or {})
    extra.setdefault("channel_id", identity.channel_id)
    audit.record(
        session,
        audit.Event.OPTED_OUT,
        actor,
        at=now,
        identity_id=identity_id,
        reason=reason,
        **extra,
    )
    return True
