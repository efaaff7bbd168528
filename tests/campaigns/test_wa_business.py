"""Bulk on WhatsApp Business follows the single-ticket window rules (R11, R12): a closed
window gets the template first and the content held behind it; an open one gets the text;
``--template`` with ``--param N=COLUMN`` fills the template from each row."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hde_core.db.models import Channel, Contact, ContactIdentity, Message, WaTemplate
from hde_core.services import campaigns as svc
from hde_core.services.lists import write_report
from tests.channels.wa_helpers import ANNA, IGOR, provision_meta

LIST = f"Телефон;Имя;order_id\n{ANNA};Анна;A-1\n{IGOR};Игорь;A-2\n".encode()


def setup(app, tmp_path, clock):
    channel_id = provision_meta(
        app, tmp_path, "http://127.0.0.1:9", extra='rules_acknowledged_by = "lead"'
    )
    now = clock.now()
    with app.db.transaction() as s:
        hello = WaTemplate(
            channel_id=channel_id,
            name="hello",
            language="ru",
            category="UTILITY",
            status="APPROVED",
            param_names=[],
            components=[],
        )
        order = WaTemplate(
            channel_id=channel_id,
            name="order_ready",
            language="ru",
            category="UTILITY",
            status="APPROVED",
            param_names=["1"],
            components=[],
        )
        s.add_all([hello, order])
        s.flush()
        s.get(Channel, channel_id).default_template_id = hello.id
        for phone, wrote in ((ANNA, now - timedelta(days=2)), (IGOR, now - timedelta(hours=1))):
            contact = Contact(name=phone)
            s.add(contact)
            s.flush()
            s.add(
                ContactIdentity(
                    contact_id=contact.id,
                    channel_id=channel_id,
                    address=phone,
                    first_inbound_at=wrote,
                    last_inbound_at=wrote,
                )
            )
    return channel_id


def messages(app):
    with app.db.reader() as s:
        return {(m.recipient, m.kind): m for m in s.scalars(select(Message).order_by(Message.id))}


def test_closed_window_template_then_hold_open_window_text(app, tmp_path, clock):
    setup(app, tmp_path, clock)
    result = svc.launch(
        app,
        svc.SendRequest(
            source=LIST,
            filename="wa.csv",
            channels=["wa"],
            subject="Заказ {{ order_id }}",
            body="{{ Имя }}, заказ {{ order_id }} готов.",
        ),
        "lead",
    )
    assert result.summary["actions"]["template_then_hold"] == 1
    assert result.summary["actions"]["send"] == 1
    assert (result.tickets_created, result.messages_created, result.template_messages) == (2, 3, 1)
    m = messages(app)
    template, held = m[(ANNA, "template")], m[(ANNA, "text")]
    assert (template.status, template.payload["template_name"], template.category) == (
        "queued",
        "hello",
        "utility",
    )
    assert (held.status, held.after_message_id) == ("held", template.id)
    assert held.payload["text"] == "Анна, заказ A-1 готов."
    assert (m[(IGOR, "text")].status, m[(IGOR, "text")].payload["text"]) == (
        "queued",
        "Игорь, заказ A-2 готов.",
    )


def test_campaign_template_takes_its_parameters_from_the_row(app, tmp_path, clock):
    setup(app, tmp_path, clock)
    svc.launch(
        app,
        svc.SendRequest(
            source=LIST,
            filename="wa.csv",
            channels=["wa"],
            subject="s",
            body="b",
            template="order_ready",
            params={"1": "order_id"},
        ),
        "lead",
    )
    template = messages(app)[(ANNA, "template")]
    assert (template.payload["template_name"], template.payload["params"]) == (
        "order_ready",
        {"1": "A-1"},
    )


def test_a_row_whose_message_is_over_the_limit_is_refused_at_validation(app, tmp_path, clock):
    """Issue 15.4: WhatsApp takes 4,096 characters. A row whose rendered message is longer
    is refused with ``text_too_long`` in the check and its report, before anything is
    written or sent; the other rows go. One character less is sent."""
    setup(app, tmp_path, clock)
    body = "{{ Имя }}: {{ note }}"
    fits = "x" * (4096 - len("Игорь: "))  # exactly the limit once rendered
    rows = [f"{ANNA};Анна;{'y' * 5000}", f"{IGOR};Игорь;{fits}"]
    source = ("Телефон;Имя;note\n" + "\n".join(rows) + "\n").encode()
    req = svc.SendRequest(source=source, filename="wa.csv", channels=["wa"], subject="s", body=body)

    plan, result = svc.plan_launch(app, req)
    verdicts = {r.recipient: r for r in result.iter_rows()}
    assert verdicts[ANNA].reason == "text_too_long" and verdicts[IGOR].reason == "eligible"
    assert result.summary()["reasons"]["text_too_long"] == 1
    assert "longer than this channel's provider accepts" in verdicts[ANNA].message("en")
    assert "длиннее, чем принимает провайдер канала" in verdicts[ANNA].message("ru")

    report = tmp_path / "report.csv"
    write_report(result, report, "en")
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    anna = next(line for line in lines if "Анна" in line)
    assert "text_too_long" in anna and "text_too_long" not in "".join(lines[2:])

    launched = svc.launch(app, req, "lead")
    assert (launched.summary["eligible"], launched.tickets_created) == (1, 1)
    m = messages(app)
    assert {recipient for recipient, _ in m} == {IGOR}
    assert len(m[(IGOR, "text")].payload["text"]) == 4096
