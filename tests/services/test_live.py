"""When live views refresh themselves and when they stop (issue 16.5): while messages wait
for the dispatcher, while held messages wait for a reply (the issue's wizard stopped at
"ждёт ответа 2" for good), until the campaign is done; nothing running, no timer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hde_core.db.models import Campaign, Channel, Contact, ContactIdentity, Message, Ticket
from hde_core.services import live
from hde_core.services.live import Activity, View, campaign_activity, every

A = Activity


def counts(**n: int) -> dict[str, int]:
    return {
        s: 0
        for s in (
            "queued",
            "sending",
            "sent",
            "delivered",
            "read",
            "held",
            "retrying",
            "failed",
            "uncertain",
            "cancelled",
        )
    } | n


@pytest.mark.parametrize(
    ("status", "n", "expected"),
    [
        ("launching", counts(), A.SENDING),  # rows still being written
        ("running", counts(queued=3, sent=1), A.SENDING),
        ("running", counts(retrying=1, sent=4), A.SENDING),
        # everything sendable went out; two wait for the clients' replies: keep watching
        ("running", counts(sent=2, held=2), A.WAITING),
        # all sent, the periodic check is about to mark it done: watch it get there
        ("running", counts(sent=4, read=1), A.WAITING),
        ("scheduled", counts(queued=4), A.SENDING),
        ("scheduled", counts(), A.WAITING),
        ("done", counts(sent=4), A.IDLE),
        ("cancelled", counts(sent=54, cancelled=4526, sending=1), A.IDLE),
        ("paused", counts(queued=10), A.IDLE),
        ("interrupted", counts(queued=1), A.IDLE),
        ("running", counts(sent=3, uncertain=1), A.IDLE),  # a person must act
    ],
)
def test_a_campaign_is_live_while_something_can_change_by_itself(status, n, expected):
    assert campaign_activity(status, n) == expected


def test_the_pace_per_view_and_no_timer_when_idle():
    assert every(View.PROGRESS, A.SENDING) == 2.0
    assert every(View.CAMPAIGN_DETAILS, A.SENDING) == 10.0  # the charts: a calmer pace
    assert every(View.PROGRESS, A.WAITING) == 5.0
    assert every(View.CAMPAIGN, A.SENDING) == 3.0
    assert every(View.OVERVIEW, A.WAITING) == 30.0
    for view in View:
        assert every(view, A.IDLE) is None
        fast, slow = every(view, A.SENDING), every(view, A.WAITING)
        assert fast is not None and slow is not None and 1.0 <= fast <= slow


def test_campaign_lists_wait_while_one_runs():
    assert live.campaigns_activity(["done", "running"]) == A.WAITING
    assert live.campaigns_activity(["done", "cancelled", "paused"]) == A.IDLE


@pytest.mark.db
def test_the_deployment_is_sending_waiting_then_idle(app, clock):
    assert live.activity(app) == A.IDLE
    assert live.windows_activity(app) == A.IDLE
    now = clock.now()
    with app.db.transaction() as s:
        s.add(Channel(name="tg", kind="telegram", provider="telegram"))
        s.flush()
        camp = Campaign(key="c", name="c", status="done")
        s.add(camp)
        s.flush()
        ticket = Ticket(subject="s", body="b", channel_id=1, created_by="x", created_at=now)
        s.add(ticket)
        s.flush()
        msg = Message(
            ticket_id=ticket.id,
            channel_id=1,
            recipient="1",
            kind="text",
            status="queued",
            idempotency_key="k",
            created_at=now,
        )
        s.add(msg)
    assert live.activity(app) == A.SENDING
    with app.db.transaction() as s:
        s.get(Message, msg.id).status = "held"
    assert live.activity(app) == A.WAITING
    assert live.windows_activity(app) == A.WAITING  # the held message waits for a reply
    with app.db.transaction() as s:
        s.get(Message, msg.id).status = "sent"
        contact = Contact(name="A")
        s.add(contact)
        s.flush()
        s.add(
            ContactIdentity(
                contact_id=contact.id,
                channel_id=1,
                address="1",
                last_inbound_at=now - timedelta(hours=2),
            )
        )
    assert live.activity(app) == A.IDLE
    assert live.windows_activity(app) == A.WAITING  # a window is open: its countdown runs


def test_a_done_campaign_waits_while_its_clients_may_still_reply(app, clock):
    """Issue 17.6: a finished campaign's reply rate moves when a client answers, so its view
    keeps refreshing while a client written to within 24 hours has not answered."""
    assert campaign_activity("done", counts(sent=2), awaiting_replies=True) == A.WAITING
    assert campaign_activity("paused", counts(sent=2), awaiting_replies=True) == A.IDLE
    now = clock.now()
    with app.db.transaction() as s:
        s.add(Channel(name="tg", kind="telegram", provider="telegram"))
        camp = Campaign(key="c", name="c", status="done")
        s.add(camp)
        s.flush()
        ticket = Ticket(
            subject="s", body="b", channel_id=1, created_by="x", created_at=now, status="waiting"
        )
        s.add(ticket)
        s.flush()
        s.add(
            Message(
                ticket_id=ticket.id,
                campaign_id=camp.id,
                channel_id=1,
                recipient="1",
                kind="text",
                status="sent",
                idempotency_key="k",
                created_at=now,
                sent_at=now,
            )
        )
    assert live.awaiting_replies(app, camp.id) is True
    with app.db.transaction() as s:
        s.get(Ticket, ticket.id).status = "replied"
    assert live.awaiting_replies(app, camp.id) is False  # everyone answered
    with app.db.transaction() as s:
        s.get(Ticket, ticket.id).status = "waiting"
    clock.advance(hours=25)
    assert live.awaiting_replies(app, camp.id) is False  # written to too long ago
