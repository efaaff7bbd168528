"""Form submissions that happen once: a form's idempotency key lives in the session with
the form's widgets, so a double click, a rerun or a retry sends the same key and the core
(a unique column) returns what the first submission made. A fresh form gets a fresh key."""

from __future__ import annotations

import uuid

import streamlit as st


def submission_key(prefix: str) -> str:
    """The key of the form whose widgets are keyed ``{prefix}_…`` (issued on first use)."""
    name = f"{prefix}_submission_key"
    if not st.session_state.get(name):
        st.session_state[name] = uuid.uuid4().hex
    return str(st.session_state[name])


def reset_form(prefix: str) -> None:
    """Start a new form: forget its widgets' values, its result and its key (an
    ``on_click`` callback, so that the widgets may still be reset in this run)."""
    for name in [k for k in st.session_state if str(k).startswith(f"{prefix}_")]:
        del st.session_state[name]
