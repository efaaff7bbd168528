"""The tickets page (issue 17.3–17.4): the list counts and shows a client's reply; the
ticket's thread shows both sides; an agent's answer from the reply box leaves once through
the outbox (the SMTP sink gets exactly one email) and the ticket moves to in progress."""

from __future__ import annotations

from sqlalchemy import select

from hde_core.db.models import Message, Ticket
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.domain import events as ev
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services.tickets import TicketRequest
from hde_core.services.webhooks import record_events
from tests.console.conftest import run_page
from tests.services.helpers import provision_email


def replied_ticket(app, tmp_path, smtp_sink) -> int:
    provision_email(app, tmp_path, smtp_sink.url)
    result = initiate_ticket(
        app,
        TicketRequest(
            channel="email",
            to="anna@example.com",
            subject="Заказ",
            body="Заказ готов",
            fields={"order_id": "A-1"},
        ),
        "agent",
    )
    with app.db.reader() as s:
        ours = s.scalar(select(Message).where(Message.ticket_id == result.ticket_id))
    record_events(
        app,
        ours.channel_id,
        [
            ev.InboundMessage(
                address="anna@example.com",
                provider_message_id="<a1@example.com>",
                at=app.clock.now(),
                text="Когда можно забрать?",
                reply_to=(ours.provider_message_id,),
            )
        ],
    )
    return result.ticket_id


def test_the_list_the_thread_and_one_answer(console_app, tmp_path, smtp_sink):
    ticket_id = replied_ticket(console_app, tmp_path, smtp_sink)
    at = run_page("pages/10_tickets.py", role="agent", lang="en")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["client replied"] == "1"

    at = run_page("pages/10_tickets.py", role="agent", lang="en")
    at.query_params["ticket"] = str(ticket_id)
    at.run()
    assert not at.exception
    shown = " ".join(t.value for t in at.text)
    assert "Когда можно забрать?" in shown
    at.text_area(key=f"tk_body_{ticket_id}").input("Завтра с 10:00.")
    at.button(key="tk_send").click().run()
    assert not at.exception
    # sent: the page says so and offers the next answer instead of a second "Send" under
    # the same text (a double click must not answer twice)
    assert any(b.key == "tk_new_reply" for b in at.button)
    assert not any(b.key == "tk_send" for b in at.button)
    mails = wait_for_mail(smtp_sink.directory, 2)
    assert [m.subject for m in mails].count("Re: Заказ") == 1
    at.button(key="tk_new_reply").click().run()
    assert not at.exception
    assert at.text_area(key=f"tk_body_{ticket_id}").value == ""
    assert any(b.key == "tk_send" for b in at.button)
    with console_app.db.reader() as s:
        assert s.get(Ticket, ticket_id).status == "in_progress"
