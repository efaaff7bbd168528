"""The interface language sticks (issue 16.7): chosen once, it survives a page switch, and
it is kept in the core per user, so a new session of the same user opens in it."""

from hde_core.services.preferences import preferred_lang
from tests.console.conftest import run_page


def test_english_survives_navigation_and_a_new_session(console_app):
    at = run_page("app.py", role="agent")
    assert at.title[0].value == "Обзор"
    at.sidebar.selectbox(key="lang_select").select("en").run()
    assert at.title[0].value == "Overview"
    at.switch_page("pages/3_campaigns.py").run()
    assert not at.exception
    assert at.title[0].value == "Campaigns"
    at.switch_page("app.py").run()
    assert at.title[0].value == "Overview"
    assert preferred_lang(console_app, "agent") == "en"
    # another session (another tab, the next sign-in) of the same user
    again = run_page("pages/3_campaigns.py", role="agent")
    assert again.title[0].value == "Campaigns"
    # another user keeps their own language
    other = run_page("app.py", role="viewer")
    assert other.title[0].value == "Обзор"
