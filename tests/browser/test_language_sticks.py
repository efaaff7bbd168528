"""In a real browser: English, once picked, survives a menu click and the next sign-in
(issue 16.7)."""

import pytest

from tests.browser.conftest import settled, sign_in

pytestmark = pytest.mark.browser


def test_english_survives_navigation(page, console):
    sign_in(page, console, "agent")
    page.locator("[data-testid='stSelectbox']").filter(has_text="Язык / Language").first.click()
    page.get_by_role("option", name="English").click()
    page.get_by_role("link", name="Campaigns").wait_for(timeout=20_000)
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("heading", name="Campaigns").wait_for(timeout=20_000)
    settled(page)
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("heading", name="Overview").wait_for(timeout=20_000)
    settled(page)
    assert page.get_by_role("link", name="Кампании").count() == 0
