"""Console helpers shared by ``app.py`` and ``pages/``: the cached app, the language,
sign-in and the role gate, the sidebar menu.

Pages stay thin: they call :mod:`hde_core.services` and render; they hold no rules.
Every page starts with ``user = page("title.key", Permission.X)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from hde_core.bootstrap import App, bootstrap
from hde_core.console.auth import (
    ConsoleUser,
    current_user,
    sign_in_form,
    sign_out,
)
from hde_core.console.incidents import install_incident_handler
from hde_core.console.nav import existing_pages
from hde_core.domain.roles import Permission
from hde_core.i18n import LANGS, default_lang, set_face_probe, t
from hde_core.services.preferences import preferred_lang, set_preferred_lang

__all__ = ["ConsoleUser", "current_lang", "formatter", "get_app", "page", "tr"]


def _console_face() -> str | None:
    """ "console" inside a script run of the console (pages, callbacks), else None."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return "console" if get_script_run_ctx(suppress_warning=True) is not None else None


set_face_probe(_console_face)


@st.cache_resource(show_spinner=False)
def get_app() -> App:
    """One App (engine, secret box) per console process."""
    return bootstrap()


def current_lang() -> str:
    lang = st.session_state.get("lang") or default_lang()
    return lang if lang in LANGS else "ru"


def tr(key: str, **params: Any) -> str:
    return t(key, lang=current_lang(), **params)


def formatter(prefix: str) -> Callable[[str], str]:
    """A ``format_func`` for choice widgets, bound to the current language now (Streamlit may
    call it later, outside the script run, where the session's language is not known)."""
    lang = current_lang()
    return lambda value: t(f"{prefix}.{value}", lang=lang)


def _restore_lang(app: App, login: str) -> None:
    """Once per sign-in, take the language the user picked last time (kept in the core)."""
    if st.session_state.get("lang_restored_for") == login:
        return
    st.session_state["lang_restored_for"] = login
    stored = preferred_lang(app, login)
    if stored:
        st.session_state["lang"] = stored


def _lang_picked(app: App, login: str | None) -> None:
    lang = st.session_state.get("lang_select")
    if lang in LANGS:
        st.session_state["lang"] = lang
        if login:
            set_preferred_lang(app, login, lang)


def _language_switch(app: App, user: ConsoleUser | None) -> None:
    """The language picker. Its choice lives in ``st.session_state["lang"]`` (not the
    widget's own key, which Streamlit forgets when another page is opened) and, once
    signed in, in the core for the user (issue 16.7)."""
    options = list(LANGS)
    st.sidebar.selectbox(
        "Язык / Language",
        options,
        index=options.index(current_lang()),
        format_func=lambda code: {"ru": "Русский", "en": "English"}[code],
        key="lang_select",
        on_change=_lang_picked,
        args=(app, user.login if user else None),
    )


def _sidebar(user: ConsoleUser) -> None:
    for item in existing_pages():
        if user.can(item.permission):
            st.sidebar.page_link(item.path, label=tr(item.label_key), icon=item.icon)
    st.sidebar.divider()
    st.sidebar.caption(tr("auth.signed_in_as", name=user.name, role=tr(f"role.{user.role.value}")))
    if st.sidebar.button(tr("auth.sign_out"), key="sign_out"):
        st.session_state.pop("lang_restored_for", None)
        if sign_out(get_app()):
            st.stop()
        st.rerun()


def page(title_key: str, permission: Permission = Permission.VIEW) -> ConsoleUser:
    """Page preamble: config, language, sign-in, role gate, menu, title. Stops the script
    (showing why) when nobody is signed in or the role may not open this page."""
    st.set_page_config(page_title="HDE Outreach", page_icon="✉️", layout="wide")
    install_incident_handler()
    app = get_app()
    user = current_user(app)
    if user is not None:
        _restore_lang(app, user.login)
    _language_switch(app, user)
    if user is None:
        st.title("HDE Outreach")
        sign_in_form(app, tr)
        st.stop()
    assert user is not None
    _sidebar(user)
    st.title(tr(title_key))
    if not user.can(permission):
        st.error(tr("auth.forbidden"))
        st.stop()
    return user
