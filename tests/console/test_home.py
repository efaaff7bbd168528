"""The console home page (Streamlit AppTest): the core is up, channels and sandbox mail shown."""

from hde_core.dispatch.immediate import initiate_ticket
from hde_core.services.tickets import TicketRequest
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
    assert at.title[0].value == "Обзор"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Заявок сегодня"] == "1" and metrics["Сообщений сегодня"] == "1"
    assert metrics["Требуют внимания"] == "0"
    rates = at.dataframe[0].value
    assert list(rates["Название"]) == ["email"] and list(rates["Передано"]) == [1]
    assert list(at.dataframe[1].value["Название"]) == ["email"]  # channel health
    assert list(at.dataframe[-1].value["Тема"]) == ["[#1] Тема письма"]  # sandbox mailbox
    assert "Внимания ничего не требует." in [s.value for s in at.success]


def test_home_in_english(console_app):
    at = run_page("app.py", role="viewer", lang="en")
    assert not at.exception
    assert [m.label for m in at.metric][:3] == [
        "Tickets today",
        "Tickets, 7 days",
        "Messages today",
    ]
    assert "No channels yet" in [i.value for i in at.info][-1]
