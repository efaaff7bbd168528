"""Console helpers shared by ``app.py`` and ``pages/``: the cached app and the language.

Pages stay thin: they call :mod:`hde_core.services` and render; they hold no rules.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from hde_core.bootstrap import App, bootstrap
from hde_core.i18n import LANGS, default_lang, t


@st.cache_resource(show_spinner=False)
def get_app() -> App:
    """One App (engine, secret box) per console process."""
    return bootstrap()


def current_lang() -> str:
    lang = st.session_state.get("lang") or default_lang()
    return lang if lang in LANGS else "ru"


def tr(key: str, **params: Any) -> str:
    return t(key, lang=current_lang(), **params)


def language_switch() -> None:
    options = list(LANGS)
    st.sidebar.selectbox(
        "Язык / Language",
        options,
        index=options.index(current_lang()),
        format_func=lambda code: {"ru": "Русский", "en": "English"}[code],
        key="lang",
    )


def page_header(title_key: str) -> None:
    st.set_page_config(page_title="HDE Outreach", page_icon="✉️", layout="wide")
    language_switch()
    st.title(tr(title_key))
