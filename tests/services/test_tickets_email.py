"""Single-ticket initiation over email, through a real SMTP conversation (R2, R4–R8)."""

import asyncio

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, Contact, Message, Ticket
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.errors import Refused
from hde_core.sandbox.smtp_sink import free_port, list_mail, wait_for_mail
from hde_core.services.audit import ticket_trail
from hde_core.services.authz import SYSTEM
from hde_core.services.tickets import TicketRequest
from hde_core.services.users import add_user
from tests.services.helpers import provision_email


def request(**kw):
    base = dict(
        channel="email",
        to="client@example.com",
        subject="Ваш заказ",
        body="Заказ готов к выдаче.",
        fields={"order_id": "A-42"},
    )
    base.update(kw)
    return TicketRequest(**base)


def count(app, model):
    with app.db.reader() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def email_app(app, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    return app


def test_department_picks_the_sender_mailbox_and_template_is_rendered(
    email_app, smtp_sink
):  # R5, R7
    result = initiate_ticket(email_app, request(department="IT", contact_name="Анна"), "alice")
    assert result.status == "sent"
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.from_header == "IT <it@company.com>"
    assert mail.to_header == "client@example.com"
    assert mail.subject == f"[#{result.ticket_id}] Ваш заказ"
    assert mail.text.strip() == "Hello Анна! Заказ готов к выдаче. (order A-42, from IT)"
    assert "Заказ готов к выдаче." in mail.html
    assert mail.message_id == result.messages[0].provider_message_id


def test_a_ticket_is_sent_from_a_page_that_runs_in_an_event_loop(email_app, smtp_sink):
    async def page():  # Streamlit (some set-ups) or an async caller: a loop is running
        return initiate_ticket(email_app, request(), "alice")

    result = asyncio.run(page())
    assert result.status == "sent"
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.message_id == result.messages[0].provider_message_id


def test_default_department_comes_from_the_channel(email_app, smtp_sink):
    initiate_ticket(email_app, request(), "alice")
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.from_header == "First line <support@company.com>"


def test_email_to_someone_who_never_wrote(email_app, smtp_sink):  # R2
    result = initiate_ticket(email_app, request(to="  New.Person@Example.ORG "), "alice")
    assert result.recipient == "New.Person@example.org"
    assert wait_for_mail(smtp_sink.directory, 1)[0].to_header == "New.Person@example.org"


def test_html_part_escapes_client_data(email_app, smtp_sink):
    initiate_ticket(email_app, request(body="<script>alert(1)</script>"), "alice")
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert "<script>alert(1)</script>" in mail.text


def test_missing_fields_refuse_everything_at_once(email_app, smtp_sink):  # R4
    with pytest.raises(Refused) as info:
        initiate_ticket(email_app, request(subject=" ", body="", fields={}), "alice")
    assert {(e.field, e.code) for e in info.value.errors} == {
        ("subject", "required"),
        ("body", "required"),
        ("order_id", "required"),
    }
    assert count(email_app, Ticket) == 0
    assert count(email_app, Message) == 0
    assert count(email_app, Contact) == 0
    with email_app.db.reader() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.ticket_id.is_not(None))) == 0
    assert list_mail(smtp_sink.directory) == []


def test_unknown_department_assignee_and_bad_address_are_reported_together(email_app):
    with pytest.raises(Refused) as info:
        initiate_ticket(
            email_app, request(department="Sales", assignee="nobody", to="not-an-email"), "alice"
        )
    assert {(e.field, e.code) for e in info.value.errors} == {
        ("department", "not_found"),
        ("assignee", "not_found"),
        ("to", "invalid_email"),
    }


def test_priority_assignee_and_author_are_stored(email_app):  # R5, R7
    add_user(email_app, "bob", "agent", "password123", SYSTEM)
    result = initiate_ticket(
        email_app, request(priority="urgent", assignee="bob", from_client=True), "alice"
    )
    with email_app.db.reader() as s:
        ticket = s.get(Ticket, result.ticket_id)
        assert (ticket.priority, ticket.author, ticket.created_by) == ("urgent", "client", "alice")
        assert ticket.assignee_id is not None


