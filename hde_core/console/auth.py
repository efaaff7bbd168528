"""Sign-in for the console: argon2-checked passwords (services.users), session expiry,
a pause after repeated failures, sign-out. Roles gate every page and action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import streamlit as st

from hde_core.bootstrap import App
from hde_core.domain.roles import Permission, Role, can
from hde_core.services.users import active_role, authenticate, has_active_admin, paused_until

#: A session ends after this long without activity, and at the latest after SESSION_MAX.
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX = timedelta(hours=12)
_KEY = "auth"


@dataclass(frozen=True)
class ConsoleUser:
    login: str
    role: Role
    name: str

    def can(self, permission: Permission) -> bool:
        return can(self.role, permission)


def current_user(app: App) -> ConsoleUser | None:
    """The signed-in user, or None when nobody is signed in, the session expired, or the
    account was deactivated meanwhile. The role is read again on every page, so a change
    of role applies at once."""
    auth = st.session_state.get(_KEY)
    if not auth:
        return None
    now = app.clock.now()
    if now - auth["last_seen"] > SESSION_IDLE or now - auth["signed_in_at"] > SESSION_MAX:
        st.session_state.pop(_KEY, None)
        st.session_state["auth_expired"] = True
        return None
    role = active_role(app, auth["login"])
    if role is None:
        st.session_state.pop(_KEY, None)
        st.session_state["auth_expired"] = True
        return None
    auth["last_seen"] = now
    auth["role"] = role.value
    return ConsoleUser(auth["login"], role, auth["name"])


def sign_in_form(app, tr) -> None:  # type: ignore[no-untyped-def]
    """Render the sign-in form; on success store the session and rerun."""
    if st.session_state.pop("auth_expired", False):
        st.info(tr("auth.expired"))
    if not has_active_admin(app):
        st.info(tr("auth.first_run"))
    with st.form("sign_in"):
        st.subheader(tr("auth.title"))
        login = st.text_input(tr("auth.login"), key="sign_in_login")
        password = st.text_input(tr("auth.password"), type="password", key="sign_in_password")
        submitted = st.form_submit_button(tr("auth.submit"), type="primary")
    if not submitted:
        return
    client = _client()
    who = authenticate(app, login.strip(), password, client)
    if who is None:
        until = paused_until(app, login.strip(), client)
        if until is not None:
            st.error(tr("auth.paused", until=f"{until.astimezone():%H:%M}"))
        else:
            st.error(tr("auth.failed"))
        return
    now = app.clock.now()
    st.session_state[_KEY] = {
        "login": who.login,
        "role": who.role.value,
        "name": who.display_name,
        "signed_in_at": now,
        "last_seen": now,
    }
    st.rerun()


def _client() -> str:
    """Where this browser connects from (the sign-in throttle counts per client)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context (scripts)
        ip = None
    return ip if isinstance(ip, str) and ip else "local"  # not served over HTTP: one client


def sign_out() -> None:
    st.session_state.pop(_KEY, None)
