"""Load for the loopback fakes: a Telegram channel pointing at one, and queued messages in
bulk (one ticket and one text message per chat), for the dispatcher's tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Contact, ContactIdentity, Message, Ticket
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision

CHANNEL = """
[[channels]]
name = "{name}"
kind = "telegram"
api_base = "{url}"
credentials = {{ bot_token = "123456:TEST-token_abcdef" }}
rate_per_sec = {rate}
burst = {burst}
max_attempts = {max_attempts}
"""


def provision_telegram(
    app: App,
    tmp: Path,
    url: str,
    *,
    name: str = "tg",
    rate: float = 1000,
    burst: int = 100,
    max_attempts: int = 3,
) -> int:
    path = tmp / f"provision-{name}.toml"
    path.write_text(
        CHANNEL.format(name=name, url=url, rate=rate, burst=burst, max_attempts=max_attempts),
        encoding="utf-8",
    )
    provision(app, path, actor=SYSTEM)
    with app.db.reader() as s:
        return s.scalars(select(Channel.id).where(Channel.name == name)).one()


def enqueue(
    app: App,
    channel_id: int,
    chat_ids: list[int],
    *,
    campaign_id: int | None = None,
    prefix: str = "m",
) -> list[int]:
    """One ticket and one queued text message per chat id (text ``{prefix}-{chat}``)."""
    ids: list[int] = []
    with app.db.transaction() as s:
        for start in range(0, len(chat_ids), 2000):
            chunk = chat_ids[start : start + 2000]
            known = dict(
                s.execute(
                    select(ContactIdentity.address, ContactIdentity.id).where(
                        ContactIdentity.channel_id == channel_id,
                        ContactIdentity.address.in_([str(c) for c in chunk]),
                    )
                ).all()
            )
            new = [c for c in chunk if str(c) not in known]
            if new:
                contacts = (
                    s.execute(
                        insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                        [{"name": f"c{c}", "attributes": {}} for c in new],
                    )
                    .scalars()
                    .all()
                )
                made = (
                    s.execute(
                        insert(ContactIdentity).returning(
                            ContactIdentity.id, sort_by_parameter_order=True
                        ),
                        [
                            {"contact_id": k, "channel_id": channel_id, "address": str(c)}
                            for k, c in zip(contacts, new, strict=True)
                        ],
                    )
                    .scalars()
                    .all()
                )
                known.update({str(c): i for c, i in zip(new, made, strict=True)})
            identities = [known[str(c)] for c in chunk]
            owners = dict(
                s.execute(
                    select(ContactIdentity.id, ContactIdentity.contact_id).where(
                        ContactIdentity.id.in_(identities)
                    )
                ).all()
            )
            contacts = [owners[i] for i in identities]
            tickets = (
                s.execute(
                    insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True),
                    [
                        {
                            "subject": "s",
                            "body": f"{prefix}-{c}",
                            "channel_id": channel_id,
                            "contact_id": k,
                            "identity_id": i,
                            "created_by": "test",
                            "fields": {},
                            "campaign_id": campaign_id,
                        }
                        for c, k, i in zip(chunk, contacts, identities, strict=True)
                    ],
                )
                .scalars()
                .all()
            )
            ids += (
                s.execute(
                    insert(Message).returning(Message.id, sort_by_parameter_order=True),
                    [
                        {
                            "ticket_id": t,
                            "campaign_id": campaign_id,
                            "channel_id": channel_id,
                            "identity_id": i,
                            "recipient": str(c),
                            "kind": "text",
                            "status": "queued",
                            "payload": {"text": f"{prefix}-{c}"},
                            "idempotency_key": f"test:{prefix}:{channel_id}:{c}",
                        }
                        for c, t, i in zip(chunk, tickets, identities, strict=True)
                    ],
                )
                .scalars()
                .all()
            )
    return ids
