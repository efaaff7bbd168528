"""The new-ticket page: find a client, see the channel verdict, send, see the trail (issue 7 §3)."""

from hde_core.dispatch.immediate import initiate_ticket
from hde_core.sandbox.smtp_sink import wait_for_mail
from hde_core.services.tickets import TicketRequest
from tests.console.conftest import run_page
from tests.services.helpers import provision_email


def fill(at, **values):
    for key, value in values.items():
        widget = at.text_input(key=key) if key != "nt_body" else at.text_area(key=key)
        widget.input(value)
    return at


def test_agent_sends_email_to_a_new_address(console_app, tmp_path, smtp_sink):
    provision_email(console_app, tmp_path, smtp_sink.url)
    at = run_page("pages/1_new_ticket.py", role="agent")
    assert not at.exception
    at.text_input(key="nt_to").input("new.client@example.com").run()
    assert "Получатель: new.client@example.com" in at.success[0].value
    at.selectbox(key="nt_department").select("IT").run()
    assert "Письмо уйдёт с адреса it@company.com." in [c.value for c in at.caption]
    fill(at, nt_subject="Ваш заказ", nt_body="Заказ готов", nt_field_order_id="77")
    at.button(key="nt_submit").click().run()
    assert not at.exception
    assert "Заявка №1 создана" in at.success[-1].value
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    assert mail.from_header == "IT <it@company.com>"
    trail = at.dataframe[-1].value
    assert list(trail["Что"]) == [
        "Заявка создана",
        "Сообщение в очереди",
        "Передаётся провайдеру",
        "Отправлено",
    ]
    assert trail["Кто"].iloc[0] == "agent"


def test_missing_required_field_is_explained(console_app, tmp_path, smtp_sink):
    provision_email(console_app, tmp_path, smtp_sink.url)
    at = run_page("pages/1_new_ticket.py", role="agent", lang="en")
    at.text_input(key="nt_to").input("x@example.com").run()
    fill(at, nt_subject="Hi", nt_body="Body")
    at.button(key="nt_submit").click().run()
    assert at.error[0].value == "The ticket was not created:"
    # named by the label the form shows, not by the field's key
    assert "Order number: required, fill it in." in at.markdown[-1].value


def test_find_existing_client_and_insert_a_tag(console_app, tmp_path, smtp_sink):
    provision_email(console_app, tmp_path, smtp_sink.url)
    initiate_ticket(
        console_app,
        TicketRequest(
            "email",
            "anna@example.com",
            "s",
            "b",
            fields={"order_id": "1"},
            contact_name="Анна Петрова",
        ),
        "lead",
    )
    at = run_page("pages/1_new_ticket.py", role="agent")
    assert not at.exception
    at.text_input(key="nt_search").input("петрова").run()
    contact_ids = at.radio(key="nt_contact").options
    assert len(contact_ids) == 2
    at.radio(key="nt_contact").set_value(at.radio(key="nt_contact").options[1]).run()
    assert "anna@example.com" in at.success[0].value
    at.selectbox(key="nt_tag").select("{{ contact.name }}").run()
    at.button(key="nt_insert").click().run()
    assert at.text_area(key="nt_body").value == "{{ contact.name }}"


def test_email_flag_is_not_applicable_to_messengers(console_app, tmp_path):
    path = tmp_path / "tg.toml"
    path.write_text(
        '[[channels]]\nname = "tg"\nkind = "telegram"\n[channels.credentials]\ntoken = "1:A"\n'
    )
    from hde_core.services.authz import SYSTEM
    from hde_core.services.provision import provision

    provision(console_app, path, SYSTEM)
    at = run_page("pages/1_new_ticket.py", role="agent", lang="en")
    at.text_input(key="nt_to").input("+79123456789").run()
    assert at.checkbox(key="nt_send_email").disabled
    assert "never written to this channel" in at.warning[0].value
    assert at.button(key="nt_submit").disabled


