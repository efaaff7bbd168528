"""The preview is the message the client gets (issue 16.3): rendered by the code that renders
the sent one, compared here with what the SMTP server and the outbox really got; and the test
send before launch goes out once, to the agent's own address, in no campaign."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, Campaign, Message, Ticket, User, WaTemplate
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.errors import Refused
from hde_core.sandbox.smtp_sink import list_mail, wait_for_mail
from hde_core.services import bulk, campaigns
from hde_core.services.authz import NotAllowed
from hde_core.services.preferences import last_test_address, remember_test_address
from hde_core.services.previews import preview_row, preview_ticket, request_for_test_send
from hde_core.services.tickets import TicketRequest
from tests.lists.helpers import add_channel, add_identity
from tests.services.bulk_helpers import BODY, CHANNELS, LIST, PHONE, SUBJECT, setup_bulk
from tests.services.helpers import provision_email
from tests.staff import seed_staff


def received(part: str) -> str:
    """A MIME part as its reader sees it: SMTP's CRLF line ends and final newline aside."""
    return part.replace("\r\n", "\n").rstrip("\n")


def request(**kw):
    base = dict(
        channel="email",
        to="client@example.com",
        subject="Ваш заказ",
        body="Заказ готов к выдаче.",
        fields={"order_id": "A-42"},
        contact_name="Анна",
        department="IT",
    )
    base.update(kw)
    return TicketRequest(**base)