def test_from_client_uses_the_ticket_received_template(email_app, smtp_sink):  # R7
    result = initiate_ticket(email_app, request(from_client=True), "alice")
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.subject == f"Request {result.ticket_id} received"
    assert mail.text.strip() == "We got your request: Заказ готов к выдаче."


def test_send_email_off_creates_the_ticket_but_no_email(email_app, smtp_sink):  # R6
    result = initiate_ticket(email_app, request(send_email=False), "alice")
    assert result.email_skipped == "send_email_off"
    assert result.messages == []
    assert count(email_app, Ticket) == 1
    with email_app.db.reader() as s:
        events = [e.event for e in ticket_trail(s, result.ticket_id)]
    assert events == ["ticket_created", "email_skipped"]
    assert list_mail(smtp_sink.directory) == []


def test_disabled_template_means_no_email(app, tmp_path, smtp_sink):  # R6
    provision_email(app, tmp_path, smtp_sink.url, agent_enabled=False)
    result = initiate_ticket(app, request(), "alice")
    assert result.email_skipped == "template_disabled"
    assert list_mail(smtp_sink.directory) == []


def test_audit_trail_names_each_step(email_app, smtp_sink):  # R8
    result = initiate_ticket(email_app, request(department="IT"), "alice")
    with email_app.db.reader() as s:
        trail = ticket_trail(s, result.ticket_id)
    assert [e.event for e in trail] == [
        "ticket_created",
        "message_queued",
        "message_sending",
        "message_sent",
    ]
    created, queued, _, sent = trail
    assert created.actor == "alice" and created.data["department"] == "IT"
    assert queued.data["mailbox"] == "it@company.com"
    assert (
        sent.data["provider_message_id"].startswith("<")
        and sent.data["mailbox"] == "it@company.com"
    )


@pytest.mark.process
def test_unreachable_smtp_server_leaves_the_message_retrying(app, tmp_path):
    provision_email(app, tmp_path, f"smtp://127.0.0.1:{free_port()}?timeout=2")
    result = initiate_ticket(app, request(), "alice")
    (msg,) = result.messages
    assert msg.status == "retrying"
    with app.db.reader() as s:
        row = s.get(Message, msg.id)
        assert row.next_attempt_at is not None and row.attempts == 1
        assert row.error_class == "transient"


def test_550_answer_fails_with_the_servers_text(email_app, smtp_sink):
    result = initiate_ticket(email_app, request(to="bounce@example.com"), "alice")
    (msg,) = result.messages
    assert msg.status == "failed"
    assert msg.error_code == "550"
    assert "Mailbox unavailable" in msg.error_text


def test_451_answer_is_retried(email_app, smtp_sink):
    (msg,) = initiate_ticket(email_app, request(to="tempfail@example.com"), "alice").messages
    assert (msg.status, msg.error_code) == ("retrying", "451")


def test_same_address_is_one_contact(email_app, smtp_sink):
    initiate_ticket(email_app, request(to="a@example.com"), "alice")
    initiate_ticket(email_app, request(to=" a@EXAMPLE.com"), "alice")
    assert count(email_app, Contact) == 1
    assert count(email_app, Ticket) == 2


def test_tags_in_subject_and_body_are_filled_in(email_app, smtp_sink):
    result = initiate_ticket(
        email_app,
        request(
            subject="Заказ {{ ticket.fields.order_id }}",
            body="{{ contact.name }}, ваш заказ готов.",
            contact_name="Анна",
        ),
        "alice",
    )
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.subject == f"[#{result.ticket_id}] Заказ A-42"
    assert "Анна, ваш заказ готов." in mail.text


def test_broken_tag_is_refused(email_app):
    with pytest.raises(Refused) as info:
        initiate_ticket(email_app, request(body="Hi {{ contact.name "), "alice")
    assert [(e.field, e.code) for e in info.value.errors] == [("body", "tag_syntax")]