def test_one_submission_makes_one_ticket_and_offers_a_new_form(console_app, tmp_path, smtp_sink):
    from sqlalchemy import func, select

    from hde_core.db.models import Ticket
    from hde_core.sandbox.smtp_sink import list_mail

    def tickets():
        with console_app.db.reader() as s:
            return s.scalar(select(func.count()).select_from(Ticket))

    provision_email(console_app, tmp_path, smtp_sink.url)
    at = run_page("pages/1_new_ticket.py", role="agent")
    at.text_input(key="nt_to").input("new.client@example.com").run()
    at.selectbox(key="nt_department").select("IT").run()
    fill(at, nt_subject="Ваш заказ", nt_body="Заказ готов", nt_field_order_id="77")
    at.button(key="nt_submit").click().run()
    assert not at.exception
    assert "Заявка №1 создана" in at.success[-1].value
    # the same button is not offered again: a fresh form is
    assert [b.key for b in at.button if b.key == "nt_submit"] == []
    assert at.button(key="nt_new").label == "Новое обращение"
    # the same submission again (a run interrupted before it showed its result, a retry)
    del at.session_state["nt_result"]
    at.run()
    at.button(key="nt_submit").click().run()
    assert "Заявка №1 создана" in at.success[-1].value
    assert tickets() == 1
    wait_for_mail(smtp_sink.directory, 1)
    assert len(list_mail(smtp_sink.directory)) == 1
    # "new ticket" clears the form and the trail; its submission is a second ticket
    at.button(key="nt_new").click().run()
    assert at.text_input(key="nt_subject").value == ""
    assert not at.dataframe
    at.text_input(key="nt_to").input("other@example.com").run()
    at.selectbox(key="nt_department").select("IT").run()
    fill(at, nt_subject="Второй", nt_body="Текст", nt_field_order_id="78")
    at.button(key="nt_submit").click().run()
    assert "Заявка №2 создана" in at.success[-1].value
    assert tickets() == 2


def test_the_channel_follows_a_telegram_only_client(console_app, tmp_path):
    """Issue 16.9: picking a client who is on Telegram only left the channel on email."""
    from sqlalchemy import select

    from hde_core.db.models import Channel
    from tests.console.seed import seed_console

    seed_console(console_app, tmp_path)
    with console_app.db.reader() as s:
        ids = {name: id_ for name, id_ in s.execute(select(Channel.name, Channel.id))}
    at = run_page("pages/1_new_ticket.py", role="agent")
    assert at.selectbox(key="nt_channel").value is not None
    at.text_input(key="nt_search").input("Смирнов").run()
    igor = at.radio(key="nt_contact").options[1]
    at.radio(key="nt_contact").set_value(igor).run()
    assert not at.exception
    assert at.selectbox(key="nt_channel").value == ids["telegram"]
    assert "Получатель: 555001" in at.success[0].value
    assert not at.button(key="nt_submit").disabled
    # back to a new address: the form starts over on the first channel again
    at.radio(key="nt_contact").set_value(at.radio(key="nt_contact").options[0]).run()
    at.text_input(key="nt_to").input("client@example.com").run()
    assert at.selectbox(key="nt_channel").value == ids["email"]
    assert "Получатель: client@example.com" in at.success[0].value


def test_the_provider_message_id_is_shown_as_code_not_a_link(console_app, tmp_path, smtp_sink):
    """Issue 16.9: an email's Message-ID (<…@company.com>) became a mailto link."""
    provision_email(console_app, tmp_path, smtp_sink.url)
    at = run_page("pages/1_new_ticket.py", role="agent")
    at.text_input(key="nt_to").input("new.client@example.com").run()
    at.selectbox(key="nt_department").select("IT").run()
    fill(at, nt_subject="Ваш заказ", nt_body="Заказ готов", nt_field_order_id="77")
    at.button(key="nt_submit").click().run()
    (mail,) = wait_for_mail(smtp_sink.directory, 1)
    said = [m.value for m in at.markdown if "идентификатор у провайдера" in m.value]
    assert said == [
        f"Сообщение №1 (письмо) отправлено (идентификатор у провайдера `{mail.message_id}`)."
    ]
