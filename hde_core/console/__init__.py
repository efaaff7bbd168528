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
from hde_core.console.auth import ConsoleUser, current_user, sign_in_form, sign_out
from hde_core.console.nav import existing_pages
from hde_core.domain.roles import Permission
from hde_core.i18n import LANGS, default_lang, t

__all__ = ["ConsoleUser", "current_lang", "formatter", "get_app", "page", "tr"]


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


def _language_switch() -> None:
    options = list(LANGS)
    st.sidebar.selectbox(
        "Язык / Language",
        options,
        index=options.index(current_lang()),
        format_func=lambda code: {"ru": "Русский", "en": "English"}[code],
        key="lang",
    )


def _sidebar(user: ConsoleUser) -> None:
    for item in existing_pages():
        if user.can(item.permission):
            st.sidebar.page_link(item.path, label=tr(item.label_key), icon=item.icon)
    st.sidebar.divider()
    st.sidebar.caption(tr("auth.signed_in_as", name=user.name, role=tr(f"role.{user.role.value}")))
    if st.sidebar.button(tr("auth.sign_out"), key="sign_out"):
        sign_out()
        st.rerun()


def page(title_key: str, permission: Permission = Permission.VIEW) -> ConsoleUser:
    """Page preamble: config, language, sign-in, role gate, menu, title. Stops the script
    (showing why) when nobody is signed in or the role may not open this page."""
    st.set_page_config(page_title="HDE Outreach", page_icon="✉️", layout="wide")
    _language_switch()
    app = get_app()
    user = current_user(app)
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
