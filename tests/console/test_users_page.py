"""Users (admin): add, change role, deactivate — and the last admin stays an admin."""

from hde_core.services.users import authenticate
from tests.console.conftest import PASSWORD, run_page

PAGE = "pages/8_users.py"


def test_admin_adds_a_user_who_can_then_sign_in(console_app):
    at = run_page(PAGE, role="admin", lang="en")
    at.text_input(key="us_new_login").input("olga")
    at.text_input(key="us_new_name").input("Ольга")
    at.selectbox(key="us_new_role").select("team_lead")
    at.text_input(key="us_new_password").input("short")
    at.button(key="us_add").click().run()
    assert at.error[0].value == "The password is too short: use at least 8 characters."
    assert at.text_input(key="us_new_password").value == ""  # never kept in the form
    at.text_input(key="us_new_password").input("long-enough-42")
    at.button(key="us_add").click().run()
    assert not at.exception
    assert at.success[0].value == "User olga added."
    users = at.dataframe[0].value.set_index("Login")
    assert users.loc["olga", "Role"] == "team lead" and users.loc["olga", "Name"] == "Ольга"
    assert authenticate(console_app, "olga", "long-enough-42").role.value == "team_lead"


def test_change_role_and_deactivate(console_app):
    at = run_page(PAGE, role="admin", lang="en")
    at.selectbox(key="us_pick").select("agent").run()
    at.selectbox(key="us_role_agent").select("viewer").run()
    at.button(key="us_save_role").click().run()
    assert at.success[0].value == "agent now has the new role."
    at.button(key="us_toggle_active").click().run()
    assert "agent can no longer sign in" in at.success[0].value
    assert authenticate(console_app, "agent", PASSWORD) is None
    assert at.dataframe[0].value.set_index("Login").loc["agent", "Active"] == "deactivated"
    at.button(key="us_toggle_active").click().run()
    assert authenticate(console_app, "agent", PASSWORD).role.value == "viewer"


def test_the_last_admin_and_oneself_are_protected(console_app):
    at = run_page(PAGE, role="admin", lang="en")
    at.selectbox(key="us_pick").select("admin").run()
    at.button(key="us_toggle_active").click().run()
    assert at.error[0].value == "You cannot deactivate yourself: ask another admin."
    at.selectbox(key="us_role_admin").select("agent").run()
    at.button(key="us_save_role").click().run()
    assert "admin is the last active admin" in at.error[0].value
    assert authenticate(console_app, "admin", PASSWORD).role.value == "admin"


def test_admin_resets_a_lost_password(console_app):
    """Issue 16.9: admins could not reset a user's password."""
    from sqlalchemy import select

    from hde_core.db.models import AuditEvent

    at = run_page(PAGE, role="admin")
    at.selectbox(key="us_pick").select("agent").run()
    at.text_input(key="us_reset_password_agent").input("short")
    at.button(key="us_reset").click().run()
    assert at.error[0].value.startswith("Пароль слишком короткий")
    assert at.text_input(key="us_reset_password_agent").value == ""  # never kept in the form
    assert authenticate(console_app, "agent", PASSWORD) is not None  # nothing changed
    at.text_input(key="us_reset_password_agent").input("brand-new-pass-7")
    at.button(key="us_reset").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Пароль agent изменён.")
    assert authenticate(console_app, "agent", PASSWORD) is None
    assert authenticate(console_app, "agent", "brand-new-pass-7").role.value == "agent"
    with console_app.db.reader() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.event == "user_password_reset")).one()
    assert (event.actor, event.data) == ("admin", {"login": "agent"})


def test_only_an_admin_resets_passwords_below_the_console(console_app):
    import pytest

    from hde_core.services.authz import NotAllowed
    from hde_core.services.users import reset_password

    with pytest.raises(NotAllowed):
        reset_password(console_app, "agent", "brand-new-pass-7", "team_lead")
    assert authenticate(console_app, "agent", PASSWORD) is not None
