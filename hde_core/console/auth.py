"""Sign-in for the console: argon2-checked passwords (services.users), a pause after
repeated failures, a server-side session (services.sessions) that survives a refresh and a
new tab, sign-out. Roles gate every page and action.

Who is signed in is found, on every page run, from the session token: the one this
Streamlit session got when it signed in (``st.session_state``: also how AppTest, which has
no cookies, stays signed in), else the ``hde_session`` cookie the browser sent. Every run
asks the core, so a session ended elsewhere (sign-out, password change, deactivation) or
expired ends here at the next click.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import streamlit as st

from hde_core.bootstrap import App
from hde_core.console.routes import SESSION_PATH, SIGNOUT_PATH, served
from hde_core.domain.roles import Permission, Role, can
from hde_core.errors import HdeError
from hde_core.services import sessions
from hde_core.services.users import (
    authenticate,
    change_password,
    has_active_admin,
    paused_until,
)

_TOKEN = "session_token"
_ENDED = "auth_ended"
#: Why a session ended → what the sign-in form says (signing out says nothing).
_ENDED_MESSAGES = {
    sessions.Ended.EXPIRED: "session.expired",
    sessions.Ended.PASSWORD_CHANGED: "session.ended_password",
    sessions.Ended.DEACTIVATED: "session.ended_deactivated",
}


@dataclass(frozen=True)
class ConsoleUser:
    login: str
    role: Role
    name: str

    def can(self, permission: Permission) -> bool:
        return can(self.role, permission)


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # noqa: BLE001 - no browser (AppTest, scripts)
        return None
    return value if isinstance(value, str) and value else None


def session_token() -> str | None:
    """The token of the session this page runs under (for a password change to keep it)."""
    return st.session_state.get(_TOKEN) or _cookie_token()


def current_user(app: App) -> ConsoleUser | None:
    """The signed-in user, or None (with the reason kept for the sign-in form) when nobody
    is signed in, the session ended or expired, or the account was deactivated. The role
    is read again on every run, so a change of role applies at once."""
    ended: sessions.Ended | None = None
    for source, token in (("state", st.session_state.get(_TOKEN)), ("cookie", _cookie_token())):
        if not token:
            continue
        found = sessions.resume(app, token)
        if found.user is not None:
            who = found.user
            return ConsoleUser(who.login, who.role, who.display_name)
        if source == "state":
            st.session_state.pop(_TOKEN, None)
        ended = ended or found.ended
    if ended in _ENDED_MESSAGES:
        st.session_state[_ENDED] = ended
    return None


def _user_agent() -> str:
    try:
        return str(st.context.headers.get("User-Agent") or "")
    except Exception:  # noqa: BLE001 - no browser
        return ""


def _here() -> str:
    """The page's path on this server, to come back to after the cookie is set."""
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - no browser
        return "/"
    path = urlsplit(url).path if isinstance(url, str) and url else "/"
    return path or "/"


def _go(url: str) -> None:
    """Send the browser to one of the console's own routes (a script of our making only:
    the URL is built here from a random code and the page's own path)."""
    st.html(
        f"<script>window.location.replace({json.dumps(url)});</script>",
        unsafe_allow_javascript=True,
    )


def sign_in_form(app, tr) -> None:  # type: ignore[no-untyped-def]
    """Render the sign-in form; on success start a session, hand it to the browser's
    cookie and rerun signed in."""
    ended = st.session_state.pop(_ENDED, None)
    if ended in _ENDED_MESSAGES:
        st.info(tr(_ENDED_MESSAGES[ended]))
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
    started = sessions.start(app, who.login, client, _user_agent())
    st.session_state[_TOKEN] = started.token
    if not served():
        st.rerun()
    # The browser fetches its cookie and comes back to this page signed in.
    st.caption(tr("session.signing_in"))
    _go(f"{SESSION_PATH}?code={quote(started.handoff)}&next={quote(_here())}")


def _client() -> str:
    """Where this browser connects from (the sign-in throttle counts per client)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context (scripts)
        ip = None
    return ip if isinstance(ip, str) and ip else "local"  # not served over HTTP: one client


def sign_out(app: App) -> bool:
    """End this session in the core (the cookie's too). True: the browser is on its way to
    drop the cookie (the caller stops the page); False: rerun to show the sign-in form."""
    for token in {st.session_state.pop(_TOKEN, None), _cookie_token()}:
        sessions.end(app, token)
    if served() and _cookie_token():
        _go(f"{SIGNOUT_PATH}?next=/")
        return True
    return False


def password_form(app: App, user: ConsoleUser, tr, lang: str) -> None:  # type: ignore[no-untyped-def]
    """ "Change password" (page "My password"): every other session of the user ends, this
    one stays."""
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input(tr("session.password_current"), type="password", key="pw_current")
        new = st.text_input(tr("session.password_new"), type="password", key="pw_new")
        again = st.text_input(tr("session.password_repeat"), type="password", key="pw_again")
        submitted = st.form_submit_button(tr("session.password_submit"), type="primary")
    if not submitted:
        return
    if new != again:
        st.error(tr("session.password_mismatch"))
        return
    try:
        ended = change_password(app, user.login, current, new, keep_token=session_token())
    except HdeError as exc:
        st.error(exc.message(lang))
        return
    st.success(tr("session.password_done", count=ended))
