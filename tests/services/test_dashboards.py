"""Dashboard aggregates, computed by the database, on both SQLite and PostgreSQL."""

from datetime import timedelta

from hde_core.db.models import Campaign, ContactIdentity, Message, Ticket
from hde_core.services import dashboards
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from tests.staff import seed_staff


def seed(app, clock, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        '[[channels]]\nname = "tg"\nkind = "telegram"\n\n[[channels]]\nname = "wa"\nkind = "wa_business"\n'
        'provider = "meta_cloud"\n'
    )
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    now = clock.now()
    statuses = ["read", "read", "delivered", "sent", "failed", "held", "uncertain", "queued"]
    with app.db.transaction() as s:
        camp = Campaign(key="c1", name="Promo")
        s.add(camp)
        s.flush()
        ident = ContactIdentity(
            contact_id=None, channel_id=1, address="1", last_inbound_at=now - timedelta(hours=2)
        )
        from hde_core.db.models import Contact

        contact = Contact(name="A")
        s.add(contact)
        s.flush()
        ident.contact_id = contact.id
        s.add(ident)
        s.flush()
        for i, status in enumerate(statuses):
            t = Ticket(
                subject="s",
                body="b",
                channel_id=1 + i % 2,
                created_by="x",
                created_at=now,
                campaign_id=camp.id,
            )
            s.add(t)
            s.flush()
            s.add(
                Message(
                    ticket_id=t.id,
                    channel_id=1 + i % 2,
                    campaign_id=camp.id,
                    identity_id=ident.id,
                    recipient="1",
                    kind="text",
                    status=status,
                    idempotency_key=f"k{i}",
                    created_at=now,
                    sent_at=now if status in ("read", "delivered", "sent") else None,
                    delivered_at=now + timedelta(seconds=30)
                    if status in ("read", "delivered")
                    else None,
                    read_at=now + timedelta(seconds=90) if status == "read" else None,
                    error_class="not_reachable" if status == "failed" else None,
                    error_code="131026" if status == "failed" else None,
                    error_text="Message undeliverable" if status == "failed" else None,
                )
            )
    return camp


def test_overview_counts(app, clock, tmp_path):
    seed(app, clock, tmp_path)
    o = dashboards.overview(app)
    assert (o.tickets_today, o.tickets_week) == (8, 8)
    assert o.statuses_today == {
        "read": 2,
        "delivered": 1,
        "sent": 1,
        "failed": 1,
        "held": 1,
        "uncertain": 1,
        "queued": 1,
    }
    assert o.uncertain_total == 1 and o.uncertain[0].recipient == "1"
    assert o.held_total == 1
    assert o.open_windows_total == 1
    rates = {r.channel: (r.handed_over, r.delivered, r.read, r.failed) for r in o.rates}
    assert rates == {"tg": (2, 2, 1, 1), "wa": (2, 1, 1, 0)}
    # Telegram cannot report delivery: no rate rather than a made-up one
    by_name = {r.channel: r for r in o.rates}
    assert by_name["tg"].delivery_rate is None and by_name["tg"].read_rate is None
    assert (by_name["wa"].delivery_rate, by_name["wa"].read_rate) == (0.5, 0.5)


def test_funnel_failures_and_times(app, clock, tmp_path):
    camp = seed(app, clock, tmp_path)
    funnel = {row["channel"]: row for row in dashboards.funnel(app, campaign_id=camp.id)}
    assert funnel["tg"] == {
        "channel": "tg",
        "queued": 4,
        "sent": 2,
        "delivered": 2,
        "read": 1,
        "failed": 1,
        "reports_delivery": False,  # Telegram sends no receipts to bots: no 0 % shown
        "reports_read": False,
    }
    assert (funnel["wa"]["reports_delivery"], funnel["wa"]["reports_read"]) == (True, True)
    assert dashboards.failure_reasons(app) == [
        {
            "error_class": "not_reachable",
            "code": "131026",
            "example": "Message undeliverable",
            "count": 1,
        }
    ]
    times = {row["channel"]: row for row in dashboards.delivery_times(app)}
    assert round(times["tg"]["to_delivered_s"]) == 30 and round(times["tg"]["to_read_s"]) == 90
    by_day = dashboards.statuses_by_day(app, days=1)
    assert sum(r["count"] for r in by_day) == 8
    summary = dashboards.campaigns_summary(app)
    assert summary[0]["key"] == "c1" and sum(summary[0]["counts"].values()) == 8
