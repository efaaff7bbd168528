"""End to end over real HTTP (R11, R12): our code → Meta Cloud API simulator → signed
webhooks → our receiver → database, with the single-ticket service and the delivery path.

The simulator enforces the 24-hour window on its own; every test makes the client write
through it, so both sides agree on when the window closes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, Channel, Message, Ticket
from hde_core.dispatch.claim import nothing_due
from hde_core.dispatch.immediate import deliver_now, initiate_ticket
from hde_core.domain.statuses import MessageStatus as S
from hde_core.entrypoints.http import build_http_app
from hde_core.errors import Refused
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services import campaigns
from hde_core.services.delivery import ticket_summary
from hde_core.services.templates import sync_templates
from hde_core.services.tickets import TicketRequest
from hde_core.services.wa_settings import update_wa_settings
from tests.channels.wa_helpers import ANNA, Sim, provision_meta, wait_until

CLOSED = 25 * 3600  # the client last wrote 25 hours ago
#: Handed to the provider; its status webhooks may already have moved it on.
HANDED_OVER = (S.SENT.value, S.DELIVERED.value, S.READ.value)

SETTINGS = """default_template = "hde_first_contact:ru"
[channels.settings.default_template_params]
"1" = "{{ contact.name or 'клиент' }}"
"2" = "{{ ticket.id }}"
"""


@pytest.fixture
def sim(app, tmp_path):
    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    provision_meta(app, tmp_path, server.url, settings=SETTINGS)
    sim = Sim(f"{server.url}/sim/meta")
    sim.webhook(f"{server.url}/webhooks/wa")
    sim.config(status_delay_s=0.02, window_error="webhook", reply_probability=0)
    sync_templates(app, "wa")
    update_wa_settings(app, "wa", "lead", acknowledge_rules=True)
    yield sim
    server.stop()


def ticket(app, body="Ваш заказ №17 готов к выдаче.", deliver=True):
    request = TicketRequest(channel="wa", to="8 (912) 345-67-89", subject="Заказ", body=body)
    return initiate_ticket(app, request, "agent", deliver=deliver)


def message(app, message_id):
    with app.db.reader() as s:
        return s.get(Message, message_id)


def status_of(app, message_id):
    return message(app, message_id).status


def test_window_closed_template_first_content_held_until_the_reply(app, sim):
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED, name="Анна")
    result = ticket(app)
    assert result.action == "template_then_hold"
    template, content = result.messages
    assert template.kind == "template" and template.status in HANDED_OVER
    assert (content.kind, content.status) == ("text", S.HELD.value)

    (sent,) = sim.sends()  # only the template went out
    assert sent["json"]["template"]["name"] == "hde_first_contact"
    params = sent["json"]["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Анна", str(result.ticket_id)]
    wait_until(lambda: status_of(app, template.id) == S.READ.value, what="template read")

    sim.write(ANNA, "Да, слушаю")  # the client replies: the window opens
    assert status_of(app, content.id) == S.QUEUED.value  # released by the receiver
    deliver_now(app, [content.id])
    assert status_of(app, content.id) in HANDED_OVER
    last = sim.sends()[-1]["json"]
    assert (last["type"], last["text"]["body"]) == ("text", "Ваш заказ №17 готов к выдаче.")
    wait_until(lambda: status_of(app, content.id) == S.READ.value, what="content read")


def test_window_open_content_is_sent_directly(app, sim):
    sim.write(ANNA, "Добрый день, есть вопрос")
    result = ticket(app)
    assert result.action == "send"
    (only,) = result.messages
    assert only.kind == "text" and only.status in HANDED_OVER
    (sent,) = sim.sends()
    assert sent["json"]["type"] == "text"


@pytest.mark.parametrize("mode", ["sync", "webhook"])
def test_provider_saying_outside_the_window_holds_instead_of_failing(app, sim, mode):
    sim.write(ANNA, "Здравствуйте")  # our side: window open
    sim.user(ANNA, last_inbound_ago_seconds=CLOSED)  # the provider: closed
    sim.config(window_error=mode)
    (content,) = ticket(app).messages
    wait_until(lambda: status_of(app, content.id) == S.HELD.value, what="content held")
    held = message(app, content.id)
    assert (held.error_class, held.error_code) == ("window_closed", "131047")

    sim.write(ANNA, "Я тут")
    deliver_now(app, [content.id])
    wait_until(lambda: status_of(app, content.id) == S.READ.value, what="content read")


def test_send_after_template_hands_over_content_right_after(app, sim):
    update_wa_settings(app, "wa", "lead", send_after_template=True)
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED)
    result = ticket(app)
    assert result.action == "template_then_send"
    template, content = result.messages
    assert [c["json"]["type"] for c in sim.sends()] == ["template", "text"]
    assert template.status in HANDED_OVER
    # WhatsApp refuses free-form text outside the window even after a template: held, not lost
    wait_until(lambda: status_of(app, content.id) == S.HELD.value, what="content held")


def test_a_simulated_client_replies_by_itself_and_the_content_follows(app, sim):
    sim.config(reply_probability=1.0, reply_delay_s=0.05, opt_out_probability=0)
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED)
    template, content = ticket(app).messages
    wait_until(lambda: status_of(app, content.id) == S.QUEUED.value, what="content released")
    deliver_now(app, [content.id])
    assert status_of(app, content.id) in HANDED_OVER


def _tickets(app):
    """Tickets an agent opened (the client's own message is in a ticket of its own)."""
    with app.db.reader() as s:
        return s.scalar(select(func.count()).select_from(Ticket).where(Ticket.author == "agent"))


@pytest.mark.parametrize("missing", ["default_template", "rules"])
def test_window_closed_without_default_template_or_rules_is_refused(app, sim, missing):
    if missing == "default_template":
        update_wa_settings(app, "wa", "lead", default_template="")
    else:
        update_wa_settings(app, "wa", "lead", acknowledge_rules=False)
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED)
    with pytest.raises(Refused) as refused:
        ticket(app)
    assert [e.code for e in refused.value.errors] == ["no_default_template"]
    assert _tickets(app) == 0 and sim.sends() == []


