"""In a real browser: the overview, a campaign's plotly charts, the window countdown and a
channel saved with its connection status — each page without a console error."""

import re

import pytest

from hde_core.sandbox.sim_telegram import TelegramSimulator
from tests.browser.conftest import shot, sign_in
from tests.channels.messengers import running
from tests.console.seed import seed_console

pytestmark = pytest.mark.browser

TIMEOUT = 30_000


def open_page(page, link: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name=link).click()
    page.get_by_role("heading", name=link).first.wait_for(timeout=TIMEOUT)


def settled(page, last: str) -> None:  # type: ignore[no-untyped-def]
    """The script run is over: its last element is shown, no "running" indicator and no stale
    element is left on the page."""
    page.get_by_text(last).first.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=TIMEOUT,
    )


def plotly_rendered(page, count: int) -> None:  # type: ignore[no-untyped-def]
    """plotly.js drew ``count`` charts (its SVG, not just the placeholder)."""
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}",
        timeout=TIMEOUT,
    )


def test_overview_campaign_charts_and_window_countdown(page, console, tmp_path):
    seed_console(console.app, tmp_path)
    sign_in(page, console, "team_lead")
    page.get_by_text("Сообщения с неизвестной судьбой").wait_for(timeout=TIMEOUT)
    page.get_by_text("Отправить выбранные ещё раз").wait_for(timeout=TIMEOUT)
    plotly_rendered(page, 1)
    settled(page, "База данных:")
    shot(page, "10-overview")

    open_page(page, "Рассылки")
    page.get_by_role("heading", name="Black Friday").wait_for(timeout=TIMEOUT)
    plotly_rendered(page, 4)
    funnel = page.locator(".js-plotly-plot").first
    assert "wa-business" in funnel.inner_text()
    page.get_by_text("Получатели", exact=True).scroll_into_view_if_needed()
    page.get_by_text("До клиента здесь не дойти").first.wait_for(state="attached", timeout=TIMEOUT)
    settled(page, "Подготовить выгрузку")
    shot(page, "11-campaign")

    open_page(page, "24-часовые окна")
    page.get_by_text("Открытые окна, ближайшие к закрытию — первыми").wait_for(timeout=TIMEOUT)
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=TIMEOUT)
    body = page.locator("[data-testid='stMain']").inner_text()
    assert re.search(r"0 ч \d\d мин — Анна Петрова", body), body
    assert "Закроются в течение 2 ч" in body
    settled(page, "Подготовить отложенные сообщения (CSV)")
    shot(page, "12-windows")
    assert page.console_errors == []


def test_admin_saves_a_channel_and_sees_it_connected(page, console, tmp_path):
    seed_console(console.app, tmp_path)
    with running(TelegramSimulator()) as sim:
        sign_in(page, console, "admin")
        open_page(page, "Каналы и настройки")
        page.locator("[data-testid='stSelectbox']").filter(has_text="Тип").first.click()
        page.get_by_role("option", name="Telegram").click()
        page.get_by_role("textbox", name="Токен бота").wait_for(timeout=TIMEOUT)
        page.get_by_role("textbox", name="Название канала").fill("support-bot")
        page.get_by_role("textbox", name="Адрес API провайдера").fill(sim)
        page.get_by_role("textbox", name="Токен бота").fill("777000:AAH-browser-test-token-9f8e")
        page.get_by_role("textbox", name="Секрет вебхука").fill("browser-secret")
        page.get_by_role("button", name="Сохранить").first.click()
        page.get_by_text("Канал support-bot создан.").wait_for(timeout=TIMEOUT)
        page.get_by_text("Подключён (проверено").wait_for(timeout=TIMEOUT)
        text = page.locator("[data-testid='stMain']").inner_text()
        assert "AAH-browser-test-token" not in text
        settled(page, "Песочница (симулятор)")
        shot(page, "13-channel-saved")

        open_page(page, "Шаблоны")
        page.get_by_text("Hi Анна, our sale starts 1024.").wait_for(timeout=TIMEOUT)
        page.get_by_text("Шаблон на проверке").wait_for(timeout=TIMEOUT)
        settled(page, "Шаблон на проверке")
        shot(page, "14-templates")
    assert page.console_errors == []
