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


def test_the_sandbox_mailbox_lists_what_it_says_and_opens_a_mail(console_app, tmp_path, smtp_sink):
    """Issue 16.9: the heading said "last 10" over 20 mails, and no mail could be read."""
    from hde_core.console.sandbox_mail import SHOWN
    from hde_core.sandbox.smtp_sink import wait_for_mail

    provision_email(console_app, tmp_path, smtp_sink.url)
    for n in range(SHOWN + 2):
        initiate_ticket(
            console_app,
            TicketRequest(
                "email",
                f"c{n}@example.com",
                f"Тема {n}",
                f"Текст письма {n}",
                fields={"order_id": "1"},
            ),
            "alice",
        )
    wait_for_mail(smtp_sink.directory, SHOWN + 2)
    at = run_page("app.py", role="viewer")
    assert not at.exception
    box = next(e for e in at.expander if e.label.startswith("Почта песочницы"))
    assert box.label == f"Почта песочницы (последние {SHOWN})"
    assert len(at.dataframe[-1].value) == SHOWN
    picker = at.selectbox(key="home_mail_open")
    newest = picker.options[0]
    assert "c11@example.com" in newest and "Тема 11" in newest
    at = picker.select_index(0).run()
    shown = [t.value for t in at.text]
    assert any("Кому: c11@example.com" in t for t in shown)
    assert any("Текст письма 11" in t for t in shown)
