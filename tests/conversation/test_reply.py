"""An agent answers (issue 17.4) through the outbox, over real HTTP to the Meta Cloud API
simulator: outside the 24-hour window free text is refused in plain words with the
approved templates offered (and their cost); inside it the answer goes out exactly once,
whatever the retries of the same submission. Roles hold below the console."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hde_core.db.models import Message, Ticket
from hde_core.dispatch.immediate import deliver_now
from hde_core.entrypoints.http import build_http_app
from hde_core.errors import PermissionDenied
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.conversation import assign as assignment
from hde_core.services.conversation.reply import ReplyRefused, reply, reply_options
from hde_core.services.pricing import set_price
from hde_core.services.templates import sync_templates
from hde_core.services.wa_settings import update_wa_settings
from tests.channels.wa_helpers import ANNA, Sim, provision_meta

CLOSED = 25 * 3600
HANDED_OVER = ("sent", "delivered", "read")


@pytest.fixture
def sim(app, tmp_path):
    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    provision_meta(app, tmp_path, server.url)
    sim = Sim(f"{server.url}/sim/meta")
    sim.webhook(f"{server.url}/webhooks/wa")
    sim.config(status_delay_s=0.02, reply_probability=0)
    sync_templates(app, "wa")
    update_wa_settings(app, "wa", "lead", acknowledge_rules=True)
    yield sim
    server.stop()


def client_ticket(app):
    with app.db.reader() as s:
        (ticket,) = s.scalars(select(Ticket))
        return ticket


def messages(app):
    with app.db.reader() as s:
        return s.scalar(select(func.count()).select_from(Message))


def test_outside_the_window_free_text_is_refused_and_templates_are_offered(app, sim):
    set_price(app, "utility", "0.0080", "lead", country="RU", currency="USD")
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED, name="Анна")
    ticket = client_ticket(app)
    assert ticket.author == "client" and ticket.status == "replied"

    with pytest.raises(ReplyRefused) as refused:
        reply(app, "agent", ticket.id, body="Добрый день! Ваш заказ готов.")
    (error,) = refused.value.errors
    assert error.code == "window_closed"
    assert "template" in error.message("en")
    offered = refused.value.options.templates
    assert offered and all(t.name for t in offered)
    assert any(t.cost == "0.0080" and t.currency == "USD" for t in offered)
    assert messages(app) == 0 and sim.sends() == []

    options = reply_options(app, ticket.id)
    assert (options.free_text, options.reason) == (False, "window_closed")
    utility = next(t for t in offered if t.category == "utility")
    params = {p: "Анна" for p in utility.params}
    sent = reply(app, "agent", ticket.id, template=utility.ref, params=params, submission_key="k1")
    deliver_now(app, [sent.message_id])
    (call,) = sim.sends()
    assert call["json"]["type"] == "template"
    assert call["json"]["template"]["name"] == utility.name


def test_inside_the_window_the_answer_goes_out_exactly_once(app, sim):
    sim.write(ANNA, "Когда привезут заказ?", name="Анна")
    ticket = client_ticket(app)
    options = reply_options(app, ticket.id)
    assert options.free_text and options.window_closes_at is not None

    first = reply(app, "agent", ticket.id, body="Завтра до 18:00.", submission_key="form-1")
    again = reply(app, "agent", ticket.id, body="Завтра до 18:00.", submission_key="form-1")
    assert again.duplicate and again.message_id == first.message_id
    deliver_now(app, [first.message_id])
    deliver_now(app, [first.message_id])
    (call,) = sim.sends()
    assert call["json"]["text"]["body"] == "Завтра до 18:00."
    with app.db.reader() as s:
        m = s.get(Message, first.message_id)
        t = s.get(Ticket, ticket.id)
        assert m.status in HANDED_OVER
        assert t.status == "in_progress"
        assert t.assignee_id is not None  # the agent who answered took it
    assert messages(app) == 1


def test_roles_hold_below_the_console(app, sim, tmp_path):
    from tests.conftest import add_cli_user

    sim.write(ANNA, "Здравствуйте")
    ticket = client_ticket(app)
    add_cli_user(app.settings.database_url, "viewer1", "viewer")
    with pytest.raises(PermissionDenied):
        reply(app, "viewer1", ticket.id, body="Привет")
    with pytest.raises(PermissionDenied):
        assignment.assign(app, "alice", ticket.id, "agent")  # an agent gives it to another
    assert assignment.assign(app, "alice", ticket.id, "alice") == "alice"  # takes it
    assert assignment.waiting_for(app, "alice") == 1
    assert assignment.assign(app, "lead", ticket.id, "agent") == "agent"
    assert assignment.set_status(app, "agent", ticket.id, "closed") == "closed"
    assert assignment.waiting_for(app, "agent") == 0
    assert messages(app) == 0
