"""Finding a client and seeing, per channel, whether and how they can be written to.

Used by the console's new-ticket page: search by name, email, phone or messenger
username; then for each channel the contact has (merged, R9) the eligibility
verdict in plain words, and for WhatsApp Business the window state and what will
happen (send, template then hold, template then send).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Contact, ContactIdentity
from hde_core.domain.addresses import (
    Normalised,
    normalise_email,
    normalise_phone,
    normalise_telegram,
    normalise_viber,
)
from hde_core.domain.channels import ChannelKind
from hde_core.domain.eligibility import AddressStatus, RecipientState, Verdict, evaluate
from hde_core.domain.window import window_closes_at, window_is_open
from hde_core.services.channels import channel_state
from hde_core.services.contacts import find_identity


@dataclass(frozen=True)
class IdentityInfo:
    channel_id: int
    channel: str
    kind: str
    address: str
    username: str | None


@dataclass(frozen=True)
class ContactSummary:
    contact_id: int
    name: str
    identities: list[IdentityInfo] = field(default_factory=list)


@dataclass(frozen=True)
class ChannelOption:
    """One channel the ticket could go through, with its verdict for this recipient."""

    channel_id: int
    channel: str
    kind: str
    address: str | None  # where it would go (None: the contact has no address there)
    verdict: Verdict
    window_open: bool | None = None  # WhatsApp Business only
    window_closes_at: datetime | None = None
    department_id: int | None = None


def preferred_channel(options: list[ChannelOption]) -> int | None:
    """The channel a ticket form starts on for a recipient: the first one that may be used
    now, else the first where the client has an address, else the first (issue 16.9: a
    Telegram-only client must not leave the form on email)."""
    for test in (
        lambda o: o.verdict.eligible,
        lambda o: o.address is not None,
        lambda o: True,
    ):
        for option in options:
            if test(option):
                return option.channel_id
    return None


def search_contacts(app: App, query: str, limit: int = 20) -> list[ContactSummary]:
    """Contacts whose name, address, username or phone matches ``query``."""
    query = query.strip()
    if len(query) < 2:
        return []
    like = f"%{query.lower()}%"
    conditions: list[ColumnElement[bool]] = [
        func.lower(Contact.name).like(like),
        func.lower(ContactIdentity.address).like(like),
        func.lower(ContactIdentity.username).like(like.replace("@", "")),
        func.lower(ContactIdentity.display_name).like(like),
    ]
    phone = normalise_phone(query, app.settings.default_region)
    if phone.ok:
        conditions += [ContactIdentity.address == phone.value, ContactIdentity.phone == phone.value]
    with app.db.reader() as session:
        ids = list(
            session.scalars(
                select(Contact.id)
                .outerjoin(ContactIdentity, ContactIdentity.contact_id == Contact.id)
                .where(or_(*conditions))
                .group_by(Contact.id)
                .order_by(Contact.id.desc())
                .limit(limit)
            )
        )
        if not ids:
            return []
        rows = session.execute(
            select(
                Contact.id,
                Contact.name,
                Channel.id,
                Channel.name,
                Channel.kind,
                ContactIdentity.address,
                ContactIdentity.username,
                ContactIdentity.display_name,
            )
            .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
            .join(Channel, Channel.id == ContactIdentity.channel_id)
            .where(Contact.id.in_(ids))
            .order_by(Contact.id.desc(), Channel.name)
        ).all()
    found: dict[int, ContactSummary] = {}
    for cid, name, ch_id, ch_name, kind, address, username, display in rows:
        summary = found.setdefault(cid, ContactSummary(cid, name or display or address))
        summary.identities.append(IdentityInfo(ch_id, ch_name, kind, address, username))
    return [found[i] for i in ids if i in found]


def channel_options(
    app: App, contact_id: int | None = None, typed_address: str | None = None
) -> list[ChannelOption]:
    """Every enabled channel with its verdict for the contact (or for an address typed in)."""
    now = app.clock.now()
    region = app.settings.default_region
    options: list[ChannelOption] = []
    with app.db.reader() as session:
        identities: dict[int, ContactIdentity] = {}
        if contact_id is not None:
            for known in session.scalars(
                select(ContactIdentity).where(ContactIdentity.contact_id == contact_id)
            ):
                identities[known.channel_id] = known
        for channel in session.scalars(select(Channel).order_by(Channel.name)):
            state = channel_state(session, channel)
            identity = identities.get(channel.id)
            address = identity.address if identity else None
            address_status = AddressStatus.OK if identity else AddressStatus.MISSING
            if identity is None and typed_address:
                typed = (
                    normalise_email(typed_address)
                    if channel.kind == ChannelKind.EMAIL
                    else normalise_phone(typed_address, region)
                )
                address_status = typed.status
                address = typed.value
                if typed.ok and channel.kind != ChannelKind.EMAIL:
                    identity = session.scalar(
                        select(ContactIdentity).where(
                            ContactIdentity.channel_id == channel.id,
                            or_(
                                ContactIdentity.address == typed.value,
                                ContactIdentity.phone == typed.value,
                            ),
                        )
                    )
            recipient = RecipientState(
                address=address_status,
                has_written=bool(identity and identity.first_inbound_at),
                opted_out=bool(identity and identity.opted_out_at),
                last_inbound_at=identity.last_inbound_at if identity else None,
            )
            verdict = evaluate(state, recipient, now)
            is_wa = channel.kind == ChannelKind.WA_BUSINESS
            last = identity.last_inbound_at if identity else None
            options.append(
                ChannelOption(
                    channel_id=channel.id,
                    channel=channel.name,
                    kind=channel.kind,
                    address=address,
                    verdict=verdict,
                    window_open=window_is_open(last, now) if is_wa else None,
                    window_closes_at=window_closes_at(last) if is_wa else None,
                    department_id=channel.department_id,
                )
            )
    return options


@dataclass(frozen=True)
class Recipient:
    """A resolved recipient: the address we send to, or why there is none."""

    normalised: Normalised
    identity: ContactIdentity | None = None


def resolve_recipient(session: Session, channel: Channel, raw: str, region: str) -> Recipient:
    """Normalise ``raw`` for the channel and find the contact's identity on it.

    Telegram accepts a chat id, an @username or a phone the client shared;
    Viber a Viber id or a shared phone; WhatsApp a phone number.
    """
    kind = ChannelKind(channel.kind)
    if kind == ChannelKind.EMAIL:
        n = normalise_email(raw)
        return Recipient(
            n, find_identity(session, channel.id, n.value) if n.ok and n.value else None
        )
    if kind in (ChannelKind.WHATSAPP, ChannelKind.WA_BUSINESS):
        n = normalise_phone(raw, region)
        return Recipient(
            n, find_identity(session, channel.id, n.value) if n.ok and n.value else None
        )
    n = normalise_telegram(raw) if kind == ChannelKind.TELEGRAM else normalise_viber(raw)
    if n.ok and n.value:
        if n.value.startswith("@"):
            return _known(n, find_identity(session, channel.id, n.value, by_username=True))
        identity = find_identity(session, channel.id, n.value)
        if identity is not None or kind == ChannelKind.VIBER or not n.value.lstrip("-").isdigit():
            return _known(n, identity)
        # a long digit string may also be a phone number
    phone = normalise_phone(raw, region)
    if phone.ok and phone.value:
        return _known(phone, find_identity(session, channel.id, phone.value, by_phone=True))
    # an id the channel accepts stays that id (unknown: no_prior_contact); else the phone's verdict
    return Recipient(n if n.ok else phone)


def _known(n: Normalised, identity: ContactIdentity | None) -> Recipient:
    """A known client is written to at their address on the channel (a Telegram chat id,
    not the @username or phone they were found by) — the bulk path does the same."""
    if identity is None:
        return Recipient(n)
    return Recipient(Normalised(n.status, identity.address), identity)
