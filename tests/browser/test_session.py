"""In a real browser: a sign-in survives F5 and a new tab, and ends on sign-out, a password
change, deactivation and expiry (issue 16.1). The session cookie is HttpOnly and SameSite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from hde_core.db.models import ConsoleSession
from hde_core.services.users import reset_password, set_active
from tests.browser.conftest import PASSWORD, settled

pytestmark = pytest.mark.browser

SIGNED_IN = "Вы вошли как"


def _sign_in_here(page, login: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Fill the sign-in form of the page that is open (whatever page it is)."""
    page.get_by_label("Логин").fill(login)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Войти").click()
    page.get_by_text(SIGNED_IN).wait_for(timeout=30_000)
    settled(page)


def _sign_in_form_shown(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Войти").wait_for(timeout=30_000)
    settled(page)
    assert page.get_by_text(SIGNED_IN).count() == 0


def _session_cookie(context):  # type: ignore[no-untyped-def]
    [cookie] = [c for c in context.cookies() if c["name"] == "hde_session"]
    return cookie


def test_refresh_and_a_new_tab_stay_signed_in_until_sign_out(page, console, browser):
    page.goto(f"{console.url}/windows")
    _sign_in_here(page, "agent")
    assert page.url.endswith("/windows")  # back on the page where the user signed in
    page.get_by_role("heading", name="24-часовые окна").wait_for(timeout=20_000)

    cookie = _session_cookie(page.context)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"

    page.reload()  # F5
    page.get_by_text(SIGNED_IN).wait_for(timeout=30_000)
    page.get_by_role("heading", name="24-часовые окна").wait_for(timeout=20_000)
    assert page.get_by_label("Логин").count() == 0

    tab = page.context.new_page()
    tab.goto(console.url)
    tab.get_by_text(SIGNED_IN).wait_for(timeout=30_000)
    tab.close()

    page.get_by_role("button", name="Выйти").click()
    _sign_in_form_shown(page)
    page.reload()
    _sign_in_form_shown(page)  # F5 after signing out: still signed out

    # The old cookie value, replayed from elsewhere, is refused.
    thief = browser.new_context(locale="ru-RU")
    try:
        thief.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
        other = thief.new_page()
        other.goto(console.url)
        _sign_in_form_shown(other)
    finally:
        thief.close()


def test_a_password_change_ends_the_other_session_at_its_next_action(page, console, browser):
    page.goto(console.url)
    _sign_in_here(page, "agent")
    laptop = browser.new_context(locale="ru-RU", viewport={"width": 1400, "height": 1800})
    try:
        other = laptop.new_page()
        other.goto(console.url)
        _sign_in_here(other, "agent")

        page.get_by_role("link", name="Мой пароль").click()
        page.get_by_label("Текущий пароль").fill(PASSWORD)
        page.get_by_label("Новый пароль", exact=True).fill("a-brand-new-pass-7")
        page.get_by_label("Новый пароль ещё раз").fill("a-brand-new-pass-7")
        page.get_by_role("button", name="Сохранить новый пароль").click()
        page.get_by_text("Пароль изменён").wait_for(timeout=30_000)

        other.get_by_role("link", name="Рассылки").click()  # its next action
        _sign_in_form_shown(other)
        other.get_by_text("Пароль этой учётной записи изменён").wait_for(timeout=10_000)

        page.reload()  # the tab that changed it stays signed in
        page.get_by_text(SIGNED_IN).wait_for(timeout=30_000)
        _sign_in_here(other, "agent", "a-brand-new-pass-7")
    finally:
        laptop.close()


def test_an_admin_deactivating_the_user_ends_the_session(page, console):
    page.goto(console.url)
    _sign_in_here(page, "agent")
    set_active(console.app, "agent", False, "admin")
    page.get_by_role("link", name="Рассылки").click()
    _sign_in_form_shown(page)
    page.get_by_text("Учётная запись отключена").wait_for(timeout=10_000)


def test_an_admin_resetting_the_password_ends_the_session_at_its_next_action(page, console):
    page.goto(console.url)
    _sign_in_here(page, "agent")
    reset_password(console.app, "agent", "given-by-admin-1", "admin")
    page.get_by_role("link", name="Рассылки").click()
    _sign_in_form_shown(page)
    page.get_by_text("Пароль этой учётной записи изменён").wait_for(timeout=10_000)
    _sign_in_here(page, "agent", "given-by-admin-1")


def test_an_expired_session_shows_the_sign_in_form_with_a_plain_message(page, console):
    page.goto(console.url)
    _sign_in_here(page, "agent")
    idle = datetime.now(UTC) - timedelta(hours=3)
    with console.app.db.transaction() as session:  # type: ignore[attr-defined]
        session.execute(update(ConsoleSession).values(last_seen_at=idle))
    page.reload()
    _sign_in_form_shown(page)
    page.get_by_text("Сеанс истёк").wait_for(timeout=10_000)
