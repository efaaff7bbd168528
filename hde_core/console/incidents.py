"""No traceback in the console (issue 16.4): an error nobody foresaw is shown as a short
message with an incident id, and the same id is written to the log with the traceback,
so that whoever reads the log finds what the user saw. ``page()`` installs it for every
page and ``app.py``."""

from __future__ import annotations

import logging
import uuid

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from hde_core.i18n import LANGS, default_lang, t

_LOG = logging.getLogger("hde_core.console")


def show_incident(exc: BaseException) -> str:
    """Log ``exc`` under a new incident id and tell the user in plain words; the id."""
    incident = uuid.uuid4().hex[:8]
    _LOG.error("console incident %s", incident, exc_info=exc)
    lang = st.session_state.get("lang") or default_lang()
    st.error(t("console.incident", lang=lang if lang in LANGS else "ru", id=incident))
    return incident


def _on_script_error(exc: Exception) -> bool:
    show_incident(exc)
    return True  # Streamlit shows no traceback of its own


def install_incident_handler() -> None:
    """Route this script run's uncaught errors to :func:`show_incident`."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        ctx.on_script_error = _on_script_error
