"""A client's message finds its ticket (issue 17.1), on every provider, through the real
receiver with the provider's signed, documented payload: by reply context, else the
contact's latest open ticket on the channel, else a new ticket from the client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent
from tests.conversation.world import PROVIDERS, world


@pytest.fixture
def w(app, tmp_path):
    with world(app, tmp_path) as built:
        yield built


def replies_recorded(app, ticket_id):
    with app.db.reader() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "ticket_replied", AuditEvent.ticket_id == ticket_id)
        )


@pytest.mark.parametrize("channel", PROVIDERS)
def test_a_reply_goes_to_the_ticket_it_answers_else_to_the_latest_open_one(app, w, clock, channel):
    older, older_ref = w.ticket(channel, at=clock.now() - timedelta(hours=3), subject="Старый")
    newer, _ = w.ticket(channel, at=clock.now() - timedelta(hours=1), subject="Новый")

    assert w.reply(channel, "По старому заказу", context=older_ref).status_code == 200
    (first,) = w.inbound()
    assert first.ticket_id == older
    tickets = w.tickets()
    assert tickets[older].status == "replied"
    assert tickets[older].first_reply_at is not None
    assert tickets[newer].status == "waiting"

    clock.advance(minutes=5)
    assert w.reply(channel, "А это без цитаты").status_code == 200
    second = w.inbound()[-1]
    # the latest open ticket is the one with the newest activity: the older one now
    assert second.ticket_id == older
    assert len(w.tickets()) == 2


@pytest.mark.parametrize("channel", PROVIDERS)
def test_without_context_the_latest_open_ticket_on_that_channel_gets_it(app, w, clock, channel):
    w.ticket(channel, at=clock.now() - timedelta(hours=3))
    newer, _ = w.ticket(channel, at=clock.now() - timedelta(hours=1))
    w.ticket(channel, status="closed", at=clock.now() - timedelta(minutes=10))
    assert w.reply(channel).status_code == 200
    assert w.inbound()[0].ticket_id == newer
    assert w.tickets()[newer].status == "replied"


@pytest.mark.parametrize("channel", PROVIDERS)
def test_a_reply_to_an_old_closed_ticket_opens_a_new_one(app, w, clock, channel):
    old, old_ref = w.ticket(channel, status="closed", at=clock.now() - timedelta(days=40))
    assert w.reply(channel, "Снова я", context=old_ref).status_code == 200
    tickets = w.tickets()
    assert tickets[old].status == "closed"
    (new,) = [t for t in tickets.values() if t.id != old]
    assert (new.author, new.status, new.subject) == ("client", "replied", "Message from the client")
    assert w.inbound()[0].ticket_id == new.id


@pytest.mark.parametrize("channel", ["telegram", "wa"])
def test_a_reply_to_a_recently_closed_ticket_reopens_it(app, w, clock, channel):
    closed, ref = w.ticket(channel, status="closed", at=clock.now() - timedelta(days=2))
    assert w.reply(channel, "Ещё вопрос", context=ref).status_code == 200
    assert w.tickets()[closed].status == "replied"
    assert w.inbound()[0].ticket_id == closed


@pytest.mark.parametrize("channel", PROVIDERS)
def test_no_open_ticket_starts_one_from_the_client_and_redelivery_attaches_once(
    app, w, clock, channel
):
    import json

    from tests.conversation.world import payload

    raw = json.dumps(payload(channel, 42, "Здравствуйте, есть вопрос", None, clock.now())).encode()
    assert w.post(channel, raw).status_code == 200
    assert w.post(channel, raw).status_code == 200
    (message,) = w.inbound()
    (ticket,) = w.tickets().values()
    assert message.ticket_id == ticket.id
    assert (ticket.author, ticket.status, ticket.body) == (
        "client",
        "replied",
        "Здравствуйте, есть вопрос",
    )
    assert replies_recorded(app, ticket.id) == 1
