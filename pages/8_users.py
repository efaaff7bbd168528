"""Users (admins): who can sign in, with which role; add, change role, deactivate, set a new
password for a user who lost theirs."""

from __future__ import annotations

import streamlit as st

from hde_core.console import current_lang, formatter, get_app, page, tr
from hde_core.console.notices import flash, flash_error, show
from hde_core.domain.roles import Permission, Role
from hde_core.errors import HdeError
from hde_core.services.users import (
    create_user,
    list_users,
    reset_password,
    set_active,
    set_role,
)

user = page("nav.users", Permission.MANAGE_USERS)
app = get_app()
lang = current_lang()
ROLES = [r.value for r in Role]


users = list_users(app)
st.dataframe(
    [
        {
            tr("users_page.col.login"): u.login,
            tr("users_page.col.name"): u.display_name,
            tr("users_page.col.role"): tr(f"role.{u.role.value}"),
            tr("users_page.col.active"): "✓" if u.is_active else tr("users_page.inactive"),
            tr("users_page.col.last_login"): f"{u.last_login_at.astimezone():%Y-%m-%d %H:%M}"
            if u.last_login_at
            else "—",
        }
        for u in users
    ],
    hide_index=True,
    key="us_table",
)
show("us")

# -- change a user ---------------------------------------------------------------------------------------
st.subheader(tr("users_page.change_title"))
logins = [u.login for u in users]
login = st.selectbox(tr("users_page.col.login"), logins, key="us_pick")
chosen = next(u for u in users if u.login == login)
st.selectbox(
    tr("users_page.col.role"),
    ROLES,
    index=ROLES.index(chosen.role.value),
    format_func=formatter("role"),
    key=f"us_role_{login}",
)


def _role(login: str = login) -> None:
    try:
        changed = set_role(app, login, st.session_state[f"us_role_{login}"], user.login)
    except HdeError as exc:
        flash_error("us", exc, lang)
    else:
        flash(
            "us",
            "success" if changed else "info",
            tr("users_page.role_saved" if changed else "users_page.unchanged", login=login),
        )


def _active(login: str = login, active: bool = not chosen.is_active) -> None:
    try:
        set_active(app, login, active, user.login)
    except HdeError as exc:
        flash_error("us", exc, lang)
    else:
        flash(
            "us",
            "success",
            tr("users_page.activated" if active else "users_page.deactivated", login=login),
        )


c1, c2 = st.columns([1, 3])
c1.button(tr("users_page.save_role"), key="us_save_role", on_click=_role)
c2.button(
    tr("users_page.reactivate") if not chosen.is_active else tr("users_page.deactivate"),
    key="us_toggle_active",
    on_click=_active,
)

# -- a new password for a user who lost theirs ------------------------------------------------------------
st.markdown("#### " + tr("users_page.reset.title"))
st.text_input(
    tr("users_page.reset.password", login=login),
    type="password",
    key=f"us_reset_password_{login}",
    help=tr("users_page.reset.help"),
)


def _reset(login: str = login) -> None:
    state = st.session_state
    password = state.get(f"us_reset_password_{login}", "")
    state[f"us_reset_password_{login}"] = ""  # the typed password leaves the form at once
    try:
        reset_password(app, login, password, user.login)
    except HdeError as exc:
        flash_error("us", exc, lang)
    else:
        flash("us", "success", tr("users_page.reset.done", login=login))


st.button(tr("users_page.reset.button"), key="us_reset", on_click=_reset)

# -- add a user --------------------------------------------------------------------------------------------
st.subheader(tr("users_page.add_title"))
a1, a2 = st.columns(2)
a1.text_input(tr("users_page.col.login"), key="us_new_login")
a2.text_input(tr("users_page.col.name"), key="us_new_name")
a1.selectbox(
    tr("users_page.col.role"),
    ROLES,
    index=ROLES.index("agent"),
    format_func=formatter("role"),
    key="us_new_role",
)
a2.text_input(
    tr("users_page.password"),
    type="password",
    key="us_new_password",
    help=tr("users_page.password_help"),
)


def _add() -> None:
    state = st.session_state
    login = state.get("us_new_login", "").strip()
    try:
        create_user(
            app,
            login,
            state.get("us_new_role", "agent"),
            state.get("us_new_password", ""),
            user.login,
            display_name=state.get("us_new_name", ""),
        )
    except HdeError as exc:
        flash_error("us", exc, lang)
    else:
        flash("us", "success", tr("users_page.added", login=login))
        for key in ("us_new_login", "us_new_name", "us_new_password"):
            state[key] = ""
    state["us_new_password"] = ""


st.button(tr("users_page.add"), key="us_add", type="primary", on_click=_add)