@pytest.fixture
def email_app(app, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    return app


def test_email_preview_is_the_email_the_client_receives(email_app, smtp_sink):
    shown = preview_ticket(email_app, request(), "alice")
    email = shown.content
    assert email is not None and email.kind == "email"
    # the notification wrapper greets once; the body sits inside it
    assert email.text == "Hello Анна! Заказ готов к выдаче. (order A-42, from IT)"
    assert email.subject == "[#1] Ваш заказ"
    assert email.from_addr == "it@company.com"

    result = initiate_ticket(email_app, request(), "alice")
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert result.ticket_id == shown.ticket_id
    assert mail.subject == email.subject
    assert received(mail.text) == email.text
    assert received(mail.html) == email.html


def test_tags_and_html_escaping_are_previewed_as_sent(email_app, smtp_sink):
    req = request(body="{{ contact.name }}, <b>заказ</b> готов")
    shown = preview_ticket(email_app, req, "alice")
    assert shown.content is not None
    assert "Hello Анна! Анна, <b>заказ</b> готов" in shown.content.text
    assert "&lt;b&gt;" in (shown.content.html or "")
    initiate_ticket(email_app, req, "alice")
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert received(mail.text) == shown.content.text


def test_email_off_previews_that_nothing_is_sent(email_app):
    shown = preview_ticket(email_app, request(send_email=False), "alice")
    assert shown.messages == ()
    assert shown.skipped == "send_email_off"


def test_a_broken_tag_is_refused_in_plain_words(email_app):
    with pytest.raises(Refused) as refused:
        preview_ticket(email_app, request(body="{{ Номер заказа }}"), "alice")
    assert [e.code for e in refused.value.errors] == ["tag_syntax_placeholder"]


def _viewer(app) -> str:
    with app.db.transaction() as s:
        s.add(User(login="viewer", role="viewer", password_hash="x"))
    return "viewer"


def test_a_viewer_cannot_preview(email_app):
    with pytest.raises(NotAllowed):
        preview_ticket(email_app, request(), _viewer(email_app))


def test_messenger_preview_is_the_text_sent(app, clock):
    tg = add_channel(app, "tg", "telegram")
    add_identity(app, tg, "555", clock, last_inbound=timedelta(hours=1))
    seed_staff(app)
    req = request(
        channel="tg", to="555", body="Привет, {{ contact.name }}!", department=None, fields={}
    )
    shown = preview_ticket(app, req, "alice")
    assert shown.channel_kind == "telegram"
    assert [(m.kind, m.text) for m in shown.messages] == [("text", "Привет, Анна!")]
    result = initiate_ticket(app, req, "alice", deliver=False)
    with app.db.reader() as s:
        (sent,) = s.scalars(select(Message).where(Message.ticket_id == result.ticket_id))
        assert sent.payload["text"] == shown.messages[0].text


# -- bulk rows -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_caches():
    bulk.forget_cached()
    yield
    bulk.forget_cached()


@pytest.fixture
def lead_app(app, tmp_path, smtp_sink):
    setup_bulk(app, tmp_path, smtp_sink.url)
    with app.db.transaction() as s:
        for tpl in s.scalars(select(WaTemplate)):
            tpl.body_text = "Здравствуйте, {{1}}! Есть новости по заказу."
            tpl.param_names = ["1"]
    return app


def _draft(app, **kw) -> bulk.Draft:
    upload = bulk.store_upload(app, LIST.name, LIST.read_bytes())
    facts = bulk.inspect_upload(app, upload)
    mapping = {**facts.mapping, "phone": PHONE}
    return bulk.make_draft(upload, mapping, CHANNELS, SUBJECT, BODY, **kw)


def _loaded(app, d: bulk.Draft):
    return bulk.loaded_list(app, d.upload, dict(d.mapping))


def test_a_bulk_row_preview_is_what_the_launch_writes_for_that_row(lead_app):
    d = _draft(lead_app)
    loaded = _loaded(lead_app, d)
    shown = preview_row(lead_app, d.request(), loaded, 1, "lead")
    assert (shown.row_number, shown.row_count, shown.channel) == (1, loaded.row_count, "email")
    email = shown.content
    assert email is not None and email.subject == f"[#{shown.ticket_id}] {SUBJECT}"
    assert email.text.startswith("Здравствуйте, ") and email.text.count("Здравствуйте") == 1

    campaigns.launch(lead_app, d.request(), "lead")
    with lead_app.db.reader() as s:
        first = s.scalar(select(Message).order_by(Message.ticket_id, Message.id).limit(1))
        assert first is not None and first.ticket_id == shown.ticket_id
        assert first.payload["subject"] == email.subject
        assert first.payload["text"] == email.text
        assert first.payload["html"] == email.html


def test_a_whatsapp_row_previews_its_template_with_parameters_then_the_held_text(lead_app):
    d = _draft(lead_app, template="hello:ru", params={"1": "ФИО"})
    shown = preview_row(lead_app, d.request(), _loaded(lead_app, d), 2, "lead")
    assert shown.channel == "whatsapp-business"
    template, text = shown.messages
    assert template.kind == "template" and template.template == "hello:ru"
    name = template.params["1"]
    assert name and template.text == f"Здравствуйте, {name}! Есть новости по заказу."
    assert text.kind == "text" and text.held
    assert text.text.startswith(f"Здравствуйте, {name}!")


def test_row_numbers_outside_the_list_show_its_first_or_last_row(lead_app):
    d = _draft(lead_app)
    loaded = _loaded(lead_app, d)
    assert preview_row(lead_app, d.request(), loaded, 0, "lead").row_number == 1
    last = preview_row(lead_app, d.request(), loaded, 10_000, "lead")
    assert last.row_number == loaded.row_count
    assert last.reason == "duplicate" or last.reason is None


def test_test_send_reaches_the_agent_once_and_counts_in_no_campaign(lead_app, smtp_sink):
    d = _draft(lead_app)
    loaded = _loaded(lead_app, d)
    shown = preview_row(lead_app, d.request(), loaded, 1, "lead")
    req = request_for_test_send(
        lead_app, d.request(), loaded, 1, "lead@company.com", "lead", "test-k1"
    )
    first = initiate_ticket(lead_app, req, "lead")
    again = initiate_ticket(lead_app, req, "lead")  # a double click: the same submission
    assert again.ticket_id == first.ticket_id
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.to_header == "lead@company.com"
    assert shown.content is not None
    # the row's client's email, word for word (only the ticket number is the test's own)
    assert received(mail.text) == shown.content.text
    assert len(list_mail(smtp_sink.directory)) == 1
    with lead_app.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
        assert s.scalar(select(Ticket.campaign_id).where(Ticket.id == first.ticket_id)) is None
        events = s.scalars(
            select(AuditEvent.event).where(AuditEvent.ticket_id == first.ticket_id)
        ).all()
        assert "test_send" in events


def test_a_viewer_cannot_preview_a_row(lead_app):
    d = _draft(lead_app)
    with pytest.raises(NotAllowed):
        preview_row(lead_app, d.request(), _loaded(lead_app, d), 1, _viewer(lead_app))


def test_the_last_test_address_is_offered_again_to_its_user_only(email_app):
    assert last_test_address(email_app, "alice") is None
    remember_test_address(email_app, "alice", "alice@company.com")
    remember_test_address(email_app, "alice", "alice.work@company.com")
    assert last_test_address(email_app, "alice") == "alice.work@company.com"
    assert last_test_address(email_app, "lead") is None


def test_a_greeting_in_the_text_under_the_wrappers_greeting_is_pointed_out(email_app):
    # the wrapper says "Hello Анна! {{ ticket.body }} …"
    doubled = preview_ticket(email_app, request(body="Hello, Анна! Заказ готов."), "alice")
    assert doubled.doubled_greeting
    single = preview_ticket(email_app, request(body="Заказ готов. Hello desk!"), "alice")
    assert not single.doubled_greeting


def test_a_greeting_only_in_the_text_is_no_double(lead_app):
    # the bulk deployment's wrapper is the ticket's text alone: its greeting is the only one
    d = _draft(lead_app)
    assert not preview_row(lead_app, d.request(), _loaded(lead_app, d), 1, "lead").doubled_greeting


def test_a_default_template_parameter_without_a_value_is_pointed_out(lead_app):
    # the channel's default template, and no mapping of its parameter in the channel
    d = _draft(lead_app)
    shown = preview_row(lead_app, d.request(), _loaded(lead_app, d), 2, "lead")
    assert shown.template is not None and shown.template.unfilled == ("1",)
    assert shown.template.text.startswith("Здравствуйте, {{1}}!")
