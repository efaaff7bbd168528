"""In a real browser: a double click on "Создать и отправить" makes one ticket and sends
one email (issue 16.2); the form then offers a new ticket instead of the same button."""

import contextlib
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import func, select

from hde_core.db.models import Ticket
from hde_core.sandbox.smtp_sink import SmtpSink, list_mail, mail_dir, wait_for_mail
from tests.browser.conftest import settled, sign_in
from tests.services.helpers import provision_email

pytestmark = pytest.mark.browser


def test_double_click_creates_one_ticket_and_one_email(page, console, tmp_path):
    with SmtpSink(mail_dir(console.data_dir)) as sink:
        provision_email(console.app, tmp_path, sink.url)
        sign_in(page, console, "agent")
        page.get_by_role("link", name="Новая заявка").click()
        page.get_by_label("Почта или телефон").fill("client@example.com")
        page.get_by_label("Почта или телефон").press("Enter")
        page.get_by_text("Получатель: client@example.com").wait_for(timeout=20_000)
        page.get_by_label("Тема *").fill("Ваш заказ готов")
        page.get_by_label("Сообщение *").fill("Заказ можно забрать.")
        page.get_by_label("Order number *").fill("A-1")
        page.get_by_label("Order number *").press("Tab")
        settled(page)
        button = page.get_by_role("button", name="Создать и отправить")
        button.dblclick()
        page.get_by_text("Заявка №1 создана").wait_for(timeout=30_000)
        settled(page)
        # an impatient user clicks once more, if the button is still there
        with contextlib.suppress(PlaywrightTimeout):
            button.click(timeout=3_000)
        settled(page)
        wait_for_mail(sink.directory, 1)
        time.sleep(2)  # a second email, if any, would have arrived by now
        assert len(list_mail(sink.directory)) == 1
        with console.app.db.reader() as s:
            assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        page.get_by_role("button", name="Новое обращение").wait_for()
        assert page.get_by_role("button", name="Создать и отправить").count() == 0
    assert page.console_errors == []
