"""In a real browser (issue 16.1): the bulk wizard is a draft kept per user. A team lead
uploads a list, maps a column, picks a channel and writes the message; another page and
back, the browser's Back, F5 (a new session: signed in again if the session does not
survive it) — everything is still there; "Начать заново" empties the wizard."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_bulk import choose, settle
from tests.services.bulk_helpers import BODY, LIST, PHONE, SUBJECT, setup_bulk

pytestmark = pytest.mark.browser

KEPT_FILE = "Список из вашего черновика: clients_1c_cp1251.csv, строк — 10."
FIRST_CLIENT = "Здравствуйте, Анна Смирнова! Ваш заказ ждёт вас в городе Москва."


def open_wizard(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name="Массовая рассылка").click()
    page.get_by_text("Файл со списком (CSV или XLSX)").wait_for(timeout=30_000)
    settle(page)


def assert_all_there(page) -> None:  # type: ignore[no-untyped-def]
    """What the user filled in is on the page again, as they left it."""
    page.get_by_text(KEPT_FILE).wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_label("телефон", exact=True).input_value() == PHONE
    channels = page.locator("[data-testid='stMultiSelect']").first
    assert "email (Почта)" in channels.inner_text()
    assert page.get_by_label("Тема *", exact=True).input_value() == SUBJECT
    assert page.get_by_label("Сообщение *", exact=True).input_value() == BODY
    page.get_by_text(FIRST_CLIENT).first.wait_for()


def test_the_wizard_survives_another_page_back_and_f5_until_discarded(
    page, console, tmp_path, smtp_sink
):
    setup_bulk(console.app, tmp_path, smtp_sink.url)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.set_default_timeout(30_000)
    sign_in(page, console, "team_lead")
    open_wizard(page)

    page.locator('input[type="file"]').set_input_files(str(LIST))
    page.get_by_text("кодировка Windows-1251 (кириллица), разделитель ;").wait_for(timeout=30_000)
    settle(page)
    choose(page, "телефон", PHONE)
    settle(page)
    choose(page, "Канал или несколько каналов по порядку", "email (Почта)")
    settle(page)
    page.get_by_label("Тема *", exact=True).fill(SUBJECT)
    page.get_by_label("Тема *", exact=True).press("Enter")
    settle(page)
    page.get_by_label("Сообщение *", exact=True).fill(BODY)
    page.get_by_label("Сообщение *", exact=True).press("Control+Enter")
    page.get_by_text(FIRST_CLIENT).first.wait_for()
    settle(page)

    # another page, then back through the menu
    page.get_by_role("link", name="Рассылки").click()
    page.get_by_role("heading", name="Рассылки").wait_for()
    settle(page)
    open_wizard(page)
    assert_all_there(page)

    # the browser's Back button (from the other page back to the wizard)
    page.get_by_role("link", name="Рассылки").click()
    page.get_by_role("heading", name="Рассылки").wait_for()
    settle(page)
    page.go_back()
    page.get_by_text("Файл со списком (CSV или XLSX)").wait_for()
    assert_all_there(page)

    # F5: a new session of the page
    page.reload()
    page.get_by_text("Файл со списком (CSV или XLSX)").or_(page.get_by_label("Логин")).wait_for()
    if page.get_by_label("Логин").count():
        sign_in(page, console, "team_lead")
        open_wizard(page)
    assert_all_there(page)

    # start over: asked first, then the wizard is empty — and stays empty after F5
    page.get_by_role("button", name="Начать заново").click()
    page.get_by_text("Удалить черновик рассылки").wait_for()
    page.get_by_role("button", name="Да, начать заново").click()
    page.get_by_role("button", name="Начать заново").wait_for(state="detached")
    settle(page)
    assert page.get_by_text(KEPT_FILE).count() == 0
    assert page.get_by_label("Тема *", exact=True).count() == 0
    page.reload()
    page.get_by_text("Файл со списком (CSV или XLSX)").or_(page.get_by_label("Логин")).wait_for()
    if page.get_by_label("Логин").count():
        sign_in(page, console, "team_lead")
        open_wizard(page)
    settle(page)
    assert page.get_by_text(KEPT_FILE).count() == 0
    assert page.get_by_label("Тема *", exact=True).count() == 0
    # a page reloaded at /bulk makes Streamlit's client probe /bulk/_stcore/… first (404),
    # then the root: its own, harmless; any other failed load or error is ours
    probes = [u for u in failed if "/bulk/_stcore/" in u]
    assert [u for u in failed if u not in probes] == []
    not_found = [e for e in page.console_errors if "404 (Not Found)" in e]
    assert [e for e in page.console_errors if e not in not_found] == []
    assert len(not_found) <= len(probes)
