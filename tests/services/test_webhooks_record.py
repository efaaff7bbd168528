"""Recording provider events: R3 (has written), R12 (window, release), R15 (opt-out), SPEC §3 statuses."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from hde_core.db.models import (
    Channel,
    ContactIdentity,
    InboundMessage,
    Message,
    PendingStatus,
    Ticket,
)
from hde_core.domain import events as ev
from hde_core.domain.statuses import MessageStatus as S
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from hde_core.services.webhooks import record_events
from tests.staff import seed_staff


@pytest.fixture
def tg(app, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        '[[channels]]\nname = "tg"\nkind = "telegram"\n[channels.credentials]\ntoken = "1:A"\n'
    )
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    with app.db.reader() as s:
        return s.scalar(select(Channel.id).where(Channel.name == "tg"))


def identity(app, channel_id, address="555"):
    with app.db.reader() as s:
        return s.scalar(
            select(ContactIdentity).where(
                ContactIdentity.channel_id == channel_id, ContactIdentity.address == address
            )
        )


def inbound(clock, text="/start", pid="1", minutes_ago=0, address="555"):
    return ev.InboundMessage(
        address, pid, clock.now() - timedelta(minutes=minutes_ago), text, "Ann", "ann_s"
    )


def test_first_message_records_contact_and_window(app, tg, clock):
    counts = record_events(app, tg, [inbound(clock)])
    assert counts == {"inbound": 1}
    who = identity(app, tg)
    assert who.first_inbound_at == who.last_inbound_at == clock.now()
    assert (who.username, who.display_name) == ("ann_s", "Ann")


def test_redelivered_inbound_changes_nothing(app, tg, clock):
    record_events(app, tg, [inbound(clock)])
    assert record_events(app, tg, [inbound(clock)]) == {"duplicate": 1}
    with app.db.reader() as s:
        assert len(s.scalars(select(InboundMessage)).all()) == 1


def test_out_of_order_inbound_keeps_the_latest_window(app, tg, clock):
    record_events(app, tg, [inbound(clock, pid="2")])
    record_events(app, tg, [inbound(clock, pid="1", minutes_ago=90)])
    who = identity(app, tg)
    assert who.last_inbound_at == clock.now()
    assert who.first_inbound_at == clock.now() - timedelta(minutes=90)


def test_stop_word_opts_out_and_writing_again_lifts_it(app, tg, clock):  # R15
    record_events(app, tg, [inbound(clock, "СТОП", pid="1")])
    assert identity(app, tg).opted_out_at is not None
    clock.advance(minutes=5)
    record_events(app, tg, [inbound(clock, "Здравствуйте, снова я", pid="2")])
    assert identity(app, tg).opted_out_at is None


def test_opt_out_event_is_final_and_idempotent(app, tg, clock):
    record_events(app, tg, [inbound(clock)])
    assert record_events(app, tg, [ev.OptedOut("555", clock.now(), "blocked the bot")]) == {
        "opted_out": 1
    }
    assert record_events(app, tg, [ev.OptedOut("555", clock.now(), "blocked the bot")]) == {
        "duplicate": 1
    }
    assert identity(app, tg).opt_out_reason == "blocked the bot"


def _ticket_with_message(app, channel_id, status, pid=None):
    who = identity(app, channel_id)
    with app.db.transaction() as s:
        t = Ticket(subject="s", body="b", channel_id=channel_id, created_by="t", identity_id=who.id)
        s.add(t)
        s.flush()
        m = Message(
            ticket_id=t.id,
            channel_id=channel_id,
            identity_id=who.id,
            recipient="555",
            kind="text",
            status=status,
            payload={"text": "b"},
            idempotency_key=f"k{t.id}",
            provider_message_id=pid,
        )
        s.add(m)
        s.flush()
        return m.id


def test_reply_releases_held_messages(app, tg, clock):  # R12
    record_events(app, tg, [inbound(clock, pid="1", minutes_ago=60 * 30)])
    held = _ticket_with_message(app, tg, S.HELD.value)
    record_events(app, tg, [inbound(clock, "Да, слушаю", pid="2")])
    with app.db.reader() as s:
        assert s.get(Message, held).status == S.QUEUED.value


def test_statuses_move_forward_only_and_early_ones_wait(app, tg, clock):
    record_events(app, tg, [inbound(clock)])
    mid = _ticket_with_message(app, tg, S.SENT.value, pid="tg-9")
    at = clock.now()
    record_events(app, tg, [ev.StatusUpdate("tg-9", S.READ, at)])
    record_events(app, tg, [ev.StatusUpdate("tg-9", S.DELIVERED, at)])  # late: ignored
    with app.db.reader() as s:
        m = s.get(Message, mid)
        assert (m.status, m.read_at, m.delivered_at) == (S.READ.value, at, at)
    assert record_events(app, tg, [ev.StatusUpdate("unknown-1", S.DELIVERED, at)]) == {
        "status_unchanged": 1
    }
    with app.db.reader() as s:
        assert s.scalars(select(PendingStatus.provider_message_id)).all() == ["unknown-1"]


def test_statuses_that_never_find_their_message_are_purged(app, tg, clock):
    from hde_core.services.statuses import purge_pending_statuses

    record_events(app, tg, [ev.StatusUpdate("ghost-1", S.DELIVERED, clock.now())])
    assert purge_pending_statuses(app) == 0
    with app.db.transaction() as s:  # age the row
        row = s.scalars(select(PendingStatus)).one()
        row.created_at = clock.now() - timedelta(days=8)
    assert purge_pending_statuses(app) == 1


def test_unknown_numeric_telegram_id_is_no_prior_contact(app, tg):
    from hde_core.errors import Refused
    from hde_core.services.tickets import TicketRequest, create_ticket

    with pytest.raises(Refused) as info:
        create_ticket(app, TicketRequest("tg", "123456789012", "s", "b"), "alice")
    assert [e.code for e in info.value.errors] == ["no_prior_contact"]


def test_a_messenger_text_over_the_providers_limit_is_a_field_error(app, tg):
    """Issue 15.4: refused at validation time with the limit the adapter declares."""
    from hde_core.errors import Refused
    from hde_core.services.tickets import TicketRequest, create_ticket

    with pytest.raises(Refused) as info:
        create_ticket(app, TicketRequest("tg", "123456789012", "s", "я" * 4097), "alice")
    errors = {e.code: e for e in info.value.errors}
    assert errors["text_too_long"].field == "body"
    assert "4096" in errors["text_too_long"].message("en")
    with pytest.raises(Refused) as info:  # at the limit only the recipient is refused
        create_ticket(app, TicketRequest("tg", "123456789012", "s", "я" * 4096), "alice")
    assert [e.code for e in info.value.errors] == ["no_prior_contact"]
