"""A world for conversation tests: the real receiver (and the simulators) on one real port,
the five messenger channels provisioned on it, and each provider's documented inbound
payload with or without its reply context, posted signed as the provider posts it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import Campaign, Channel, ContactIdentity, InboundMessage, Message, Ticket
from hde_core.services.contacts import find_or_create_identity
from tests.channels.messengers import messengers, post_hook
from tests.channels.wa_helpers import D360_SECRET, provision_360, provision_meta, signed_post

_ids = itertools.count(500)

#: channel name → the client's address on it (as the adapter records it)
CLIENT = {
    "telegram": "1111111",
    "viber": "xy5/5y6O81+/kbWHpLhBoA==",
    "whatsapp": "+79123456789",
    "wa": "+79123456789",
    "wa360": "+79161234567",
}
PROVIDERS = list(CLIENT)


@dataclass
class World:
    app: App
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def channel_id(self, name: str) -> int:
        with self.app.db.reader() as s:
            cid = s.scalar(select(Channel.id).where(Channel.name == name))
        assert cid is not None
        return cid

    def ticket(
        self,
        channel: str,
        *,
        status: str = "waiting",
        at: datetime | None = None,
        campaign_id: int | None = None,
        subject: str = "Заказ",
    ) -> tuple[int, str]:
        """A ticket we opened with the client, its message sent: (ticket id, the message's
        provider id in the adapter's own format; Viber: the tracking data we sent)."""
        now = at or self.app.clock.now()
        n = next(_ids)
        with self.app.db.transaction() as s:
            chan = s.scalar(select(Channel).where(Channel.name == channel))
            assert chan is not None
            who = find_or_create_identity(s, chan, CLIENT[channel])
            who.first_inbound_at = who.first_inbound_at or now - timedelta(days=30)
            ticket = Ticket(
                subject=subject,
                body="Ваш заказ готов",
                channel_id=chan.id,
                contact_id=who.contact_id,
                identity_id=who.id,
                created_by="lead",
                status=status,
                campaign_id=campaign_id,
                department_id=chan.department_id,
                created_at=now,
                updated_at=now,
                last_activity_at=now,
            )
            s.add(ticket)
            s.flush()
            provider_id = {
                "telegram": f"{CLIENT['telegram']}:{n}",
                "viber": f"49873811898703{n}",
                "whatsapp": f"79123456789@c.us_BAE5{n:012X}",
                "wa": f"wamid.HBgL{n:08d}AAA=",
                "wa360": f"wamid.HBgM{n:08d}BBB=",
            }[channel]
            key = (
                f"campaign:{campaign_id}:{chan.id}:{who.address}"
                if campaign_id
                else f"ticket:{ticket.id}:text"
            )
            s.add(
                Message(
                    ticket_id=ticket.id,
                    campaign_id=campaign_id,
                    channel_id=chan.id,
                    identity_id=who.id,
                    recipient=who.address,
                    kind="text",
                    status="sent",
                    payload={"text": "Ваш заказ готов"},
                    idempotency_key=key,
                    provider_message_id=provider_id,
                    sent_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            return ticket.id, key if channel == "viber" else provider_id

    def campaign(self, key: str = "spring", owner: str = "lead", **options: Any) -> int:
        with self.app.db.transaction() as s:
            c = Campaign(key=key, name=key, created_by=owner, options=options, status="running")
            s.add(c)
            s.flush()
            return c.id

    def reply(
        self, channel: str, text: str = "Спасибо, получил", context: str | None = None
    ) -> httpx.Response:
        """The client writes (answering ``context``, our message, when given)."""
        n = next(_ids)
        body = payload(channel, n, text, context, self.app.clock.now())
        raw = json.dumps(body).encode()
        return self.post(channel, raw)

    def post(self, channel: str, raw: bytes) -> httpx.Response:
        if channel == "wa":
            return signed_post(f"{self.url}/webhooks/wa", raw)
        if channel == "wa360":
            return httpx.post(
                f"{self.url}/webhooks/wa360",
                content=raw,
                headers={"Content-Type": "application/json", "X-HDE-Webhook-Token": D360_SECRET},
                timeout=10,
            )
        return post_hook(self.info, channel, raw)

    def inbound(self) -> list[InboundMessage]:
        with self.app.db.reader() as s:
            return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))

    def tickets(self) -> dict[int, Ticket]:
        with self.app.db.reader() as s:
            return {t.id: t for t in s.scalars(select(Ticket).order_by(Ticket.id))}

    def identity(self, channel: str) -> ContactIdentity:
        with self.app.db.reader() as s:
            who = s.scalar(
                select(ContactIdentity).where(
                    ContactIdentity.channel_id == self.channel_id(channel),
                    ContactIdentity.address == CLIENT[channel],
                )
            )
        assert who is not None
        return who


def payload(channel: str, n: int, text: str, context: str | None, at: datetime) -> dict[str, Any]:
    """The provider's documented inbound message, with its reply context when given."""
    ts = int(at.timestamp())
    if channel == "telegram":
        chat = {"id": 1111111, "type": "private", "first_name": "Ann"}
        message: dict[str, Any] = {
            "message_id": n,
            "date": ts,
            "from": {"id": 1111111, "is_bot": False, "first_name": "Ann"},
            "chat": chat,
            "text": text,
        }
        if context:
            replied = int(context.split(":")[1])
            message["reply_to_message"] = {
                "message_id": replied,
                "date": ts - 60,
                "from": {"id": 7001, "is_bot": True, "first_name": "Support"},
                "chat": chat,
                "text": "Ваш заказ готов",
            }
        return {"update_id": 20000 + n, "message": message}
    if channel == "viber":
        msg: dict[str, Any] = {"type": "text", "text": text}
        if context:
            msg["tracking_data"] = context
        return {
            "event": "message",
            "timestamp": ts * 1000,
            "chat_hostname": "SN-CHAT-09_",
            "message_token": 5000000000000000000 + n,
            "sender": {"id": CLIENT["viber"], "name": "ET3", "api_version": 10},
            "message": msg,
            "silent": False,
        }
    if channel == "whatsapp":
        chat = "79123456789@c.us"
        data: dict[str, Any] = {
            "typeMessage": "textMessage",
            "textMessageData": {"textMessage": text},
        }
        if context:  # Green-API's documented quote: typeMessage quotedMessage
            stanza = context.split("_", 1)[1]
            data = {
                "typeMessage": "quotedMessage",
                "extendedTextMessageData": {"text": text, "stanzaId": stanza, "participant": chat},
                "quotedMessage": {
                    "stanzaId": stanza,
                    "participant": chat,
                    "typeMessage": "textMessage",
                    "textMessage": "Ваш заказ готов",
                },
            }
        return {
            "typeWebhook": "incomingMessageReceived",
            "instanceData": {"idInstance": 1101000001, "wid": "79001234567@c.us"},
            "timestamp": ts,
            "idMessage": f"F7AEC1B7086ECDC7E6E4{n:012d}",
            "senderData": {"chatId": chat, "sender": chat, "senderName": "Мария"},
            "messageData": data,
        }
    wa_id = CLIENT[channel].lstrip("+")
    m: dict[str, Any] = {
        "from": wa_id,
        "id": f"wamid.IN{n:010d}",
        "timestamp": str(ts),
        "type": "text",
        "text": {"body": text},
    }
    if context:
        m["context"] = {"from": "15550783881", "id": context}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "contacts": [{"profile": {"name": "Анна"}, "wa_id": wa_id}],
                            "messages": [m],
                        },
                    }
                ],
            }
        ],
    }


@contextmanager
def world(app: App, tmp_path: Path) -> Iterator[World]:
    with messengers(app, tmp_path) as info:
        provision_meta(app, tmp_path, info["url"])
        provision_360(app, tmp_path, info["url"])
        yield World(app, info)
