"""The console home page (Streamlit AppTest): the core is up, channels and sandbox mail shown."""

from hde_core.services.tickets import TicketRequest, initiate_ticket
from tests.console.conftest import run_page
from tests.services.helpers import provision_email


def test_home_shows_the_core_in_russian_by_default(console_app, tmp_path, smtp_sink):
    provision_email(console_app, tmp_path, smtp_sink.url)
    initiate_ticket(
        console_app,
        TicketRequest("email", "a@example.com", "Тема письма", "b", fields={"order_id": "1"}),
        "alice",
    )
    at = run_page("app.py", role="viewer")
    assert not at.exception
    assert at.title[0].value == "HDE Outreach"
    assert [m.label for m in at.metric] == ["Схема базы данных", "Заявки", "Сообщения"]
    assert at.metric[0].value == "Актуальна"
    assert at.metric[1].value == "1"
    assert list(at.dataframe[0].value["Название"]) == ["email"]
    assert list(at.dataframe[1].value["Тема"]) == ["[#1] Тема письма"]


def test_home_in_english(console_app):
    at = run_page("app.py", role="viewer", lang="en")
    assert not at.exception
    assert [m.label for m in at.metric] == ["Database schema", "Tickets", "Messages"]
    assert "No channels yet" in at.info[0].value
