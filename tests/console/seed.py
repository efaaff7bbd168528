"""A small, believable deployment for the console tests: channels of every kind, a campaign
whose messages reached every status, open and closed windows, a held message, an opt-out,
an uncertain message, synced templates and prices.

Settings come from a provisioning file and templates through the sync's own store; the
messages are written as the dispatcher and the receiver record them (statuses, times,
provider errors), so the pages read exactly what production would hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.channels.base import TemplateInfo
from hde_core.db.models import Campaign, Channel, Contact, ContactIdentity, Message, Ticket
from hde_core.services import audit
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from hde_core.services.templates import store_templates

PROVISION = """
[[departments]]
name = "First line"
mailbox = "support@company.com"
smtp_url = "smtp://bot:{smtp_password}@127.0.0.1:{dead_port}"

[[channels]]
name = "email"
kind = "email"
department = "First line"

[[channels]]
name = "telegram"
kind = "telegram"
api_base = "http://127.0.0.1:{dead_port}/sim/telegram"
webhook_secret = "hook-secret-42"
[channels.credentials]
bot_token = "123456:TELEGRAM-SECRET-TOKEN-abcd"

[[channels]]
name = "whatsapp"
kind = "whatsapp"
api_base = "http://127.0.0.1:{dead_port}/sim/greenapi"
[channels.credentials]
id_instance = "1101000001"
api_token = "GREEN-API-SECRET-TOKEN-wxyz"

[[channels]]
name = "wa-business"
kind = "wa_business"
provider = "meta_cloud"
api_base = "http://127.0.0.1:{dead_port}/sim/meta"
rules_acknowledged_by = "lead"
[channels.credentials]
access_token = "META-ACCESS-TOKEN-SECRET-9876"
phone_number_id = "100200300"
waba_id = "900800700"
app_secret = "META-APP-SECRET-5555"

[[custom_fields]]
key = "order_id"
label = "Order number"
required = true

[[notification_templates]]
kind = "agent_initiated"
subject = "[#{{{{ ticket.id }}}}] {{{{ ticket.subject }}}}"
body = "Hello {{{{ contact.name }}}}! {{{{ ticket.body }}}}"

[[prices]]
category = "utility"
price = 0.0125

