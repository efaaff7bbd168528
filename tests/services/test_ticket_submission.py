"""One form submission = one ticket (issue 16.2): the submission key is enforced by the
database, so repeated and concurrent creates with one key give one ticket and one email."""

import threading

import pytest
from sqlalchemy import func, select

from hde_core.db.models import Message, Ticket
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.sandbox.smtp_sink import list_mail, wait_for_mail
from hde_core.services.tickets import TicketRequest, create_ticket
from tests.services.helpers import provision_email


def request(key, **kw):
    base = dict(
        channel="email",
        to="client@example.com",
        subject="Ваш заказ",
        body="Заказ готов к выдаче.",
        department="IT",
        fields={"order_id": "A-42"},
        submission_key=key,
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


def test_a_repeated_submission_returns_the_ticket_already_made(email_app, smtp_sink):
    first = initiate_ticket(email_app, request("form-1"), "agent")
    again = initiate_ticket(email_app, request("form-1"), "agent")
    assert again.ticket_id == first.ticket_id
    assert [m.id for m in again.messages] == [m.id for m in first.messages]
    assert again.status == "sent"
    assert count(email_app, Ticket) == 1
    assert count(email_app, Message) == 1
    wait_for_mail(smtp_sink.directory, 1)
    assert len(list_mail(smtp_sink.directory)) == 1
    # another submission (another key) is another ticket
    other = initiate_ticket(email_app, request("form-2"), "agent")
    assert other.ticket_id != first.ticket_id
    assert count(email_app, Ticket) == 2


def test_concurrent_submissions_with_one_key_make_one_ticket(email_app):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def submit():
        barrier.wait()
        try:
            results.append(create_ticket(email_app, request("form-race"), "agent"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.ticket_id for r in results}) == 1
    assert count(email_app, Ticket) == 1
    assert count(email_app, Message) == 1


def test_without_a_key_every_create_is_a_ticket(email_app):
    create_ticket(email_app, request(None), "agent")
    create_ticket(email_app, request(None), "agent")
    assert count(email_app, Ticket) == 2
