"""Channels and identities for list tests, written straight to the database (no provider
needed to decide eligibility), and the fixture files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hde_core.bootstrap import App
from hde_core.clock import Clock
from hde_core.db.models import Channel, Contact, ContactIdentity, WaTemplate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lists"

#: The same nine rows, saved the ways team leads' tools save them: (file, encoding, delimiter).
MIXED_FILES = [
    ("mixed_utf8_comma.csv", "utf-8", ","),
    ("mixed_utf8bom_semicolon.csv", "utf-8-sig", ";"),
    ("mixed_cp1251_semicolon.csv", "cp1251", ";"),
    ("mixed_utf16_tab.txt", "utf-16", "\t"),
    ("mixed_utf8_pipe.csv", "utf-8", "|"),
    ("mixed.xlsx", None, None),
]

ORDER = "Номер заказа"

#: Expected verdict per row of the mixed list, with ``required_fields=[ORDER]``.
#: A reason code, or "eligible:<action>".
EXPECTED = {
    "email": [
        "eligible:send",
        "eligible:send",
        "invalid_email",
        "missing_email",
        "opted_out",
        "eligible:send",
        "duplicate",
        "missing_field",
        "invalid_email",
    ],
    "wab": [
        "eligible:send",
        "eligible:template_then_hold",
        "opted_out",
        "no_prior_contact",
        "invalid_phone",
        "missing_phone",
        "duplicate",
        "missing_field",
        "eligible:send",
    ],
    "wab_notpl": [
        "eligible:send",
        "no_default_template",
        "opted_out",
        "no_prior_contact",
        "invalid_phone",
        "missing_phone",
        "duplicate",
        "missing_field",
        "eligible:send",
    ],
    "gray": ["initiation_disabled"] * 9,
    "off": ["channel_unavailable"] * 9,
}


def add_channel(
    app: App,
    name: str,
    kind: str,
    *,
    enabled: bool = True,
    connection_status: str = "connected",
    initiation: bool = False,
    template: bool = False,
    rules_ack: bool = False,
    send_after_template: bool = False,
) -> int:
    provider = {
        "email": "smtp",
        "telegram": "telegram",
        "viber": "viber",
        "whatsapp": "green_api",
        "wa_business": "meta_cloud",
    }[kind]
    now = app.clock.now()
    with app.db.transaction() as s:
        channel = Channel(
            name=name,
            kind=kind,
            provider=provider,
            settings={},
            enabled=enabled,
            connection_status=connection_status,
            initiation_enabled=initiation,
            risk_ack_at=now if initiation else None,
            risk_ack_by="lead" if initiation else None,
            rules_ack_at=now if rules_ack else None,
            rules_ack_by="lead" if rules_ack else None,
            send_after_template=send_after_template,
        )
        s.add(channel)
        s.flush()
        if template:
            tpl = WaTemplate(
                channel_id=channel.id,
                name="hello",
                language="ru",
                category="UTILITY",
                status="APPROVED",
            )
            s.add(tpl)
            s.flush()
            channel.default_template_id = tpl.id
        return channel.id


def add_identity(
    app: App,
    channel_id: int,
    address: str,
    clock: Clock,
    *,
    last_inbound: timedelta | None = None,
    opted_out: bool = False,
    username: str | None = None,
    phone: str | None = None,
) -> int:
    now = clock.now()
    with app.db.transaction() as s:
        contact = Contact(name=address)
        s.add(contact)
        s.flush()
        written = now - last_inbound if last_inbound is not None else None
        identity = ContactIdentity(
            contact_id=contact.id,
            channel_id=channel_id,
            address=address,
            username=username,
            phone=phone,
            first_inbound_at=written,
            last_inbound_at=written,
            opted_out_at=now if opted_out else None,
        )
        s.add(identity)
        s.flush()
        return identity.id


def mixed_setup(app: App, clock: Clock) -> dict[str, int]:
    """The channels and identities the mixed list's expected codes assume."""
    ids = {
        "email": add_channel(app, "email", "email"),
        "off": add_channel(app, "off", "email", enabled=False),
        "gray": add_channel(app, "gray", "whatsapp"),
        "wab": add_channel(app, "wab", "wa_business", template=True, rules_ack=True),
        "wab_notpl": add_channel(app, "wab_notpl", "wa_business"),
    }
    add_identity(app, ids["email"], "dina@example.ru", clock, opted_out=True)
    hour, days = timedelta(hours=1), timedelta(days=3)
    for name in ("wab", "wab_notpl", "gray"):
        add_identity(app, ids[name], "+79120000001", clock, last_inbound=hour)
        add_identity(app, ids[name], "+79120000002", clock, last_inbound=days)
        add_identity(app, ids[name], "+79120000003", clock, last_inbound=days, opted_out=True)
        add_identity(app, ids[name], "+79120000005", clock, last_inbound=hour)
        add_identity(app, ids[name], "+79120000007", clock, last_inbound=hour)
    return ids


def codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    """The verdicts of a ValidationResult as in :data:`EXPECTED`."""
    return [
        f"eligible:{r.action.value}" if r.eligible and r.action else r.reason.value
        for r in result.iter_rows()
    ]