[[prices]]
category = "marketing"
country = "RU"
price = 0.08
"""

SMTP_PASSWORD = "smtp-password-do-not-show"
#: A loopback port nobody listens on: checks against it fail fast, in plain words.
DEAD_PORT = 9


@dataclass
class Seeded:
    campaign_id: int
    campaign_key: str
    held_ticket: int
    failed_ticket: int
    uncertain_message: int
    now: datetime


def _templates() -> list[TemplateInfo]:
    return [
        TemplateInfo(
            "hde_first_contact",
            "ru",
            "UTILITY",
            "APPROVED",
            [{"type": "BODY", "text": "Здравствуйте, {{1}}! По заявке №{{2}} есть новости."}],
        ),
        TemplateInfo(
            "black_friday",
            "en",
            "MARKETING",
            "PENDING",
            [{"type": "BODY", "text": "Hi {{1}}, our sale starts {{2}}."}],
        ),
    ]


def seed_console(app: App, tmp: Path) -> Seeded:
    path = tmp / "console.toml"
    path.write_text(
        PROVISION.format(smtp_password=SMTP_PASSWORD, dead_port=DEAD_PORT), encoding="utf-8"
    )
    provision(app, path, actor=SYSTEM)
    now = app.clock.now()
    with app.db.transaction() as s:
        ch = {c.name: c for c in s.scalars(select(Channel))}
        store_templates(s, ch["wa-business"], _templates(), now, "scheduler")
        s.flush()

        def identity(name: str, channel: str, address: str, **kw: object) -> ContactIdentity:
            contact = Contact(name=name)
            s.add(contact)
            s.flush()
            ident = ContactIdentity(
                contact_id=contact.id, channel_id=ch[channel].id, address=address, **kw
            )
            s.add(ident)
            s.flush()
            return ident

        anna = identity(
            "Анна Петрова",
            "wa-business",
            "79120000001",
            first_inbound_at=now - timedelta(days=3),
            last_inbound_at=now - timedelta(hours=23, minutes=15),
        )
        igor = identity(
            "Игорь Смирнов",
            "telegram",
            "555001",
            first_inbound_at=now - timedelta(days=1),
            last_inbound_at=now - timedelta(hours=2),
        )
        maria = identity(
            "Мария Иванова",
            "wa-business",
            "79120000003",
            first_inbound_at=now - timedelta(days=5),
            last_inbound_at=now - timedelta(hours=30),
        )
        identity(
            "Пётр Сидоров",
            "whatsapp",
            "79120000004",
            first_inbound_at=now - timedelta(days=9),
            last_inbound_at=now - timedelta(days=2),
            opted_out_at=now - timedelta(hours=5),
            opt_out_reason="STOP",
        )
        campaign = Campaign(
            key="black-friday",
            name="Black Friday",
            channel_ids=[ch["wa-business"].id, ch["telegram"].id],
            subject="Скидки",
            body="Скидки до 50%",
            status="running",
            total_rows=5,
            eligible_rows=4,
            created_by="lead",
            created_at=now - timedelta(hours=3),
        )
        s.add(campaign)
        s.flush()
        serial = iter(range(1, 1000))

        def message(
            ident: ContactIdentity | None,
            channel: str,
            status: str,
            *,
            kind: str = "text",
            in_campaign: bool = True,
            ticket: Ticket | None = None,
            minutes_ago: int = 150,
            **kw: object,
        ) -> Message:
            if ticket is None:
                ticket = Ticket(
                    subject="Скидки",
                    body="Скидки до 50%",
                    channel_id=ch[channel].id,
                    contact_id=ident.contact_id if ident else None,
                    identity_id=ident.id if ident else None,
                    created_by="lead",
                    campaign_id=campaign.id if in_campaign else None,
                    created_at=now - timedelta(minutes=minutes_ago),
                )
                s.add(ticket)
                s.flush()
                audit.record(
                    s, audit.Event.TICKET_CREATED, "lead", at=ticket.created_at, ticket_id=ticket.id
                )
            m = Message(
                ticket_id=ticket.id,
                campaign_id=ticket.campaign_id,
                channel_id=ch[channel].id,
                identity_id=ident.id if ident else None,
                recipient=ident.address if ident else "client@example.com",
                kind=kind,
                status=status,
                idempotency_key=f"seed:{next(serial)}",
                created_at=now - timedelta(minutes=minutes_ago),
                updated_at=now - timedelta(minutes=minutes_ago - 1),
                **kw,
            )
            s.add(m)
            s.flush()
            audit.record(
                s,
                audit.Event.MESSAGE_QUEUED,
                "lead",
                at=m.created_at,
                ticket_id=ticket.id,
                message_id=m.id,
                campaign_id=m.campaign_id,
                channel_id=m.channel_id,
            )
            return m

        sent = now - timedelta(minutes=149)
        template = message(
            maria,
            "wa-business",
            "delivered",
            kind="template",
            category="utility",
            sent_at=sent,
            delivered_at=sent + timedelta(seconds=40),
        )
        held_ticket = s.get(Ticket, template.ticket_id)
        message(maria, "wa-business", "held", ticket=held_ticket, after_message_id=template.id)
        message(
            igor,
            "telegram",
            "read",
            sent_at=sent,
            delivered_at=sent + timedelta(seconds=30),
            read_at=sent + timedelta(minutes=12),
        )
        failed = message(
            anna,
            "wa-business",
            "failed",
            attempts=1,
            error_class="not_reachable",
            error_code="131026",
            error_text="Message undeliverable",
            failed_at=sent + timedelta(seconds=3),
        )
        formula = identity('=HYPERLINK("http://evil.example")', "email", "client@example.com")
        message(formula, "email", "sent", sent_at=sent)
        uncertain = message(igor, "telegram", "uncertain", in_campaign=False, minutes_ago=40)
        return Seeded(
            campaign.id,
            campaign.key,
            held_ticket.id,
            failed.ticket_id,
            uncertain.id,
            now,
        )


@pytest.fixture
def seeded(console_app: App, tmp_path: Path) -> Seeded:
    """The console's database filled by :func:`seed_console` (import it into a test module)."""
    return seed_console(console_app, tmp_path)