def test_a_template_paused_after_queueing_is_not_sent(app, sim):
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED)
    template, content = ticket(app, deliver=False).messages
    sim.template_status("hde_first_contact", "ru", "PAUSED")
    sync_templates(app, "wa")
    deliver_now(app, [template.id])
    failed = message(app, template.id)
    assert (failed.status, failed.error_code) == (S.FAILED.value, "template_not_approved")
    assert "PAUSED" in failed.error_text
    assert sim.sends() == []
    # the content waited for that template: it fails with it instead of waiting for ever
    held = message(app, content.id)
    assert (held.status, held.error_class, held.error_code) == (
        S.FAILED.value,
        "template_rejected",
        "template_failed",
    )
    # a failed message is final: the client writing later does not send it
    sim.write(ANNA, "Добрый день, есть новости?")
    deliver_now(app, [content.id])
    assert status_of(app, content.id) == S.FAILED.value and sim.sends() == []


def test_an_empty_template_parameter_refuses_the_ticket(app, sim):
    update_wa_settings(app, "wa", "lead", params={"1": "{{ ticket.fields.nickname }}"})
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED)
    with pytest.raises(Refused) as refused:
        ticket(app)
    assert [(e.field, e.code) for e in refused.value.errors] == [("template.1", "missing_field")]
    assert _tickets(app) == 0


def _trail(app, message_id):
    with app.db.reader() as s:
        return [
            (e.event, e.actor, e.data)
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.message_id == message_id)
                .order_by(AuditEvent.id)
            )
        ]


@pytest.mark.parametrize("send_after_template", [False, True], ids=["held", "queued"])
@pytest.mark.parametrize(
    ("code", "error_class"),
    [(132001, "template_rejected"), (131000, "transient")],
    ids=["template_does_not_exist", "attempts_run_out"],
)
def test_a_template_that_fails_for_good_fails_the_content_waiting_for_it(
    app, sim, send_after_template, code, error_class
):
    update_wa_settings(app, "wa", "lead", send_after_template=send_after_template)
    with app.db.transaction() as s:  # one attempt, so a 5xx runs out of attempts at once
        s.scalar(select(Channel).where(Channel.name == "wa")).max_attempts = 1
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED)
    sim.force(code)
    result = ticket(app)
    template, content = result.messages
    assert (template.status, content.status) == (S.FAILED.value, S.FAILED.value)
    assert message(app, template.id).error_code == str(code)

    failed = message(app, content.id)
    assert (failed.error_class, failed.error_code) == (error_class, "template_failed")
    assert failed.error_text.startswith(f"its template (message {template.id}) failed: {code} ")
    assert failed.failed_at is not None and failed.attempts == 0
    event, actor, data = _trail(app, content.id)[-1]
    assert (event, actor, data["code"], data["template_message_id"]) == (
        "message_failed",
        "dispatcher",
        "template_failed",
        template.id,
    )
    # the console says it in plain words, in either language
    english = ticket_summary(app, result.ticket_id, "en").messages[1].error
    russian = ticket_summary(app, result.ticket_id, "ru").messages[1].error
    assert english.startswith(
        "Not sent, because the template that had to go out first failed (template_failed its "
    )
    assert russian.startswith("Не отправлено: не ушёл шаблон")

    # the client writes later: nothing is released, the failed content is never sent
    sim.write(ANNA, "Добрый день")
    deliver_now(app, [content.id])
    assert status_of(app, content.id) == S.FAILED.value
    assert [c["json"]["type"] for c in sim.sends()] == ["template"]


def test_a_cancelled_campaign_never_sends_the_content_behind_its_template(app, sim):
    update_wa_settings(app, "wa", "lead", send_after_template=True)
    sim.write(ANNA, "Здравствуйте", ago_seconds=CLOSED, name="Анна")
    launched = campaigns.launch(
        app,
        campaigns.SendRequest(
            source=f"Телефон;Имя\n{ANNA};Анна\n".encode(),
            filename="wa.csv",
            channels=["wa"],
            subject="Заказ",
            body="{{ Имя }}, ваш заказ готов.",
        ),
        "lead",
    )
    assert launched.summary["actions"]["template_then_send"] == 1
    campaigns.cancel(app, launched.campaign_key, "lead")
    with app.db.reader() as s:
        template, content = s.scalars(select(Message).order_by(Message.id)).all()
    assert (template.status, content.after_message_id) == (S.CANCELLED.value, template.id)
    assert content.status == S.CANCELLED.value

    sim.write(ANNA, "Я тут")  # the window opens: a cancelled message is not released
    assert nothing_due(app)  # the dispatcher has nothing to claim
    deliver_now(app, [template.id, content.id])
    assert (status_of(app, template.id), status_of(app, content.id)) == (
        S.CANCELLED.value,
        S.CANCELLED.value,
    )
    assert sim.sends() == []
