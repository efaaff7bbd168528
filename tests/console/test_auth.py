"""Sign-in, roles and the menu (SPEC §6, issue 7 §2)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from hde_core.console.nav import existing_pages
from hde_core.db.models import ConsoleSession
from hde_core.services.sessions import resume
from tests.console.conftest import PASSWORD, run_page


def sign_in(at: AppTest, login: str, password: str) -> AppTest:
    at.text_input(key="sign_in_login").input(login)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def test_nobody_signed_in_sees_only_the_form(console_app):
    at = run_page("app.py", role=None)
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Логин", "Пароль"]
    assert not at.metric  # nothing of the product shows


def test_sign_in_with_the_right_password(console_app):
    at = sign_in(run_page("app.py", role=None), "lead", PASSWORD)
    assert at.error  # no such login
    at = sign_in(run_page("app.py", role=None), "team_lead", PASSWORD)
    assert not at.exception and not at.error
    assert at.session_state["session_token"]  # a server-side session, not a dict of facts
    assert "Вы вошли как Team_Lead User (руководитель группы)" in [
        c.value for c in at.sidebar.caption
    ]


def test_wrong_password_then_pause(console_app):
    at = run_page("app.py", role=None)
    for _ in range(5):
        at = sign_in(at, "agent", "nope-nope")
    at = sign_in(at, "agent", PASSWORD)
    assert "приостановлен" in at.error[0].value
    assert "session_token" not in at.session_state


def test_session_expires_after_idle_time(console_app):
    at = run_page("app.py", role="agent")
    assert "Вы вошли как Agent User (агент)" in [c.value for c in at.sidebar.caption]
    old = datetime.now(UTC) - timedelta(hours=3)
    with console_app.db.transaction() as session:
        session.execute(update(ConsoleSession).values(last_seen_at=old))
    at.run()
    assert "Сеанс истёк" in at.info[0].value
    assert [t.label for t in at.text_input] == ["Логин", "Пароль"]


def test_sign_out(console_app):
    at = run_page("app.py", role="agent")
    token = at.session_state["session_token"]
    at.sidebar.button(key="sign_out").click().run()
    assert "session_token" not in at.session_state
    assert [t.label for t in at.text_input] == ["Логин", "Пароль"]
    assert resume(console_app, token).ended == "signed_out"  # the token is dead for good


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (
            "viewer",
            {
                "nav.overview",
                "nav.campaigns",
                "nav.tickets",
                "nav.channels",
                "nav.templates",
                "nav.windows",
                "nav.audit",
                "nav.account",
            },
        ),
        (
            "agent",
            {
                "nav.overview",
                "nav.new_ticket",
                "nav.bulk",
                "nav.campaigns",
                "nav.tickets",
                "nav.channels",
                "nav.templates",
                "nav.windows",
                "nav.audit",
                "nav.account",
            },
        ),
    ],
)
def test_menu_shows_what_the_role_may_use(console_app, role, visible):
    at = run_page("app.py", role=role, lang="en")
    from hde_core.i18n import t

    expected = [t(p.label_key, lang="en") for p in existing_pages() if p.label_key in visible]
    shown = [link.label for link in at.sidebar.get("page_link")]
    assert shown == expected


def test_viewer_cannot_open_new_ticket(console_app):
    at = run_page("pages/1_new_ticket.py", role="viewer")
    assert "Ваша роль не даёт доступа" in at.error[0].value
    assert not any(b.key == "nt_submit" for b in at.button)


def test_a_deactivated_user_is_signed_out_and_a_new_role_applies_at_once(console_app):
    from hde_core.services.users import set_active, set_role

    at = run_page("app.py", role="agent", lang="en")
    set_role(console_app, "agent", "viewer", "admin")
    at.run()
    assert "Signed in as Agent User (viewer)" in [c.value for c in at.sidebar.caption]
    set_active(console_app, "agent", False, "admin")
    at.run()
    assert "session_token" not in at.session_state
    assert [t.label for t in at.text_input] == ["Login", "Password"]
    assert "deactivated" in at.info[0].value


def test_a_fresh_install_says_how_to_create_the_first_administrator(
    sqlite_url, data_dir, monkeypatch
):
    import streamlit as st

    from hde_core.bootstrap import bootstrap
    from hde_core.services.authz import SYSTEM
    from hde_core.services.users import add_user
    from tests.conftest import TEST_SECRET, make_settings

    monkeypatch.setenv("HDE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HDE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("HDE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("HDE_LANG", raising=False)
    st.cache_resource.clear()
    at = run_page("app.py", role=None)
    assert not at.exception
    assert "hde user add admin --role admin" in at.info[0].value
    app = bootstrap(make_settings(sqlite_url, data_dir))
    try:
        add_user(app, "boss", "admin", PASSWORD, SYSTEM)
        at = run_page("app.py", role=None)
        assert not at.info  # once there is an administrator, the hint is gone
    finally:
        app.close()
        st.cache_resource.clear()


def test_my_password_page_changes_it_and_ends_the_other_sessions(console_app):
    other = run_page("app.py", role="agent")
    at = run_page("pages/9_account.py", role="agent")
    at.text_input(key="pw_current").input(PASSWORD)
    at.text_input(key="pw_new").input("new-secret-99")
    at.text_input(key="pw_again").input("new-secret-98")
    at.button[0].click().run()
    assert "не совпадают" in at.error[0].value
    at.text_input(key="pw_current").input("not-it-at-all")
    at.text_input(key="pw_new").input("new-secret-99")
    at.text_input(key="pw_again").input("new-secret-99")
    at.button[0].click().run()
    assert "Текущий пароль указан неверно" in at.error[0].value
    other.run()
    assert "Вы вошли как Agent User (агент)" in [c.value for c in other.sidebar.caption]

    at.text_input(key="pw_current").input(PASSWORD)
    at.text_input(key="pw_new").input("new-secret-99")
    at.text_input(key="pw_again").input("new-secret-99")
    at.button[0].click().run()
    assert at.success[0].value == "Пароль изменён. Другие ваши сеансы завершены: 1."
    other.run()
    assert "Пароль этой учётной записи изменён" in other.info[0].value
    at.run()  # the page that changed it stays signed in
    assert "Вы вошли как Agent User (агент)" in [c.value for c in at.sidebar.caption]
