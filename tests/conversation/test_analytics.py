"""A campaign counts its replies (issue 17.6) and hands them to the right people (17.5):
replied count and rate, the funnel per client, the median time to the first reply, the
"who replied" export; an automatic answer attaches but counts for nothing."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hde_core.db.models import ContactIdentity, Message, Ticket, User
from hde_core.domain import events as ev
from hde_core.services.conversation import analytics
from hde_core.services.conversation.assign import waiting_for
from hde_core.services.webhooks import record_events
from tests.conversation.world import world


@pytest.fixture
def w(app, tmp_path):
    with world(app, tmp_path) as built:
        yield built


def set_status(app, ticket_id, status):
    with app.db.transaction() as s:
        s.execute(update(Message).where(Message.ticket_id == ticket_id).values(status=status))


def test_replies_counts_rate_funnel_median_and_export(app, w, clock, tmp_path):
    cid = w.campaign("spring", owner="lead")
    start = clock.now()
    tg, tg_ref = w.ticket("telegram", campaign_id=cid, at=start)
    vb, _ = w.ticket("viber", campaign_id=cid, at=start)
    ga, _ = w.ticket("whatsapp", campaign_id=cid, at=start)
    meta, _ = w.ticket("wa", campaign_id=cid, at=start)
    set_status(app, vb, "delivered")
    set_status(app, ga, "read")
    set_status(app, meta, "failed")

    clock.advance(minutes=10)
    assert w.reply("telegram", "Да, интересно", context=tg_ref).status_code == 200
    clock.advance(minutes=20)
    assert w.reply("whatsapp", "Спасибо").status_code == 200
    clock.advance(minutes=5)
    assert w.reply("whatsapp", "И ещё вопрос").status_code == 200  # the same ticket again

    stats = {s.channel: s for s in analytics.campaign_replies(app, "spring")}
    total = stats[""]
    assert (total.tickets, total.sent, total.replied) == (4, 3, 2)
    assert total.rate == pytest.approx(2 / 3)
    assert (total.delivered, total.read) == (3, 2)  # a reply implies read and delivered
    assert total.median_reply_seconds == pytest.approx(20 * 60, abs=2)  # 10 and 30 min
    assert stats["telegram"].replied == 1 and stats["telegram"].rate == 1.0
    assert stats["viber"].replied == 0 and stats["viber"].rate == 0.0
    assert stats["wa"].sent == 0 and stats["wa"].rate is None

    out = tmp_path / "replied.csv"
    assert analytics.export_replied(app, "spring", out, lang="en") == 2
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert rows[0][0] == "Ticket"
    assert [r[0] for r in rows[1:]] == [str(tg), str(ga)]
    assert rows[1][7] == "Да, интересно"

    # the campaign's owner answers its replies (the default rule)
    assert waiting_for(app, "lead") == 2
    overview = analytics.reply_overview(app)
    assert (overview.replies_today, overview.waiting) >= (3, 2)


def test_round_robin_shares_replies_among_the_agents(app, w, clock):
    cid = w.campaign("autumn", owner="lead", reply_assignment="round_robin")
    refs = {}
    for channel in ("telegram", "viber", "whatsapp"):
        refs[channel] = w.ticket(channel, campaign_id=cid)
    with app.db.reader() as s:
        agents = list(s.scalars(select(User.login).where(User.role == "agent").order_by(User.id)))
    assert len(agents) >= 2
    for channel in ("telegram", "viber", "whatsapp"):
        clock.advance(minutes=1)
        assert w.reply(channel, "Ответ").status_code == 200
    with app.db.reader() as s:
        got = [
            s.scalar(select(User.login).where(User.id == s.get(Ticket, refs[c][0]).assignee_id))
            for c in ("telegram", "viber", "whatsapp")
        ]
    assert got == [agents[0], agents[1], agents[2 % len(agents)]]


def test_an_automatic_answer_attaches_but_counts_for_nothing(app, w, clock):
    cid = w.campaign("winter")
    ticket_id, ref = w.ticket("telegram", campaign_id=cid)
    who = w.identity("telegram")
    before = who.last_inbound_at
    event = ev.InboundMessage(
        address=who.address,
        provider_message_id="auto-1",
        at=clock.now() + timedelta(minutes=1),
        text="Я в отпуске до понедельника",
        auto_reply=True,
        reply_to=(ref,),
    )
    record_events(app, w.channel_id("telegram"), [event])
    (message,) = w.inbound()
    assert message.ticket_id == ticket_id and message.auto_reply
    ticket = w.tickets()[ticket_id]
    assert (ticket.status, ticket.first_reply_at) == ("waiting", None)
    assert analytics.campaign_replies(app, "winter")[-1].replied == 0
    with app.db.reader() as s:
        assert s.get(ContactIdentity, who.id).last_inbound_at == before  # no window
