"""In a real browser: a placeholder typed as a person writes a column name is explained
in plain words with its fix, and no traceback is shown (issue 16.4)."""

import pytest

from hde_core.sandbox.smtp_sink import SmtpSink, mail_dir
from tests.browser.conftest import settled, sign_in
from tests.services.helpers import provision_email

pytestmark = pytest.mark.browser


def test_bad_placeholder_is_explained_without_a_traceback(page, console, tmp_path):
    with SmtpSink(mail_dir(console.data_dir)) as sink:
        provision_email(console.app, tmp_path, sink.url)
        sign_in(page, console, "agent")
        page.get_by_role("link", name="Новая заявка").click()
        page.get_by_label("Почта или телефон").fill("client@example.com")
        page.get_by_label("Почта или телефон").press("Enter")
        page.get_by_text("Получатель: client@example.com").wait_for(timeout=20_000)
        page.get_by_label("Тема *").fill("Ваш заказ")
        page.get_by_label("Сообщение *").fill("Заказ {{ Номер заказа }} готов.")
        page.get_by_label("Order number *").fill("A-1")
        page.get_by_label("Order number *").press("Tab")
        settled(page)
        page.get_by_role("button", name="Создать и отправить").click()
        page.get_by_text('Напишите так: {{ row["Номер заказа"] }}').wait_for(timeout=20_000)
        settled(page)
        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in page.content()
