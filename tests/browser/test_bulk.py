"""In a real browser against ``hde demo`` (console, dispatcher, simulators, SMTP sink): a team
lead uploads a messy 1C export (Windows-1251, ``;``), maps the phone column, sends through
email with WhatsApp Business as the fallback, sees the reasons and the cost, launches,
watches the run complete and downloads the report and the results."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from hde_core.sandbox.smtp_sink import list_mail, mail_dir
from tests.browser.conftest import shot, sign_in
from tests.services.bulk_helpers import BODY, EXPECTED, LIST, PHONE, SUBJECT

pytestmark = pytest.mark.browser


def choose(page, label: str, *options: str) -> None:  # type: ignore[no-untyped-def]
    """Pick option(s) of a Streamlit select box / multiselect by its label."""
    page.get_by_label(label, exact=True).click()
    for option in options:
        page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def scroll_to(page, heading: str) -> None:  # type: ignore[no-untyped-def]
    """Bring a step's heading to the top (the console scrolls inside its main area)."""
    page.get_by_text(heading, exact=True).evaluate("e => e.scrollIntoView({block: 'start'})")


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the app has not been running for a moment (no rerun under the cursor)."""
    status = page.get_by_test_id("stStatusWidget")
    quiet_since = time.monotonic()
    deadline = quiet_since + 30
    while time.monotonic() < deadline:
        if status.count():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            return
        page.wait_for_timeout(100)


def download(page, button, first_column: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Click a download button (the core writes the file when asked) and read the CSV.
    A click that lands while the page reruns can lose its file: click again then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    text = ""
    for _ in range(3):
        settle(page)
        try:
            with page.expect_download(timeout=20_000) as info:
                button.click()
        except PlaywrightTimeout:
            continue
        text = info.value.path().read_text(encoding="utf-8-sig")
        if text.startswith(first_column):
            break
    assert text.startswith(first_column), f"no file downloaded: {text[:200]!r}"
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_team_lead_runs_a_bulk_outreach_from_a_1c_export(demo_page, demo_console):
    page = demo_page
    page.set_default_timeout(60_000)  # two cores shared with the demo's services
    sign_in(page, demo_console, "team_lead")
    page.get_by_role("link", name="Массовая рассылка").click()
    page.get_by_text("Файл со списком (CSV или XLSX)").wait_for(timeout=20_000)

    # 1-2. upload, and see how the file was read
    page.locator('input[type="file"]').set_input_files(str(LIST))
    page.get_by_text("кодировка Windows-1251 (кириллица), разделитель ;").wait_for(timeout=30_000)
    page.get_by_text("Остальные колонки").wait_for()
    settle(page)
    shot(page, "bulk-01-preview")

    # 3. the phone column has no telling header: map it by hand
    choose(page, "телефон", PHONE)
    page.get_by_text("подстановки в сообщение: Город, Комментарий.").wait_for()

    # 4-5. email first, WhatsApp Business for those without a usable address; the message
    choose(
        page,
        "Канал или несколько каналов по порядку",
        "email (Почта)",
        "whatsapp-business (WhatsApp Business)",
    )
    page.get_by_text("Порядок попыток: email → whatsapp-business.").wait_for()
    page.get_by_label("Тема *", exact=True).fill(SUBJECT)
    page.get_by_label("Тема *", exact=True).press("Enter")
    page.get_by_label("Сообщение *", exact=True).fill(BODY)
    page.get_by_label("Сообщение *", exact=True).press("Control+Enter")
    # the preview shows the client's text twice (the email and its summary): the first one
    page.get_by_text(
        "Здравствуйте, Анна Смирнова! Ваш заказ ждёт вас в городе Москва."
    ).first.wait_for(timeout=20_000)
    settle(page)
    scroll_to(page, "3. Колонки")
    shot(page, "bulk-02-columns-channels-message")

    # 6. check: counts per reason in plain words
    page.get_by_role("button", name="Проверить список").click()
    page.get_by_text("Не будет отправлено, и почему").wait_for(timeout=60_000)
    for words in (
        "Этот получатель уже есть выше в списке.",
        "Неверный адрес почты.",
        "Нет адреса почты.",
        "Не заполнено обязательное поле: Город.",
        "через канал whatsapp-business",
    ):
        page.get_by_text(words).first.wait_for()
    assert (
        page.get_by_test_id("stMetric")
        .filter(has_text="Можно отправить")
        .inner_text()
        .endswith("5")
    )
    settle(page)
    scroll_to(page, "6. Проверка списка")
    shot(page, "bulk-03-check")

    report = download(page, page.get_by_role("button", name="Скачать CSV").first, "Строка;ФИО")
    assert [r["Код"] for r in report] == [e.split(":")[0] for e in EXPECTED]
    assert report[1]["Получатель"] == "+79161234567"  # a bare phone cannot be a formula: kept exact
    assert report[1]["Канал"] == "whatsapp-business"
    assert report[8]["ФИО"] == '\'=HYPERLINK("http://evil.example")'  # Excel will not run it
    assert report[4]["Комментарий"] == "дубль,\nвторая строка комментария"

    # 7. cost: two WhatsApp templates to Russian numbers at the demo's utility price
    cost = page.get_by_test_id("stMetric").filter(has_text="Оценка стоимости")
    assert cost.inner_text().endswith("0.08 USD")
    scroll_to(page, "7. Стоимость")
    shot(page, "bulk-04-cost-confirm")

    # 8. confirm and launch; 9. watch it complete
    page.get_by_text(re.compile("Я проверил\\(а\\) отчёт: отправить 5 клиентам")).click()
    page.get_by_role("button", name="Запустить рассылку").click()
    # everything sendable went out; two WhatsApp messages wait for the clients' replies
    page.get_by_text("Отправлено 5 из 7 · ждут ответа клиента: 2").wait_for(timeout=90_000)
    settle(page)
    scroll_to(page, "9. Ход рассылки")
    shot(page, "bulk-05-progress-done")

    results = download(page, page.get_by_role("button", name="Скачать CSV").last, "Строка;Обращ")
    by_row = sorted((r["Строка"], r["Вид"], r["Канал"]) for r in results)
    assert by_row == [
        ("1", "письмо", "email"),
        ("2", "сообщение", "whatsapp-business"),
        ("2", "шаблон", "whatsapp-business"),
        ("3", "сообщение", "whatsapp-business"),
        ("3", "шаблон", "whatsapp-business"),
        ("6", "письмо", "email"),
        ("9", "письмо", "email"),
    ]
    statuses = {(r["Строка"], r["Вид"]): r["Статус"] for r in results}
    assert statuses[("2", "сообщение")] == "ждёт ответа"  # until the client replies (R12)
    assert statuses[("2", "шаблон")] in ("отправлено", "доставлено", "прочитано")
    assert statuses[("1", "письмо")] == "отправлено"
    mails = list_mail(mail_dir(demo_console.data_dir))
    assert sorted(m.to_header for m in mails) == [
        "anna.smirnova@example.ru",
        "ivan@example.ru",
        "petr.sidorov@example.ru",
    ]
    assert page.console_errors == []
