"""In a real browser: sign in, write a ticket to a new address, see it sent and its trail."""

import pytest

from hde_core.sandbox.smtp_sink import SmtpSink, mail_dir, wait_for_mail
from tests.browser.conftest import shot, sign_in
from tests.services.helpers import provision_email

pytestmark = pytest.mark.browser


def test_wrong_password_is_explained(page, console):
    page.goto(console.url)
    page.get_by_label("Логин").fill("agent")
    page.get_by_label("Пароль").fill("wrong-password")
    page.get_by_role("button", name="Войти").click()
    page.get_by_text("Неверный логин или пароль").wait_for(timeout=20_000)
    shot(page, "01-sign-in-refused")


def test_agent_creates_an_email_ticket(page, console, tmp_path):
    with SmtpSink(mail_dir(console.data_dir)) as sink:
        provision_email(console.app, tmp_path, sink.url)
        sign_in(page, console, "agent")
        shot(page, "02-overview")
        page.get_by_role("link", name="Новая заявка").click()
        page.get_by_label("Почта или телефон").fill("client@example.com")
        page.get_by_label("Почта или телефон").press("Enter")
        page.get_by_text("Получатель: client@example.com").wait_for(timeout=20_000)
        page.get_by_label("Тема *").fill("Ваш заказ готов")
        page.get_by_label("Сообщение *").fill("Здравствуйте! Заказ можно забрать.")
        page.get_by_label("Order number *").fill("A-1")
        page.get_by_label("Order number *").press("Tab")
        shot(page, "03-new-ticket")
        page.get_by_role("button", name="Создать и отправить").click()
        page.get_by_text("Заявка №1 создана").wait_for(timeout=30_000)
        page.get_by_text("Журнал заявки №1").wait_for()
        trail = page.locator('[data-testid="stDataFrame"]').last
        trail.wait_for()
        trail.scroll_into_view_if_needed()  # the audit trail of the new ticket, in the picture
        shot(page, "04-ticket-sent")
        (mail,) = wait_for_mail(sink.directory, 1)
        assert mail.subject == "[#1] Ваш заказ готов"
    assert page.console_errors == []
